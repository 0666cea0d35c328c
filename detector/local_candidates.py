"""A second source of candidates: references that share many local descriptors with the query.

The global descriptor's top-k misses copies whose global look the transforms changed most (three
transforms in sequence, heavy text overlays, strong rotations): on the copy benchmark 27 of 756
copies are not among a query's top 20, which caps any second stage's µAP at 0.964
(docs/benchmarks.md). Their local features often still match. This module indexes every reference's
stored RootSIFT descriptors in one faiss index and lets each query descriptor (of the query and of
its mirror image) vote for the reference its nearest neighbour belongs to, when that neighbour
passes Lowe's ratio test against the nearest descriptor of any *other* reference (the voting stage
of bag-of-local-features retrieval; Lowe 2004, Jégou et al. 2010). The references with the most
votes, beyond the global top-k, become extra candidates and are verified like the others.

It needs the query's local features before the candidates are known, so it serves
`clip-audit detector match` and `detector eval`, where both sides are finite image sets; `overlap`
streams pre-training images and extracts local features only for global candidates (its cost goal),
so it does not use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from detector.verify import DESCRIPTOR_SCALE, LocalFeatures

if TYPE_CHECKING:
    from detector.feature_store import FeatureStore


@dataclass(frozen=True)
class LocalCandidateConfig:
    """How many extra candidates local-descriptor votes add per query, and what a vote is."""

    per_query: int = 5  # extra candidates per query (0: off)
    min_votes: int = 10  # a reference needs this many votes to become a candidate (chosen on the calibration set)
    ratio: float = 0.85  # nearest descriptor vs nearest of another reference (Lowe's ratio test)
    neighbours: int = 8  # descriptors searched per query descriptor to find another reference's nearest
    exact_below: int = 20_000  # exact search up to this many reference descriptors, an IVF index above
    probes: int = 32  # IVF cells searched per descriptor (votes agree with exact search; docs/verification.md)

    def __post_init__(self) -> None:
        if self.per_query < 0 or self.min_votes < 1:
            raise ValueError(f"LocalCandidateConfig needs per_query >= 0 and min_votes >= 1, got {self.per_query}, {self.min_votes}")
        if not 0.0 < self.ratio <= 1.0:
            raise ValueError(f"LocalCandidateConfig.ratio must be in (0, 1], got {self.ratio}")
        if self.probes < 1:
            raise ValueError(f"LocalCandidateConfig.probes must be >= 1, got {self.probes}")
        if self.neighbours < 2:
            raise ValueError(f"LocalCandidateConfig.neighbours must be >= 2, got {self.neighbours}")


def _unit(descriptors: np.ndarray) -> np.ndarray:
    """Stored (quantised) RootSIFT descriptors as float32 vectors of unit length."""
    d = np.asarray(descriptors, dtype=np.float32) / DESCRIPTOR_SCALE
    return np.ascontiguousarray(d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12))


class LocalVoteIndex:
    """Every reference's local descriptors in one faiss index, labelled by reference."""

    def __init__(self, references: Sequence[tuple[str, LocalFeatures | None]],
                 config: LocalCandidateConfig = LocalCandidateConfig()) -> None:
        import faiss

        self.config = config
        self.ids: list[str] = []
        owners, blocks = [], []
        for reference_id, features in references:
            if features is None or len(features) == 0:
                continue
            owners.append(np.full(len(features), len(self.ids), dtype=np.int64))
            blocks.append(_unit(features.descriptors))
            self.ids.append(reference_id)
        self.owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.int64)
        vectors = np.concatenate(blocks) if blocks else np.zeros((0, 128), dtype=np.float32)
        if len(vectors) <= config.exact_below:
            self.index = faiss.IndexFlatL2(128)
        else:  # many descriptors: an inverted file over k-means cells, 8-bit components (faiss's fixed seed: deterministic)
            cells = int(min(4 * np.sqrt(len(vectors)), 65536))
            self.index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatL2(128), 128, cells, faiss.ScalarQuantizer.QT_8bit)
            self.index.train(vectors[np.linspace(0, len(vectors) - 1, min(len(vectors), 64 * cells)).astype(np.int64)])
            self.index.nprobe = config.probes
        self.index.add(vectors)

    def __len__(self) -> int:
        return len(self.ids)

    def votes(self, features: Sequence[LocalFeatures | None]) -> dict[str, int]:
        """Votes per reference: the most any one of `features` (the query, its mirror) gives it."""
        best: dict[int, int] = {}
        for side in features:
            if side is None or len(side) == 0 or len(self.ids) == 0:
                continue
            for owner, count in zip(*np.unique(self._voters(_unit(side.descriptors)), return_counts=True)):
                best[int(owner)] = max(best.get(int(owner), 0), int(count))
        return {self.ids[o]: n for o, n in best.items()}

    def _voters(self, queries: np.ndarray) -> np.ndarray:
        """The reference each query descriptor votes for (ratio test against another reference's nearest)."""
        k = min(self.config.neighbours, len(self.owner))
        distances, rows = self.index.search(queries, k)
        valid = rows >= 0
        owners = np.where(valid, self.owner[np.maximum(rows, 0)], -1)
        first = owners[:, 0]
        other = valid & (owners != first[:, None])
        has_other = other.any(axis=1)
        # squared L2 from faiss: the ratio test on distances compares ratio² on squared distances
        other_d = np.where(other, distances, np.inf).min(axis=1)
        passes = (first >= 0) & (~has_other | (distances[:, 0] < self.config.ratio ** 2 * other_d))
        return first[passes]


class LocalCandidateSource:
    """Extra candidates for named queries: the vote index plus both sides' global descriptors (for g)."""

    def __init__(self, index: LocalVoteIndex, query_ids: Sequence[str], queries: np.ndarray,
                 reference_ids: Sequence[str], references: np.ndarray) -> None:
        self.index, self.queries, self.references = index, queries, references
        self.query_row = {q: i for i, q in enumerate(query_ids)}
        self.reference_row = {r: i for i, r in enumerate(reference_ids)}
        self.added = 0

    def expand(self, query_id: str, features: Sequence[LocalFeatures | None],
               listed: Sequence[tuple[str, float]]) -> tuple[list[tuple[str, float]], dict[str, int]]:
        """(extra candidates as (reference id, global similarity), votes of every voted reference) for one query."""
        votes = self.index.votes(features)
        row = self.query_row.get(query_id)
        if row is None:
            return [], votes
        exclude = {r for r, _ in listed}
        ranked = sorted(((r, n) for r, n in votes.items()
                         if r not in exclude and r in self.reference_row and n >= self.index.config.min_votes),
                        key=lambda item: (-item[1], item[0]))[:self.index.config.per_query]
        extra = [(r, float(self.queries[row] @ self.references[self.reference_row[r]])) for r, _ in ranked]
        self.added += len(extra)
        return extra, votes


def local_source(store: "FeatureStore | None", config: LocalCandidateConfig | None, query_ids: Sequence[str],
                 queries: np.ndarray, reference_ids: Sequence[str], references: np.ndarray) -> LocalCandidateSource | None:
    """The local-vote candidate source over a reference feature store (None when off or without features)."""
    if store is None or config is None or config.per_query == 0:
        return None
    index = LocalVoteIndex([(r, store.get(r)) for r in reference_ids], config)
    return LocalCandidateSource(index, query_ids, queries, reference_ids, references)


__all__ = ["LocalCandidateConfig", "LocalVoteIndex", "LocalCandidateSource", "local_source"]
