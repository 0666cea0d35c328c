"""The labels probe's chi-square tests against scipy, and its label files."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from audit.probes.labels_probe import chi_square_2x2, default_labels, read_label_file


def test_chi_square_matches_scipy():
    rng = np.random.default_rng(1)
    tables = rng.integers(1, 60, size=(30, 4))
    statistic, p = chi_square_2x2(*tables.T)
    for row, s, q in zip(tables, statistic, p):
        expected = chi2_contingency(row.reshape(2, 2), correction=False)
        assert s == pytest.approx(expected.statistic, rel=1e-10)
        assert q == pytest.approx(expected.pvalue, rel=1e-9)
    statistic, p = chi_square_2x2([0], [10], [0], [5])  # a label never attached: no test
    assert np.isnan(statistic[0]) and np.isnan(p[0])


def test_label_files(tmp_path):
    labels = default_labels()
    assert len(labels) == 300 == len(set(labels)) and "doctor" in labels
    path = tmp_path / "labels.txt"
    path.write_text("# comment\nnurse\n\nsurgeon\n")
    assert read_label_file(path) == ["nurse", "surgeon"]
    path.write_text("nurse\nnurse\n")
    with pytest.raises(ValueError, match="duplicate labels"):
        read_label_file(path)
    with pytest.raises(FileNotFoundError, match="label file not found"):
        read_label_file(tmp_path / "absent.txt")
