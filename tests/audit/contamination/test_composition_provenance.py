"""Class composition of Overlap against Clean, and the provenance helpers, on hand-checked inputs."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd
import pytest

from audit.composition import UNLABELLED, class_composition, class_mix_distance
from audit.contamination_figure import significance_class
from audit.contamination_images import decision_column
from audit.provenance import Provenance, detector_identity, sha256_path, write_provenance


def _examples() -> pd.DataFrame:
    rows = [("a", "cat", 1, 1), ("a", "cat", 1, 0), ("a", "dog", 0, 1), ("a", "dog", 0, 1), ("a", "cat", 0, 0),
            ("b", None, 0, 1), ("b", None, 0, 0)]
    return pd.DataFrame(rows, columns=["dataset", "label", "in_overlap", "correct"])


def test_composition_counts_shares_and_accuracies() -> None:
    table = class_composition(_examples()).set_index(["dataset", "label"])
    cat, dog = table.loc[("a", "cat")], table.loc[("a", "dog")]
    assert (cat.n_clean, cat.n_overlap, dog.n_clean, dog.n_overlap) == (1, 2, 2, 0)
    assert cat.share_overlap == 1.0 and cat.share_clean == pytest.approx(1 / 3) and dog.share_clean == pytest.approx(2 / 3)
    assert cat.acc_overlap == 0.5 and cat.acc_clean == 0.0 and math.isnan(dog.acc_overlap)
    unlabelled = table.loc[("b", UNLABELLED)]
    assert unlabelled.n_clean == 2 and math.isnan(unlabelled.share_overlap)


def test_class_mix_distance_is_total_variation() -> None:
    distance = class_mix_distance(class_composition(_examples()))
    assert distance["a"] == pytest.approx(0.5 * (abs(1 - 1 / 3) + abs(0 - 2 / 3)))
    assert math.isnan(distance["b"])  # no Overlap: nothing to compare


def test_decision_column_prefers_the_verified_score() -> None:
    assert decision_column(pd.DataFrame(columns=["similarity", "score"])) == "score"
    assert decision_column(pd.DataFrame(columns=["similarity"])) == "similarity"


@pytest.mark.parametrize(("p", "label"), [(1e-4, "p < 1e-3"), (0.01, "p < 0.05"), (0.05, "n.s."), (float("nan"), None)])
def test_significance_classes(p: float, label: str | None) -> None:
    assert significance_class(p) == label


def test_sha256_of_files_and_folders(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.bin").write_bytes(b"hello")
    assert sha256_path(tmp_path / "d" / "x.bin") == hashlib.sha256(b"hello").hexdigest()
    before = sha256_path(tmp_path / "d")
    (tmp_path / "d" / "y.bin").write_bytes(b"")
    assert sha256_path(tmp_path / "d") != before
    with pytest.raises(FileNotFoundError, match="missing"):
        sha256_path(tmp_path / "missing")


def test_provenance_record_and_file_listing(tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    record = Provenance(("clip-audit", "contamination"), seed=3, model=str(model), detector=str(model)).to_dict()
    assert record["model"]["sha256"] == hashlib.sha256(b"weights").hexdigest() and record["seed"] == 3
    assert detector_identity(str(tmp_path / "absent.pt")) == {"spec": str(tmp_path / "absent.pt"), "path": None, "sha256": None}
    result = tmp_path / "table.csv"
    result.write_text("a\n1\n")
    written = write_provenance(tmp_path, record, [result])
    assert pd.read_json(written, typ="series")["files"] == {"table.csv": sha256_path(result)}
