"""A complete audit folder for the report tests, written with the project's own result writers.

- ``overlap/``: a real overlap search (audit.overlap_pipeline) over descriptor shards with planted
  copies, thresholds fitted to oracle labels, ``sources.json`` pointing at small image folders;
- ``results/``: contamination.csv from audit.contamination_table, contamination.json in the image
  mode's format (audit.contamination_report.dataset_sections), composition.csv, provenance.json;
- ``probes/``: two probes written by audit.probes (disaggregate, ProbeResult, write_probe_result),
  one with a planted gap and an empty group, one with two label sets and differences.csv.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

DIM = 32
SIZES = {"alpha": (120, 30), "beta": (80, 8), "gamma": (40, 0)}  # examples, planted copies
CLASSES = ("circle", "square", "star", "ring")


@dataclass(frozen=True)
class AuditFolder:
    """The folder and the truth it was built from."""

    root: Path
    planted: frozenset[tuple[str, str, str]]


def _unit(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=1, keepdims=True)).astype(np.float32)


def _image(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    pixels = np.zeros((32, 32, 3), dtype=np.uint8) + rng.integers(0, 255, 3, dtype=np.uint8)
    pixels[8:24, 8:24] = rng.integers(0, 255, 3, dtype=np.uint8)
    return Image.fromarray(pixels)


def _write_overlap(root: Path, rng: np.random.Generator) -> tuple[frozenset, dict]:
    from audit.overlap_pipeline import ThresholdOptions, apply_thresholds, run_overlap_search, write_summary
    from audit.overlap_run import PendingShard
    from audit.overlap_search import EvalSet, SearchConfig
    from detector.descriptor_files import DescriptorShard

    sets, planted, pre_ids, pre_vectors = [], set(), [], []
    for number, (name, (size, copies)) in enumerate(SIZES.items()):
        vectors = _unit(rng.normal(size=(size, DIM)))
        ids = [f"{name}_{i:03d}.png" for i in range(size)]
        folder = root / "images" / name
        folder.mkdir(parents=True)
        for i, example_id in enumerate(ids):
            _image(1000 * number + i).save(folder / example_id)
        sets.append(EvalSet(name, ids, vectors))
        for rank, i in enumerate(rng.choice(size, copies, replace=False)):
            copy_id = f"copy_{name}_{i:03d}.png"
            noise = 0.05 + 0.9 * rank / max(1, copies)  # from near-identical to loose copies
            pre_ids.append(copy_id)
            pre_vectors.append(vectors[i] + noise * rng.normal(size=DIM) / np.sqrt(DIM))
            planted.add((name, ids[i], copy_id))
    distractors = _unit(rng.normal(size=(300, DIM)))
    pre_ids += [f"web_{i:04d}.png" for i in range(len(distractors))]
    matrix = np.vstack([_unit(np.array(pre_vectors)), distractors])
    pre_folder = root / "images" / "pretraining"
    pre_folder.mkdir()
    for index, pre_id in enumerate(pre_ids):
        _image(10_000 + index).save(pre_folder / pre_id)
    order = rng.permutation(len(pre_ids))
    shards = [
        PendingShard(f"shard{k}", (lambda rows=rows: DescriptorShard(f"shard{k}", [pre_ids[i] for i in rows], matrix[rows])))
        for k, rows in enumerate(np.array_split(order, 3))
    ]
    out = root / "overlap"
    summary = run_overlap_search(sets, shards, out, SearchConfig(top_k=3))
    neighbours = pd.read_parquet(out / "neighbours.parquet")
    inspected = neighbours.sort_values("similarity", ascending=False).groupby("dataset").head(40)
    truth = {(e, p) for _, e, p in planted}
    labels = inspected.assign(is_duplicate=[int((e, p) in truth) for e, p in zip(inspected.eval_id, inspected.pretraining_id)])
    labels[["dataset", "eval_id", "pretraining_id", "is_duplicate"]].to_csv(out / "labels.csv", index=False)
    decisions = apply_thresholds(out, ThresholdOptions(labels=out / "labels.csv", default=0.9))
    write_summary(out, summary, decisions)
    sources = {"pretraining": str(pre_folder), "eval": {name: str(root / "images" / name) for name in SIZES}}
    (out / "sources.json").write_text(json.dumps(sources))
    return frozenset(planted), decisions


def _write_contamination(root: Path, rng: np.random.Generator, decisions: dict) -> None:
    from audit.composition import class_composition, class_mix_distance
    from audit.contamination_report import audit_table, dataset_sections
    from audit.results_io import write_table

    overlap = pd.read_csv(root / "overlap" / "overlap_table.csv", dtype={"id": str})
    accuracy = np.where(overlap["in_overlap"] == 1, np.where(overlap["dataset"] == "alpha", 0.95, 0.5), 0.5)
    examples = overlap.assign(correct=rng.random(len(overlap)) < accuracy,
                              label=[CLASSES[int(i[-7:-4]) % len(CLASSES)] for i in overlap["id"]],
                              in_overlap=overlap["in_overlap"].astype(bool))
    table = audit_table(examples, decisions)
    results = root / "results"
    write_table(table, results, "contamination")
    composition = class_composition(examples)
    composition.to_csv(results / "composition.csv", index=False)
    sections = dataset_sections(table, examples, decisions, class_mix_distance(composition), {}, 0.995, 500, 0)
    document = {"provenance": {"seed": 0}, "datasets": sections,
                "no_overlap": table.loc[table["n_overlap"] == 0, "dataset"].tolist(), "unreadable_pretraining_images": 0,
                "warnings": []}
    (results / "contamination.json").write_text(json.dumps(document, default=str))
    (results / "provenance.json").write_text(json.dumps({"tool_version": "test", "seed": 0, "command_line": ["pytest"],
                                                         "model": {"path": "tiny.pt", "sha256": "0" * 64}}))


def _write_probes(root: Path, rng: np.random.Generator) -> None:
    from audit.probes.disaggregated import disaggregate, rates_table
    from audit.probes.result import ProbeResult, write_probe_result

    groups = np.array(["group_a", "group_b", "group_c", "group_d"])[rng.integers(0, 4, 400)]
    gender = np.array(["first", "second"])[rng.integers(0, 2, 400)]
    harm = (rng.random(400) < np.where(groups == "group_a", 0.6, 0.1)).astype(int)
    other = (rng.random(400) < 0.05).astype(int)
    outcomes = np.stack([harm, other], axis=1)
    categories = ["crime-related", "non-human"]
    rates = (disaggregate(outcomes, groups, "race", categories, ["group_a", "group_b", "group_c", "group_d", "group_e"])
             + disaggregate(outcomes, gender, "gender", categories, ["first", "second"]))
    result = ProbeResult("denigration", rates_table("denigration", rates), tuple(rates), {"planted_group": "group_a"},
                         {"seed": 0, "split": "val", "model_sha256": "1" * 64})
    write_probe_result(result, root / "probes" / "denigration")

    child = (harm * (rng.random(400) < 0.5)).astype(int)
    first = [r.with_extra(label_set="default") for r in disaggregate(harm, groups, "race", ["crime-related"], sorted(set(groups)))]
    second = [r.with_extra(label_set="default + child") for r in disaggregate(child, groups, "race", ["crime-related"], sorted(set(groups)))]
    differences = pd.DataFrame([{"category": "crime-related", "attribute": "race", "group": g.group, "n": g.n,
                                 "rate_first": g.rate, "rate_second": h.rate, "difference": h.rate - g.rate}
                                for g, h in zip(first[0].groups, second[0].groups)])
    result = ProbeResult("class-design", rates_table("class-design", first + second), tuple(first + second), {},
                         {"seed": 0, "label_sets": ["default", "default + child"]}, tables={"differences": differences})
    write_probe_result(result, root / "probes" / "class-design")


@pytest.fixture(scope="session")
def audit_folder(tmp_path_factory: pytest.TempPathFactory) -> AuditFolder:
    """An audit folder with every section's results."""
    root = tmp_path_factory.mktemp("audit")
    rng = np.random.default_rng(0)
    planted, decisions = _write_overlap(root, rng)
    _write_contamination(root, rng, decisions)
    _write_probes(root, rng)
    return AuditFolder(root, planted)


@pytest.fixture(scope="session")
def built_report(audit_folder: AuditFolder):
    """The report of the full audit folder, built once."""
    from reports.build import build_report
    from reports.layout import resolve_paths

    return build_report(resolve_paths(audit_folder.root), progress=False)
