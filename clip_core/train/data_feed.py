"""Deterministic example feed for training: example k of the run is always the same (cycling by epoch)."""
from __future__ import annotations

import itertools
from typing import Iterator, List, Optional, Tuple

from clip_core.data import Example, SyntheticCaptionStream, open_captions


class ExampleFeed:
    """Yields (image, caption) examples by global position; indexable sources seek, others re-iterate."""

    def __init__(self, source: "str | SyntheticCaptionStream") -> None:
        if isinstance(source, SyntheticCaptionStream):
            self.pairs, self.indexable = None, source
        else:
            self.pairs = open_captions(source)
            inner = self.pairs.source
            self.indexable = inner if isinstance(inner, SyntheticCaptionStream) else None
        self.length: Optional[int] = self._length()
        self._iter: Optional[Iterator[Example]] = None
        self._pos = 0

    def _length(self) -> Optional[int]:
        if self.indexable is not None:
            return self.indexable.length
        try:
            n = len(self.pairs)
        except TypeError:
            return None
        if n == 0:
            raise ValueError(f"{self.pairs.source.location}: no captioned examples to train on")
        return n

    def epoch_of(self, position: int) -> int:
        """Epoch (full passes over the data) that global position `position` falls in."""
        return position // self.length if self.length else 0

    def take(self, start: int, count: int) -> List[Example]:
        """Examples at global positions start .. start+count-1."""
        if self.indexable is not None:
            n = self.length
            return [self.indexable[(start + i) % n if n else start + i] for i in range(count)]
        if self._iter is None or self._pos != start:
            self._iter = self._cycle()
            self._pos = 0
            for _ in itertools.islice(self._iter, start):  # fast-forward on resume
                self._pos += 1
        out = list(itertools.islice(self._iter, count))
        self._pos += len(out)
        return out

    def _cycle(self) -> Iterator[Example]:
        while True:
            seen = False
            for ex in self.pairs:
                seen = True
                yield ex
            if not seen:
                raise ValueError(f"{self.pairs.source.location}: no captioned examples to train on")


def split_micro(n: int, accum: int) -> List[Tuple[int, int]]:
    """(start, stop) slices of a batch of n split into `accum` equal micro-batches."""
    if accum < 1 or n % accum:
        raise ValueError(f"batch size {n} must be divisible by accum_steps {accum}")
    m = n // accum
    return [(i * m, (i + 1) * m) for i in range(accum)]
