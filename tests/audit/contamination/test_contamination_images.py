"""Image mode of `clip-audit contamination` on a planted audit: known overlap, known accuracy gain."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from audit.contamination_config import ImageAuditConfig
from audit.contamination_images import example_rows, run_overlap_stage
from audit.contamination_report import AUDIT_COLUMNS, audit_table
from audit.provenance import sha256_path

TRUE_FRACTION = 24 / 80  # 20 augmented + 4 exact copies among 80 shapes images


def _table(run) -> pd.DataFrame:
    assert run.exit_code == 0, run.output
    return pd.read_csv(run.out / "contamination.csv").set_index("dataset")


def test_planted_overlap_and_gain_are_recovered(descriptor_run, planted_audit) -> None:
    table = _table(descriptor_run)
    assert list(table.reset_index().columns) == list(AUDIT_COLUMNS)
    shapes = table.loc["shapes"]
    assert abs(shapes.overlap_fraction - TRUE_FRACTION) <= 0.02
    assert shapes.p_value < 0.01
    assert shapes.ci_low <= 0.9 <= shapes.ci_high  # the planted Overlap accuracy
    assert shapes.threshold_rule == "labels" and table.loc["colors", "threshold_rule"] == "explicit"
    examples = pd.read_csv(descriptor_run.out / "overlap_examples.csv", dtype={"id": str, "pretraining_id": str})
    flagged = set(examples.loc[(examples.dataset == "shapes") & (examples.in_overlap == 1), "id"])
    assert len(flagged ^ planted_audit.copied) <= 1
    exact = examples[examples["id"].isin(planted_audit.exact)]
    assert exact["pretraining_id"].str.startswith("exact").all() and (exact["similarity"] > 0.9999).all()


def test_statistics_match_scipy_on_the_written_examples(descriptor_run) -> None:
    table = _table(descriptor_run)
    examples = pd.read_csv(descriptor_run.out / "overlap_examples.csv")
    shapes = examples[examples.dataset == "shapes"]
    overlap, clean = shapes[shapes.in_overlap == 1], shapes[shapes.in_overlap == 0]
    k_o, n_o, k_c, n_c = int(overlap.correct.sum()), len(overlap), int(clean.correct.sum()), len(clean)
    row = table.loc["shapes"]
    assert row.p_value == pytest.approx(stats.binomtest(k_o, n_o, k_c / n_c, alternative="greater").pvalue, rel=1e-9)
    assert row.p_two_sample == pytest.approx(stats.fisher_exact([[k_o, n_o - k_o], [k_c, n_c - k_c]], alternative="greater").pvalue, rel=1e-9)
    assert row.all_minus_clean == pytest.approx((k_o + k_c) / (n_o + n_c) - k_c / n_c)
    low = stats.beta.ppf(0.0025, k_o, n_o - k_o + 1)
    assert row.ci_low == pytest.approx(low, rel=1e-9)
    # One test in the family (colors has no overlap): the adjustments leave the p-value unchanged.
    assert row.p_bonferroni == pytest.approx(row.p_value) and np.isnan(table.loc["colors", "p_value"])


def test_json_sections_carry_the_uncertainty_of_each_number(descriptor_run) -> None:
    assert descriptor_run.exit_code == 0, descriptor_run.output
    document = json.loads((descriptor_run.out / "contamination.json").read_text())
    sections = {s["dataset"]: s for s in document["datasets"]}
    shapes, colors = sections["shapes"], sections["colors"]
    boot = shapes["bootstrap_all_minus_clean"]
    assert boot["low"] <= shapes["all_minus_clean"] <= boot["high"] and boot["estimate"] == pytest.approx(shapes["all_minus_clean"])
    assert shapes["tests"]["fisher_two_sample"] == shapes["p_two_sample"]
    assert shapes["significance"] == "p < 1e-3"
    estimates = shapes["threshold_estimates"]
    assert estimates["n_labels"] == 80 and estimates["precision_low"] <= estimates["precision"] <= estimates["precision_high"]
    assert estimates["recall_low"] <= estimates["recall"] <= estimates["recall_high"] and estimates["recall"] >= 0.95
    assert colors["n_overlap"] == 0 and colors["bootstrap_all_minus_clean"] is None
    assert document["no_overlap"] == ["colors"]  # listed, not dropped
    provenance = document["provenance"]
    assert provenance["command_line"][0] == "clip-audit" and provenance["seed"] == 0
    assert sorted(provenance["command_line"][1:]) == sorted(descriptor_run.args)  # every option as given
    assert provenance["settings"]["thresholds"]["colors"] == {"threshold": 0.99, "rule": "explicit"}
    assert provenance["inputs"]["labels"]["sha256"] == sha256_path(descriptor_run.out.parent / "labels.csv")


def test_composition_drop_list_figure_and_provenance_files(descriptor_run, planted_audit) -> None:
    out = descriptor_run.out
    table = _table(descriptor_run)
    composition = pd.read_csv(out / "composition.csv")
    totals = composition.groupby("dataset")[["n_clean", "n_overlap"]].sum()
    assert (totals.sum(axis=1) == table["n_all"]).all()
    assert composition.groupby("dataset")["share_clean"].sum().to_numpy() == pytest.approx([1.0, 1.0])
    assert composition.loc[composition.dataset == "shapes", "share_overlap"].sum() == pytest.approx(1.0)
    drop = pd.read_csv(out / "drop.csv", dtype=str)
    examples = pd.read_csv(out / "overlap_examples.csv", dtype=str)
    assert set(drop["eval_id"]) == set(examples.loc[examples.in_overlap == "1", "id"])
    assert set(drop["eval_id"]) >= planted_audit.copied  # every copied example's copies are listed ...
    copies = drop[drop["pretraining_id"].str.match(r"^(copy|exact)")]
    assert len(copies) == 2 * 20 + 4 and len(drop) - len(copies) <= 1  # ... and at most the one false pair the fitted precision allows
    with Image.open(out / "figure_overlap.png") as png:
        assert png.size[0] > 500 and "clip-audit" in png.info.get("Description", "")
    assert "colors" in (out / "figure_overlap.svg").read_text()  # datasets without overlap are listed
    listed = json.loads((out / "provenance.json").read_text())["files"]
    assert set(listed) >= {"contamination.csv", "contamination.json", "overlap_examples.csv", "composition.csv",
                           "drop.csv", "figure_overlap.png", "figure_overlap.svg"}
    assert all(listed[name] == sha256_path(out / name) for name in listed)


def test_null_scenario_is_rarely_significant(descriptor_run, planted_audit, make_predictions) -> None:
    """Same overlap, accuracy independent of it: p > 0.05 for at least 90% of 20 redrawn predictions."""
    assert descriptor_run.exit_code == 0, descriptor_run.output
    # The overlap stage alone (the predictions named here are never read): searched once, shared by the seeds.
    config = ImageAuditConfig(
        pretraining=str(planted_audit.pretraining_descriptors), eval_sources={"shapes": str(planted_audit.eval_descriptors["shapes"])},
        out=planted_audit.root / "null_run", predictions={"shapes": planted_audit.root / "predictions" / "shapes.csv"},
        labels=planted_audit.inspector_labels, verify=False,
    )
    stage = run_overlap_stage(config, log=lambda line: None)
    _, null_predictions = make_predictions
    p_values, fractions = [], []
    for seed in range(20):
        frame = null_predictions(planted_audit, "shapes", accuracy=0.7, seed=seed)
        rows = example_rows(stage, {"shapes": frame.assign(correct=frame["correct"].astype(bool))}, {"shapes": None})
        row = audit_table(rows, stage.decisions).iloc[0]
        p_values.append(row.p_value)
        fractions.append(row.overlap_fraction)
    assert sum(p > 0.05 for p in p_values) >= 18, p_values
    assert max(abs(f - TRUE_FRACTION) for f in fractions) <= 0.02


def test_a_rerun_reuses_the_search_and_writes_the_same_table(descriptor_run) -> None:
    from typer.testing import CliRunner

    from audit.cli import app

    before = (descriptor_run.out / "contamination.csv").read_text()
    again = CliRunner().invoke(app, list(descriptor_run.args))
    assert again.exit_code == 0, again.output
    assert "searched 0 shard(s)" in again.output
    assert (descriptor_run.out / "contamination.csv").read_text() == before
