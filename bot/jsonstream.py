"""Read a JSON list one element at a time, so a 100,000-post file never exists twice in memory as dicts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

_WS = " \t\n\r"


def iter_json_list(text: str) -> Iterator[object]:
    """Yield the elements of the JSON list in text; raises ValueError on anything else."""
    decoder = json.JSONDecoder()
    i = _skip(text, 0)
    if i >= len(text) or text[i] != "[":
        raise ValueError("expected a JSON list")
    i = _skip(text, i + 1)
    if i < len(text) and text[i] == "]":
        return
    while True:
        item, i = decoder.raw_decode(text, i)
        yield item
        i = _skip(text, i)
        if i < len(text) and text[i] == ",":
            i = _skip(text, i + 1)
            continue
        if i < len(text) and text[i] == "]":
            if _skip(text, i + 1) != len(text):
                raise ValueError("extra data after the JSON list")
            return
        raise ValueError(f"expected ',' or ']' at character {i}")


def read_json_list(path: str | Path) -> Iterator[object]:
    return iter_json_list(Path(path).read_text(encoding="utf-8"))


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i
