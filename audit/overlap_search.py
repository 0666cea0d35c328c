"""Search one streamed pre-training shard against the (small) evaluation side.

The evaluation descriptors are held in memory; each pre-training shard streams through and yields
two small tables (../shared/spec/scale.md):

- ``neighbours``: for every evaluation example, its top-k pre-training matches within this shard
  (dataset, eval_id, pretraining_id, similarity);
- ``matches``: for every pre-training example and every evaluation set, its best evaluation match
  (pretraining_id, dataset, eval_id, similarity).

Exact search ("flat") computes the inner products as a blocked matrix product, so each streamed
image costs 2·d·N_eval multiply-adds and both tables come from the same product. The "ivf" option
uses a faiss IVF index per evaluation set (for millions of evaluation images); its neighbours are
the evaluation examples found from the pre-training side, so they are approximate.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch

NEIGHBOUR_COLUMNS = ["dataset", "eval_id", "pretraining_id", "similarity"]
MATCH_COLUMNS = ["pretraining_id", "dataset", "eval_id", "similarity"]


@dataclass(frozen=True)
class SearchConfig:
    """How the evaluation side is indexed and how many neighbours are kept per example."""

    top_k: int = 5
    index: Literal["flat", "ivf"] = "flat"
    ivf_lists: int = 0  # 0: about 4·sqrt(N) lists per evaluation set
    ivf_probe: int = 16
    block_elements: int = 1 << 25  # largest similarity block held at once (N_eval x block columns)

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        if self.index not in ("flat", "ivf"):
            raise ValueError(f"index must be 'flat' or 'ivf', got {self.index!r}")


@dataclass(frozen=True)
class EvalSet:
    """One evaluation set's ids and L2-normalised descriptors."""

    name: str
    ids: list[str]
    descriptors: np.ndarray

    def __post_init__(self) -> None:
        if len(self.ids) == 0:
            raise ValueError(f"evaluation set '{self.name}' is empty")
        if self.descriptors.ndim != 2 or len(self.ids) != self.descriptors.shape[0]:
            raise ValueError(
                f"evaluation set '{self.name}': {len(self.ids)} ids but descriptors of shape {self.descriptors.shape}"
            )


