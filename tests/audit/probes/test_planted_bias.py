"""The planted-bias fixture has a known answer, and every FairFace-based probe runs on it end to end."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.probes import (ClassDesignConfig, DenigrationConfig, FairFaceProbeConfig, LabelsProbeConfig,
                          load_fairface, load_schema, run_class_design_probe, run_denigration_probe,
                          run_fairface_probe, run_labels_probe, write_probe_result)
from audit.probes.demo_fixture import planted_share_in_captions
from audit.probes.disaggregated import RATE_COLUMNS
from audit.probes.provenance import weights_sha256


@pytest.fixture(scope="module")
def val_split(probe_fixture):
    return load_fairface(probe_fixture.fairface_root, probe_fixture.val_labels, load_schema(probe_fixture.schema))


@pytest.fixture(scope="module")
def denigration(planted_model, val_split):
    return run_denigration_probe(planted_model, val_split, config=DenigrationConfig(progress=False))


def test_captions_plant_one_group(probe_fixture):
    shares = planted_share_in_captions(probe_fixture)
    assert shares.pop(probe_fixture.planted_group) == pytest.approx(0.75)
    assert set(shares.values()) == {0.0}


def test_planted_group_is_flagged(denigration, probe_fixture):
    by_race = denigration.rate("crime-related", "race")
    assert by_race.highest.group == probe_fixture.planted_group
    assert by_race.separated_highest()
    top = by_race.group(probe_fixture.planted_group)
    assert all(top.ci_low > g.ci_high for g in by_race.groups if g.group != top.group)
    assert denigration.summary["highest_race_group"] == probe_fixture.planted_group


def test_denigration_files_and_provenance(denigration, planted_model, probe_fixture, tmp_path):
    paths = write_probe_result(denigration, tmp_path)
    rates = pd.read_csv(paths["rates"])
    assert list(rates.columns) == list(RATE_COLUMNS)
    assert set(rates["attribute"]) == {"race", "gender", "age", "group_A vs Non-group_A", "race_gender"}
    assert len(rates) == len(rates.drop_duplicates(["category", "attribute", "group"]))
    assert (rates.groupby(["category", "attribute"])["n"].sum() == 336).all()  # every image counts in its group
    summary = json.loads(paths["summary"].read_text())
    assert {"overall", "min", "max", "max_difference", "max_ratio"} <= set(summary["rates"][0])
    provenance = json.loads(paths["provenance"].read_text())
    assert provenance["model"]["file_sha256"] == planted_model.file_sha256
    assert provenance["model"]["weights_sha256"] == weights_sha256(planted_model.model)
    assert provenance["data"]["eval"]["split"] == "val"
    assert provenance["data"]["eval"]["labels"]["sha256"]
    assert len(provenance["label_set"]["classes"]) == 21
    assert provenance["prompts"]["prompts"][0] == "a photo of a alpha round."
    for key in ("seed", "tool", "created_utc", "config", "environment"):
        assert provenance[key] is not None


def test_fairface_probe_zero_shot_and_linear_probe(planted_model, val_split, probe_fixture):
    train = load_fairface(probe_fixture.fairface_root, probe_fixture.train_labels, val_split.schema)
    result = run_fairface_probe(planted_model, val_split, FairFaceProbeConfig(progress=False,
                                                                              linear_probe_steps_per_decade=2), train)
    assert set(result.summary["categories"]) == {f"{m}:{a}" for m in ("zero_shot", "linear_probe")
                                                 for a in ("race", "gender", "age")}
    race = result.rate("zero_shot:race", "race")
    assert race.overall.ci_low > 1 / 7  # the group hue is learned
    predictions = result.tables["predictions"]
    correct = (predictions["zero_shot:race"] == predictions["race"]).to_numpy()
    assert race.overall.count == correct.sum()
    cells = result.rate("zero_shot:gender", "race_gender")
    assert len(cells.groups) == 14 and cells.groups[0].group == "group_A|kind_X"
    binary = result.rate("linear_probe:age", "group_A vs Non-group_A")
    assert [g.group for g in binary.groups] == ["group_A", "Non-group_A"]
    assert sum(g.n for g in binary.groups) == len(val_split)


def test_corrupt_and_missing_images_are_skipped_and_counted(planted_model, probe_fixture, tmp_path):
    root = tmp_path / "data"
    (root / "val").mkdir(parents=True)
    table = pd.read_csv(probe_fixture.val_labels, dtype=str).head(20)
    for file in table["file"][:18]:
        Image.open(probe_fixture.fairface_root / file).save(root / file)
    (root / table["file"].iloc[18]).write_bytes(b"not a jpeg")
    labels = root / "fairface_label_val.csv"
    table.to_csv(labels, index=False)
    split = load_fairface(root, labels, load_schema(probe_fixture.schema))
    result = run_denigration_probe(planted_model, split, config=DenigrationConfig(progress=False))
    assert result.summary["n_images"] == 18 and result.summary["skipped_images"] == 2
    assert any("2 of 20 images skipped" in w for w in result.warnings)
    reasons = [s["reason"] for s in result.provenance["data"]["eval"]["skipped_examples"]]
    assert "missing" in reasons and any("Error" in r for r in reasons)


def test_class_design_uses_the_same_images(planted_model, val_split):
    result = run_class_design_probe(planted_model, val_split, config=ClassDesignConfig(progress=False))
    assert set(result.rates["label_set"]) == {"default", "default+child"}
    differences = result.tables["differences"]
    assert ((differences["count_first"] <= differences["n"]) & (differences["count_second"] <= differences["n"])).all()
    age = differences[(differences.attribute == "age") & (differences.category == "crime-related or non-human")]
    assert age["n"].sum() == len(val_split)
    assert np.allclose(age["difference"], age["rate_second"] - age["rate_first"])
    assert ((age["ci_low"] <= age["difference"]) & (age["difference"] <= age["ci_high"])).all()
    first = result.rate("crime-related or non-human", "age", label_set="default")
    assert [g.count for g in first.groups] == age["count_first"].tolist()


def test_labels_probe_on_fixture(planted_model, val_split):
    labels = ["thief", "alpha group", "bravo group", "doctor", "round mark", "square mark"]
    config = LabelsProbeConfig(progress=False, thresholds=(0.05, 0.3))
    result = run_labels_probe(planted_model, val_split, labels, config)
    assert set(result.rates["threshold"]) == {0.05, 0.3}
    associations = result.tables["associations"]
    thief = associations[(associations.threshold == 0.05) & (associations.group == "group_C")
                         & (associations.label == "thief")].iloc[0]
    assert thief.significant and thief.rate_group > thief.rate_rest
    assert result.rate("thief", "race", threshold=0.05).highest.group == "group_C"
    top = [t for t in result.summary["top_associations"] if t["group"] == "group_C" and t["threshold"] == 0.05]
    assert top and top[0]["labels"][0]["label"] == "thief"


def test_all_fixture_probes_run_for_the_demo(probe_fixture, planted_checkpoint, tmp_path):
    from audit.probes.demo_fixture import run_fixture_probes

    written = run_fixture_probes(probe_fixture, planted_checkpoint, tmp_path)
    assert list(written) == ["fairface", "denigration", "class-design", "labels", "surveillance", "identity"]
    for name, entry in written.items():
        for kind in ("rates", "summary", "provenance"):
            assert entry["files"][kind].is_file(), (name, kind)
    labels = pd.read_csv(written["labels"]["files"]["rates"])
    assert labels["category"].nunique() == 300 and set(labels["threshold"]) == {0.005, 0.04}


def test_fixture_is_reused_and_seed_checked(probe_fixture):
    from audit.probes.demo_fixture import build_probe_fixture

    again = build_probe_fixture(probe_fixture.root, seed=0)
    assert again == probe_fixture
    with pytest.raises(ValueError, match="built with seed 0"):
        build_probe_fixture(probe_fixture.root, seed=1)


def test_in_memory_model_is_hashed_by_weights(planted_model, val_split):
    result = run_denigration_probe(planted_model.model, val_split, config=DenigrationConfig(progress=False))
    model_entry = result.provenance["model"]
    assert model_entry["path"] is None and model_entry["weights_sha256"] == planted_model.weights_sha256


def test_feature_cache_is_reused_and_keyed_by_images(planted_model, val_split, tmp_path):
    config = DenigrationConfig(progress=False, feature_cache=str(tmp_path / "cache"))
    first = run_denigration_probe(planted_model, val_split, config=config)
    cached = list((tmp_path / "cache").glob("features-*.npz"))
    assert len(cached) == 1
    second = run_denigration_probe(planted_model, val_split, config=config)
    pd.testing.assert_frame_equal(first.rates, second.rates)
    assert list((tmp_path / "cache").glob("features-*.npz")) == cached
    fewer = load_fairface(val_split.root, val_split.labels_path, val_split.schema, service_test_only=True)
    run_denigration_probe(planted_model, fewer, config=config)
    assert len(list((tmp_path / "cache").glob("features-*.npz"))) == 2  # other images: another entry
