"""Embed the images of a FairFace-format split once, keeping the labels of the images that could be read."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from audit.probes.fairface_data import FairFaceSplit
from audit.probes.image_features import ImageFeatures, encode_image_files
from audit.probes.provenance import data_file_entry

MAX_LISTED_SKIPS = 20


@dataclass(frozen=True)
class SplitFeatures:
    """A split, the features of its readable images and the label rows of those images."""

    split: FairFaceSplit
    features: ImageFeatures
    table: pd.DataFrame

    def data_entry(self) -> dict:
        """provenance.json 'data' entry: root, label file hash, split, counts and skipped images."""
        return {"root": str(self.split.root), "labels": data_file_entry(self.split.labels_path),
                "split": self.split.split, "schema": self.split.schema.name, "rows": len(self.split),
                "images_used": len(self.table), "skipped": len(self.features.skipped),
                "skipped_examples": [{"path": p, "reason": r} for p, r in self.features.skipped[:MAX_LISTED_SKIPS]]}

    def warnings(self) -> list[str]:
        """A warning when images were skipped."""
        skipped = len(self.features.skipped)
        if not skipped:
            return []
        return [f"{self.split.labels_path}: {skipped} of {len(self.split)} images skipped (missing or unreadable), "
                f"first {self.features.skipped[0][0]} ({self.features.skipped[0][1]})"]


def encode_split(model, split: FairFaceSplit, batch_size: int = 64, progress: bool = True,
                 cache_dir: str | None = None, model_key: str | None = None) -> SplitFeatures:
    """Embed every readable image of the split (unreadable ones are skipped and counted; optional cache)."""
    features = encode_image_files(model, split.image_paths(), batch_size, desc=f"{split.split} images",
                                  progress=progress, cache_dir=cache_dir, model_key=model_key)
    table = split.table.iloc[features.kept].reset_index(drop=True)
    return SplitFeatures(split=split, features=features, table=table)