class EvalIndex:
    """The evaluation sets, indexed for streaming pre-training shards through them."""

    def __init__(self, sets: list[EvalSet], config: SearchConfig) -> None:
        if not sets:
            raise ValueError("at least one evaluation set is needed")
        dims = {s.descriptors.shape[1] for s in sets}
        if len(dims) != 1:
            raise ValueError(f"evaluation sets disagree on descriptor dimension: {sorted(dims)}")
        self.sets, self.config, self.dim = sets, config, dims.pop()
        self._matrix = torch.from_numpy(np.ascontiguousarray(np.concatenate([s.descriptors for s in sets]), dtype=np.float32))
        self._offsets = np.cumsum([0] + [len(s.ids) for s in sets])
        self._ids = np.array([i for s in sets for i in s.ids], dtype=object)
        self._names = np.repeat(np.array([s.name for s in sets], dtype=object), [len(s.ids) for s in sets])
        self._ivf = [self._build_ivf(s) for s in sets] if config.index == "ivf" else []

    def __getstate__(self) -> dict:
        """Picklable state (for an engine's workers): faiss indexes as their serialized bytes."""
        import faiss

        state = dict(self.__dict__)
        state["_ivf"] = [faiss.serialize_index(index) for index in self._ivf]
        return state

    def __setstate__(self, state: dict) -> None:
        """Rebuild from `__getstate__`: the same faiss indexes, probe count included."""
        import faiss

        serialized = state.pop("_ivf")
        self.__dict__.update(state)
        self._ivf = [faiss.deserialize_index(data) for data in serialized]
        for index in self._ivf:
            index.nprobe = min(self.config.ivf_probe, index.nlist)

    def _build_ivf(self, eval_set: EvalSet):  # noqa: ANN202 - faiss index
        """A faiss IVF inner-product index over one evaluation set."""
        import faiss

        n = len(eval_set.ids)
        lists = self.config.ivf_lists or max(1, min(n // 39, int(4 * np.sqrt(n))))
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, lists, faiss.METRIC_INNER_PRODUCT)
        vectors = np.ascontiguousarray(eval_set.descriptors, dtype=np.float32)
        index.train(vectors)
        index.add(vectors)
        index.nprobe = min(self.config.ivf_probe, lists)
        return index

    def search(self, pretraining_ids: list[str], descriptors: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return (neighbours, matches) tables for one pre-training shard."""
        if descriptors.ndim != 2 or descriptors.shape[1] != self.dim:
            raise ValueError(
                f"pre-training descriptors have dimension {descriptors.shape[-1]}, "
                f"but the evaluation descriptors have {self.dim}"
            )
        if len(pretraining_ids) != len(descriptors):
            raise ValueError(f"{len(pretraining_ids)} pre-training ids for {len(descriptors)} descriptors")
        if len(pretraining_ids) == 0:
            return pd.DataFrame(columns=NEIGHBOUR_COLUMNS), pd.DataFrame(columns=MATCH_COLUMNS)
        queries = np.ascontiguousarray(descriptors, dtype=np.float32)
        if self.config.index == "ivf":
            return self._search_ivf(np.asarray(pretraining_ids, dtype=object), queries)
        return self._search_flat(np.asarray(pretraining_ids, dtype=object), queries)

    def candidates(self, pretraining_ids: list[str], descriptors: np.ndarray, per_set: int, floor: float) -> pd.DataFrame:
        """Each pre-training item's `per_set` most similar examples of every set, kept at or above `floor`.

        Exact (one small matrix product): meant for the few items whose best similarity reaches the
        candidate floor. Columns: MATCH_COLUMNS.
        """
        if len(pretraining_ids) == 0:
            return pd.DataFrame(columns=MATCH_COLUMNS)
        queries = torch.from_numpy(np.ascontiguousarray(descriptors, dtype=np.float32))
        similarity = queries @ self._matrix.T  # (items, n_eval)
        ids = np.asarray(pretraining_ids, dtype=object)
        parts = []
        for a, b in zip(self._offsets[:-1], self._offsets[1:]):
            k = min(per_set, int(b - a))
            values, indices = similarity[:, a:b].topk(k, dim=1)
            values, indices = values.numpy().reshape(-1), indices.numpy().reshape(-1) + int(a)
            keep = values >= floor
            parts.append(pd.DataFrame({
                "pretraining_id": np.repeat(ids, k)[keep], "dataset": self._names[indices[keep]],
                "eval_id": self._ids[indices[keep]], "similarity": values[keep].astype(np.float32),
            }))
        return pd.concat(parts, ignore_index=True)[MATCH_COLUMNS]

    def _search_flat(self, pretraining_ids: np.ndarray, queries: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Exact search through blocked inner products."""
        n_eval, n_query = self._matrix.shape[0], queries.shape[0]
        k = min(self.config.top_k, n_query)
        block = max(1, self.config.block_elements // n_eval)
        top_values = torch.full((n_eval, k), -torch.inf)
        top_indices = torch.zeros((n_eval, k), dtype=torch.long)
        best_values = torch.empty((len(self.sets), n_query))
        best_indices = torch.empty((len(self.sets), n_query), dtype=torch.long)
        all_queries = torch.from_numpy(queries)
        for start in range(0, n_query, block):
            chunk = all_queries[start:start + block]
            similarity = self._matrix @ chunk.T  # (n_eval, chunk)
            values, indices = similarity.topk(min(k, chunk.shape[0]), dim=1)
            merged_values = torch.cat([top_values, values], dim=1)
            merged_indices = torch.cat([top_indices, indices + start], dim=1)
            top_values, order = merged_values.topk(k, dim=1)
            top_indices = merged_indices.gather(1, order)
            for s, (a, b) in enumerate(zip(self._offsets[:-1], self._offsets[1:])):
                value, index = similarity[a:b].max(dim=0)
                best_values[s, start:start + chunk.shape[0]] = value
                best_indices[s, start:start + chunk.shape[0]] = index + int(a)
        neighbours = pd.DataFrame({
            "dataset": np.repeat(self._names, k),
            "eval_id": np.repeat(self._ids, k),
            "pretraining_id": pretraining_ids[top_indices.reshape(-1).numpy()],
            "similarity": top_values.reshape(-1).numpy().astype(np.float32),
        })
        flat_best = best_indices.reshape(-1).numpy()
        matches = pd.DataFrame({
            "pretraining_id": np.tile(pretraining_ids, len(self.sets)),
            "dataset": self._names[flat_best],
            "eval_id": self._ids[flat_best],
            "similarity": best_values.reshape(-1).numpy().astype(np.float32),
        })
        return neighbours, matches

    def _search_ivf(self, pretraining_ids: np.ndarray, queries: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Approximate search with one faiss IVF index per evaluation set."""
        neighbour_parts, match_parts = [], []
        k = self.config.top_k
        for eval_set, index in zip(self.sets, self._ivf):
            values, indices = index.search(queries, min(k, len(eval_set.ids)))
            found = indices >= 0
            rows = np.nonzero(found)
            candidates = pd.DataFrame({
                "dataset": eval_set.name,
                "eval_id": np.asarray(eval_set.ids, dtype=object)[indices[rows]],
                "pretraining_id": pretraining_ids[rows[0]],
                "similarity": values[rows].astype(np.float32),
            })
            neighbour_parts.append(top_k_per_eval(candidates, k))
            has_match = found[:, 0]
            match_parts.append(pd.DataFrame({
                "pretraining_id": pretraining_ids[has_match],
                "dataset": eval_set.name,
                "eval_id": np.asarray(eval_set.ids, dtype=object)[indices[has_match, 0]],
                "similarity": values[has_match, 0].astype(np.float32),
            }))
        return (
            pd.concat(neighbour_parts, ignore_index=True)[NEIGHBOUR_COLUMNS],
            pd.concat(match_parts, ignore_index=True)[MATCH_COLUMNS],
        )


def top_k_per_eval(neighbours: pd.DataFrame, k: int) -> pd.DataFrame:
    """Keep each evaluation example's k best pre-training items: by score when scored, else by similarity.

    Ties go to the higher similarity, then the smaller pre-training id.
    """
    keys = ["score", "similarity"] if "score" in neighbours.columns else ["similarity"]
    ordered = neighbours.sort_values(
        ["dataset", "eval_id", *keys, "pretraining_id"], ascending=[True, True, *[False] * len(keys), True], kind="mergesort"
    )
    return ordered.groupby(["dataset", "eval_id"], sort=False).head(k).reset_index(drop=True)
