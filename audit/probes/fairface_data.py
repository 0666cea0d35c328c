"""Loader of FairFace label files in the public format (``fairface_label_{train,val}.csv``).

Header ``file,age,gender,race,service_test``; ``file`` is relative to the image root (``val/1.jpg``).
Every value must be one of the schema's spellings: an unknown string is an error naming the file,
the column, the value and its first row. ``service_test`` is kept as a boolean column and filters
only when asked. Images are read later (``audit.probes.image_features``), where a missing or
corrupt image is skipped and counted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from audit.probes.schema import ATTRIBUTES, FAIRFACE_SCHEMA, CategorySchema

FAIRFACE_COLUMNS = ("file", "age", "gender", "race", "service_test")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


@dataclass(frozen=True)
class FairFaceSplit:
    """One FairFace label file: image root, the file's path, split name and the label table."""

    root: Path
    labels_path: Path
    split: str
    table: pd.DataFrame  # columns: file, age, gender, race, service_test (bool)
    schema: CategorySchema

    def __len__(self) -> int:
        return len(self.table)

    def image_paths(self) -> list[Path]:
        """Absolute image paths, in table order."""
        return [self.root / f for f in self.table["file"]]


def split_name(labels_path: Path) -> str:
    """'train' or 'val' from a file named fairface_label_<split>.csv, else the file's stem."""
    stem = Path(labels_path).stem
    prefix = "fairface_label_"
    return stem[len(prefix):] if stem.startswith(prefix) else stem


def _parse_service_test(column: pd.Series, path: Path) -> pd.Series:
    """The service_test column as booleans (True/False, 1/0, yes/no)."""
    text = column.astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise ValueError(f"{path}: column 'service_test' has value {column.iloc[row]!r} at data row {row + 1}; "
                         "expected True or False")
    return text.isin(_TRUE)


def _check_values(table: pd.DataFrame, schema: CategorySchema, path: Path) -> None:
    """Every attribute value is one of the schema's spellings."""
    for name in ATTRIBUTES:
        allowed = set(schema.attribute(name).values)
        unknown = ~table[name].isin(allowed)
        if unknown.any():
            row = int(unknown.to_numpy().nonzero()[0][0])
            values = sorted(set(table.loc[unknown, name]))
            raise ValueError(
                f"{path}: column '{name}' has unknown value {table[name].iloc[row]!r} at data row {row + 1} "
                f"({int(unknown.sum())} rows, values {values[:5]}); expected one of {list(schema.attribute(name).values)}")


def load_fairface(root: Path, labels_path: Path, schema: CategorySchema = FAIRFACE_SCHEMA,
                  service_test_only: bool = False) -> FairFaceSplit:
    """Read a FairFace label CSV (files relative to `root`) and validate its columns and values."""
    root, labels_path = Path(root), Path(labels_path)
    if not labels_path.is_file():
        raise FileNotFoundError(f"FairFace label file not found: {labels_path}")
    if not root.is_dir():
        raise FileNotFoundError(f"FairFace image root not found: {root}")
    table = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
    missing = [c for c in FAIRFACE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{labels_path}: missing column(s) {missing}; expected header {','.join(FAIRFACE_COLUMNS)}, "
                         f"found {','.join(map(str, table.columns))}")
    if table.empty:
        raise ValueError(f"{labels_path}: no rows")
    table = table[list(FAIRFACE_COLUMNS)].copy()
    for name in ("file", *ATTRIBUTES):
        table[name] = table[name].str.strip()
    empty = table["file"] == ""
    if empty.any():
        raise ValueError(f"{labels_path}: column 'file' is empty at data row {int(empty.to_numpy().nonzero()[0][0]) + 1}")
    duplicated = table["file"].duplicated()
    if duplicated.any():
        raise ValueError(f"{labels_path}: column 'file' repeats {table['file'][duplicated].iloc[0]!r}")
    _check_values(table, schema, labels_path)
    table["service_test"] = _parse_service_test(table["service_test"], labels_path)
    if service_test_only:
        table = table[table["service_test"]].reset_index(drop=True)
        if table.empty:
            raise ValueError(f"{labels_path}: no rows with service_test True")
    return FairFaceSplit(root=root, labels_path=labels_path, split=split_name(labels_path), table=table, schema=schema)
