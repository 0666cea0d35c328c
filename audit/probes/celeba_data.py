"""Loader of CelebA identity files: ``identity_CelebA.txt`` and ``list_eval_partition.txt``.

Both are whitespace-separated without a header: ``image_id identity`` and ``image_id partition``
(0 train, 1 val, 2 test). CelebA names no one, so the identity probe needs ``names.csv``
(``identity,name``); without it every identity is called ``identity <number>``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

PARTITIONS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class CelebASplit:
    """Images of one partition with their identity and the name used in the prompt."""

    root: Path
    identity_path: Path
    partition_path: Path
    names_path: Path | None
    split: str
    table: pd.DataFrame  # image_id, identity, name


def _read_pairs(path: Path, value: str) -> pd.DataFrame:
    """A two-column whitespace-separated file with an integer second column."""
    if not path.is_file():
        raise FileNotFoundError(f"CelebA file not found: {path}")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise ValueError(f"{path}: line {number} is {line!r}; expected 'image_id {value}' (an integer)")
        rows.append((parts[0], int(parts[1])))
    if not rows:
        raise ValueError(f"{path}: no lines")
    table = pd.DataFrame(rows, columns=["image_id", value])
    if table["image_id"].duplicated().any():
        raise ValueError(f"{path}: image {table['image_id'][table['image_id'].duplicated()].iloc[0]!r} listed twice")
    return table


def load_celeba(root: Path, identity_path: Path, partition_path: Path, split: str = "test",
                names_path: Path | None = None) -> CelebASplit:
    """The images of one partition (train, val or test) with identities and names."""
    root = Path(root)
    if split not in PARTITIONS:
        raise ValueError(f"split must be one of {list(PARTITIONS)}, got {split!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"CelebA image folder not found: {root}")
    identities = _read_pairs(Path(identity_path), "identity")
    partitions = _read_pairs(Path(partition_path), "partition")
    bad = partitions[~partitions["partition"].isin(PARTITIONS.values())]
    if not bad.empty:
        raise ValueError(f"{partition_path}: partition {int(bad['partition'].iloc[0])} for {bad['image_id'].iloc[0]} "
                         "is not 0, 1 or 2")
    table = partitions[partitions["partition"] == PARTITIONS[split]].merge(identities, on="image_id", how="left")
    if table["identity"].isna().any():
        raise ValueError(f"{identity_path}: no identity for {table.loc[table['identity'].isna(), 'image_id'].iloc[0]}")
    if table.empty:
        raise ValueError(f"{partition_path}: no images in the {split} partition")
    table["identity"] = table["identity"].astype(int)
    if names_path is None:
        table["name"] = [f"identity {i}" for i in table["identity"]]
    else:
        names_path = Path(names_path)
        if not names_path.is_file():
            raise FileNotFoundError(f"names file not found: {names_path}")
        names = pd.read_csv(names_path, dtype={"identity": int, "name": str}, keep_default_na=False)
        if list(names.columns[:2]) != ["identity", "name"]:
            raise ValueError(f"{names_path}: expected columns identity,name, found {list(names.columns)}")
        if names["identity"].duplicated().any() or names["name"].duplicated().any():
            raise ValueError(f"{names_path}: identities and names must be unique")
        mapping = dict(zip(names["identity"], names["name"]))
        unnamed = sorted(set(table["identity"]) - set(mapping))
        if unnamed:
            raise ValueError(f"{names_path}: no name for identities {unnamed[:5]} ({len(unnamed)} in all)")
        table["name"] = table["identity"].map(mapping)
    return CelebASplit(root=root, identity_path=Path(identity_path), partition_path=Path(partition_path),
                       names_path=names_path, split=split, table=table[["image_id", "identity", "name"]].reset_index(drop=True))
