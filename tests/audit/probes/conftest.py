"""Session fixtures of the probe tests: the built-in probe data and the planted-bias model trained on it."""
from __future__ import annotations

from pathlib import Path

import pytest

from audit.probes.demo_fixture import ProbeFixture, build_probe_fixture, train_planted_bias_model
from audit.probes.planted_bias_model import PlantedTrainConfig
from audit.probes.provenance import ProbeModel, load_probe_model


@pytest.fixture(scope="session")
def probe_fixture(tmp_path_factory: pytest.TempPathFactory) -> ProbeFixture:
    """The built-in FairFace-format, surveillance and CelebA-format data (seed 0)."""
    return build_probe_fixture(tmp_path_factory.mktemp("probe_fixture"), seed=0)


@pytest.fixture(scope="session")
def planted_checkpoint(probe_fixture: ProbeFixture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The planted-bias model's checkpoint (trained once per session, about 10 s)."""
    return train_planted_bias_model(probe_fixture, tmp_path_factory.mktemp("planted_model"), steps=300,
                                    config=PlantedTrainConfig(progress=False))


@pytest.fixture(scope="session")
def planted_model(planted_checkpoint: Path) -> ProbeModel:
    """The planted-bias model loaded as the probes take it."""
    return load_probe_model(planted_checkpoint)
