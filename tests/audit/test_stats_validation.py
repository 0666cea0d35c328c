"""Invalid input raises ValueError that names the argument."""
from __future__ import annotations

import pytest

from audit.stats import (
    adjust_pvalues,
    binomial_test,
    bootstrap_all_minus_clean,
    clopper_pearson,
    two_sample_test,
)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: clopper_pearson(5, 4), "k"),
        (lambda: clopper_pearson(0, 0), "n"),
        (lambda: clopper_pearson(-1, 4), "k"),
        (lambda: clopper_pearson(1, -4), "n"),
        (lambda: clopper_pearson(1, 4, confidence=1.0), "confidence"),
        (lambda: clopper_pearson(1, 4, confidence=0.0), "confidence"),
        (lambda: clopper_pearson(1.5, 4), "k"),
        (lambda: binomial_test(5, 4, 0.5), "k"),
        (lambda: binomial_test(1, 0, 0.5), "n"),
        (lambda: binomial_test(1, 4, 1.5), "p0"),
        (lambda: binomial_test(1, 4, -0.1), "p0"),
        (lambda: binomial_test(1, 4, float("nan")), "p0"),
        (lambda: binomial_test(1, 4, 0.5, alternative="bigger"), "alternative"),
        (lambda: adjust_pvalues([0.1, 0.2], "sidak-ish"), "method"),
        (lambda: adjust_pvalues([0.1, 1.2], "holm"), "pvalues"),
        (lambda: two_sample_test(3, 2, 1, 5), "k_overlap"),
        (lambda: two_sample_test(1, 2, 1, 0), "n_clean"),
        (lambda: two_sample_test(1, 2, 1, 5, method="chi2"), "method"),
        (lambda: bootstrap_all_minus_clean(1, 2, 1, 5, confidence=2.0), "confidence"),
        (lambda: bootstrap_all_minus_clean(1, 2, 9, 5), "k_clean"),
    ],
)
def test_invalid_input_names_the_argument(call, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        call()


def test_degenerate_null_probabilities_are_valid() -> None:
    assert binomial_test(0, 5, 0.0, "greater") == 1.0
    assert binomial_test(1, 5, 0.0, "greater") == 0.0
    assert binomial_test(5, 5, 1.0, "greater") == 1.0
