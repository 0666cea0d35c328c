"""Loader of the surveillance caption file (long format, one row per text).

Columns: ``frame`` (image path relative to the frame root), ``kind`` (``caption`` - exactly one
true caption per frame -, ``distractor``, ``near_miss`` or ``question``), ``text``, and for
questions ``answer`` (``yes``/``no``) and ``negative`` (the statement's negation, e.g.
``no person in the corner.``); optional ``sequence`` groups frames (one value per frame).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SURVEILLANCE_COLUMNS = ("frame", "kind", "text")
KINDS = ("caption", "distractor", "near_miss", "question")


@dataclass(frozen=True)
class SurveillanceSet:
    """Frames and their texts: the caption table and the frame order."""

    root: Path
    captions_path: Path
    table: pd.DataFrame  # frame, sequence, kind, text, answer, negative
    frames: tuple[str, ...]

    def sequence_of(self) -> dict[str, str]:
        """Frame -> sequence name."""
        return dict(zip(self.table["frame"], self.table["sequence"]))


def load_surveillance(root: Path, captions_path: Path) -> SurveillanceSet:
    """Read and validate a surveillance caption file (frames relative to root)."""
    root, captions_path = Path(root), Path(captions_path)
    if not captions_path.is_file():
        raise FileNotFoundError(f"surveillance caption file not found: {captions_path}")
    if not root.is_dir():
        raise FileNotFoundError(f"surveillance frame root not found: {root}")
    table = pd.read_csv(captions_path, dtype=str, keep_default_na=False)
    missing = [c for c in SURVEILLANCE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{captions_path}: missing column(s) {missing}; expected frame,kind,text[,answer,negative,sequence]")
    if table.empty:
        raise ValueError(f"{captions_path}: no rows")
    for column in ("sequence", "answer", "negative"):
        if column not in table.columns:
            table[column] = "all" if column == "sequence" else ""
    table = table.apply(lambda column: column.str.strip())
    bad = ~table["kind"].isin(KINDS)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise ValueError(f"{captions_path}: column 'kind' has unknown value {table['kind'].iloc[row]!r} at data row "
                         f"{row + 1}; expected one of {list(KINDS)}")
    if (table["text"] == "").any():
        raise ValueError(f"{captions_path}: column 'text' is empty at data row {int((table['text'] == '').to_numpy().nonzero()[0][0]) + 1}")
    questions = table["kind"] == "question"
    bad = questions & (~table["answer"].str.lower().isin(("yes", "no")) | (table["negative"] == ""))
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise ValueError(f"{captions_path}: question at data row {row + 1} needs answer yes/no and a 'negative' text")
    table["answer"] = table["answer"].str.lower()
    true_counts = table[table["kind"] == "caption"].groupby("frame").size()
    frames = tuple(dict.fromkeys(table["frame"]))
    wrong = [f for f in frames if true_counts.get(f, 0) != 1]
    if wrong:
        raise ValueError(f"{captions_path}: frame {wrong[0]!r} needs exactly one 'caption' row "
                         f"({len(wrong)} frames do not)")
    if (table.groupby("frame")["sequence"].nunique() > 1).any():
        raise ValueError(f"{captions_path}: a frame has rows in several sequences")
    distractors = table[table["kind"] == "distractor"].groupby("frame").size()
    lacking = [f for f in frames if distractors.get(f, 0) == 0]
    if lacking:
        raise ValueError(f"{captions_path}: frame {lacking[0]!r} has no distractor caption ({len(lacking)} frames)")
    return SurveillanceSet(root=root, captions_path=captions_path, table=table, frames=frames)
