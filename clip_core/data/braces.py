"""Brace patterns for shard lists, as WebDataset and img2dataset users write them.

Public API
----------
- ``has_pattern(text) -> bool``: whether ``text`` holds a brace group or a glob wildcard.
- ``expand_braces(pattern) -> list[str]``: expand ``{00000..00099}`` numeric ranges (zero padding
  kept, the width is that of the longer bound when either bound has a leading zero) and
  ``{a,b,c}`` alternatives; several groups multiply out, left to right. Nested braces are an error.
- ``expand_shard_pattern(pattern) -> list[Path]``: brace-expand, then glob any ``*``/``?``/``[``
  parts; every brace-expanded file must exist (FileNotFoundError names the first missing one).
"""
from __future__ import annotations

import glob
import re
from pathlib import Path

_GROUP = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")


def has_pattern(text: str) -> bool:
    """Whether ``text`` contains a brace group or a glob wildcard."""
    return bool(_GROUP.search(text)) or any(ch in text for ch in "*?[")


def _expand_group(body: str, pattern: str) -> list[str]:
    """Expand the inside of one brace group."""
    m = _RANGE.match(body)
    if m:
        lo_s, hi_s = m.group(1), m.group(2)
        lo, hi = int(lo_s), int(hi_s)
        padded = (len(lo_s) > 1 and lo_s.startswith("0")) or (len(hi_s) > 1 and hi_s.startswith("0"))
        width = max(len(lo_s), len(hi_s)) if padded else 0
        step = 1 if hi >= lo else -1
        return [str(v).zfill(width) for v in range(lo, hi + step, step)]
    if "," in body:
        return body.split(",")
    raise ValueError(f"brace group {{{body}}} in {pattern!r} is neither a range a..b nor a list a,b")


def expand_braces(pattern: str) -> list[str]:
    """Expand every brace group of ``pattern`` into the list of concrete strings."""
    if pattern.count("{") != pattern.count("}"):
        raise ValueError(f"unbalanced braces in pattern {pattern!r}")
    m = _GROUP.search(pattern)
    if m is None:
        if "{" in pattern:
            raise ValueError(f"nested braces are not supported in pattern {pattern!r}")
        return [pattern]
    head, tail = pattern[: m.start()], pattern[m.end() :]
    out: list[str] = []
    for choice in _expand_group(m.group(1), pattern):
        out.extend(expand_braces(head + choice + tail))
    return out


def expand_shard_pattern(pattern: str) -> list[Path]:
    """Concrete, existing files named by a brace and/or glob pattern, in pattern order."""
    paths: list[Path] = []
    for item in expand_braces(pattern):
        if any(ch in item for ch in "*?["):
            matches = sorted(glob.glob(item))
            paths.extend(Path(p) for p in matches)
        else:
            p = Path(item)
            if not p.exists():
                raise FileNotFoundError(f"shard {p} named by pattern {pattern!r} does not exist")
            paths.append(p)
    if not paths:
        raise FileNotFoundError(f"no files match pattern {pattern!r}")
    return paths
