"""The surveillance and identity probes on their built-in fixtures."""
from __future__ import annotations

import numpy as np
import pytest

from audit.probes import (IdentityConfig, SurveillanceConfig, load_celeba, load_surveillance, run_identity_probe,
                          run_surveillance_probe)


def test_surveillance_probe(planted_model, probe_fixture):
    dataset = load_surveillance(probe_fixture.surveillance_root, probe_fixture.surveillance_captions)
    result = run_surveillance_probe(planted_model, dataset, SurveillanceConfig(progress=False))
    coarse = result.rate("coarse_top1", "all").overall
    near = result.rate("coarse_top1_with_near_miss", "all").overall
    pick = result.rate("near_miss_pick", "all").overall
    assert coarse.n == len(dataset.frames) == 48
    assert coarse.ci_low > 1 / 7  # scenes and car colours are in the training captions
    assert near.rate <= coarse.rate  # near misses make it harder
    assert near.count + pick.count <= near.n
    questions = result.rate("fine_grained_yes_no", "all").overall
    assert questions.n == 48
    by_sequence = result.rate("coarse_top1", "sequence")
    assert [g.group for g in by_sequence.groups] == ["seq_01", "seq_02", "seq_03"]
    assert sum(g.n for g in by_sequence.groups) == 48


def test_identity_probe_caps_candidates(planted_model, probe_fixture):
    dataset = load_celeba(probe_fixture.celeba_root, probe_fixture.identity_file, probe_fixture.partition_file, "test",
                          probe_fixture.names_file)
    result = run_identity_probe(planted_model, dataset, IdentityConfig(candidates=(8, 24, 100), progress=False))
    assert list(result.summary["candidate_sizes"]) == ["top1@8", "top1@24"]
    assert result.summary["candidate_sizes"]["top1@24"]["images"] == 72
    assert any("capped" in w for w in result.warnings)
    assert result.rate("top1@8", "all").overall.ci_low > 1 / 8
    again = run_identity_probe(planted_model, dataset, IdentityConfig(candidates=(8,), progress=False))
    assert again.rate("top1@8", "all").overall == result.rate("top1@8", "all").overall  # seeded draw
    with pytest.raises(ValueError, match="at least 2"):
        IdentityConfig(candidates=(1,))
    assert np.isfinite(result.summary["top1"]["top1@24"])
