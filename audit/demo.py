"""`clip-audit demo`: the whole contamination audit on the built-in synthetic world.

Stages (each skipped when its output exists, so a rerun resumes; each stage's settings are recorded
as ``<stage>.settings.json`` and a rerun with other settings stops with the differences unless
``overwrite`` starts the stages over):

1. ``eval/<task>/``: evaluation sets of synthetic classification tasks, as ImageFolders.
2. ``pretraining/*.tar``: a synthetic captioned pre-training stream as WebDataset shards, with
   augmented copies of part of one evaluation set planted in it (``plants.csv`` is the truth).
3. ``clip/``: a tiny CLIP trained with clip_core on the pre-training shards (own BPE vocabulary).
4. ``overlap/``: the overlap search with the shipped default detector on the two-stage default
   path (global candidates, local-feature verification); its copy decisions at the default
   threshold are kept (``overlap_table_default.csv``), then an oracle "inspector" labels the
   best-scored pairs of every evaluation set from ``plants.csv`` (what a person does with
   `clip-audit inspect`) and each set's threshold is fitted to those labels.
5. ``predictions/<task>.csv``: zero-shot predictions of the CLIP model on each evaluation set.
7. ``probes/``: the bias probes of section 7 on the built-in FairFace-format fixture (abstract
   groups), with a tiny CLIP trained on captions that over-associate one group with a harmful
   label; each probe writes ``probes/<name>/{rates.csv,summary.json,provenance.json}`` and the
   stage fails loudly when the planted group is not flagged.
6. ``results/contamination.{csv,json}``: the Clean/Overlap/All table; ``demo_summary.json`` with the
   detection precision and recall against the planted truth at the default and at the
   label-fitted thresholds (the labels come from the answer key, so the default figures are the
   ones that show whether the tool finds copies on its own).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from clip_core.atomic_files import atomic_write_text
from clip_core.run_settings import RunSettings, record_or_check
from clip_core.skip_check import DEFAULT_MAX_SKIPPED_FRACTION

Log = Callable[[str], None]
DEFAULT_TABLE = "overlap_table_default.csv"  # copy decisions at the detector's default threshold
DEFAULT_THRESHOLDS = "thresholds_default.json"

_EVAL_FIELDS = ("seed", "image_size", "tasks", "eval_per_task")
_PRETRAINING_FIELDS = _EVAL_FIELDS + ("planted_task", "planted_fraction", "copies_per_planted", "pretraining_size", "shard_size")
_CLIP_FIELDS = _PRETRAINING_FIELDS + ("vocab_size", "clip_steps", "clip_batch")
# The DemoConfig fields each stage's outputs depend on (its own and those of the stages it reads).
STAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "eval": _EVAL_FIELDS,
    "pretraining": _PRETRAINING_FIELDS,
    "clip": _CLIP_FIELDS,
    "predictions": _CLIP_FIELDS,
    "probes": ("seed", "probe_steps"),
}
STAGE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "eval": ("eval",), "pretraining": ("pretraining", "plants.csv"), "clip": ("clip",),
    "predictions": ("predictions",), "probes": ("probes",),
}


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and steps of the demo (the defaults run in a few minutes on 2 CPU cores)."""

    out: Path = Path("clip-audit-demo")
    seed: int = 0
    image_size: int = 64
    tasks: tuple[str, ...] = ("colors", "counts")
    planted_task: str = "counts"
    eval_per_task: int = 200
    planted_fraction: float = 0.25
    copies_per_planted: int = 4
    pretraining_size: int = 4000
    shard_size: int = 1000
    vocab_size: int = 600
    clip_steps: int = 300
    clip_batch: int = 64
    detector: str = "default"
    verify: bool = True
    labelled_pairs: int = 150
    probe_steps: int = 300
    extra: dict = field(default_factory=dict)
    overwrite: bool = False  # clear every stage's outputs and start over instead of resuming

    def __post_init__(self) -> None:
        if self.planted_task not in self.tasks:
            raise ValueError(f"planted_task '{self.planted_task}' must be one of tasks {self.tasks}")
        if not 0.0 < self.planted_fraction < 1.0:
            raise ValueError(f"planted_fraction must lie in (0, 1), got {self.planted_fraction}")


def plant_augment(image, rng):  # noqa: ANN001, ANN201 - PIL image, random.Random
    """A light copy: crop and zoom, colour jitter and JPEG, as a re-posted image would be."""
    from detector.augment import colour_jitter, crop_zoom, jpeg

    generator = np.random.default_rng(rng.randrange(2**32))
    copy = crop_zoom(image, generator, min_area=0.8)
    copy = colour_jitter(copy, generator, brightness=0.1, contrast=0.1, saturation=0.1, hue=0.02)
    return jpeg(copy, generator, min_quality=60, max_quality=95).resize(image.size)


def check_stage(config: DemoConfig, stage: str) -> None:
    """Record a stage's settings in the demo folder, or stop when a rerun's differ (see module docstring)."""
    parameters = {name: getattr(config, name) for name in STAGE_FIELDS[stage]}
    record_or_check(config.out, f"demo-{stage}", RunSettings(parameters=parameters), config.overwrite, STAGE_OUTPUTS[stage])


def _task_location(config: DemoConfig, task: str, seed_offset: int = 0) -> str:
    return f"synthetic:{task}?n={config.eval_per_task}&seed={config.seed + seed_offset}&size={config.image_size}"


def build_eval_sets(config: DemoConfig, log: Log) -> dict[str, Path]:
    """Stage 1: write each task's evaluation set as an ImageFolder."""
    from clip_core.data import open_source
    from clip_core.data.writers import write_image_folder

    check_stage(config, "eval")
    folders = {}
    for task in config.tasks:
        folder = config.out / "eval" / task
        folders[task] = folder
        if folder.is_dir():
            continue
        items = [(e.id.replace("/", "_"), e.image, e.label) for e in open_source(_task_location(config, task))]
        write_image_folder(items, folder, text_field="label")
        log(f"evaluation set {task}: {len(items)} images in {folder}")
    return folders


def build_pretraining(config: DemoConfig, eval_folder: Path, log: Log) -> Path:
    """Stage 2: the pre-training shards with planted copies of part of one evaluation set."""
    from clip_core.data import open_source
    from clip_core.data.synthetic import SyntheticCaptionStream
    from clip_core.data.writers import write_webdataset

    check_stage(config, "pretraining")
    out = config.out / "pretraining"
    plants_path = config.out / "plants.csv"
    if plants_path.is_file():
        return out
    examples = list(open_source(str(eval_folder)))
    rng = np.random.default_rng(config.seed)
    chosen = sorted(rng.choice(len(examples), int(round(config.planted_fraction * len(examples))), replace=False))
    stream = SyntheticCaptionStream(seed=config.seed, size=config.image_size, length=config.pretraining_size)
    stream.plant([examples[i] for i in chosen], copies=config.copies_per_planted, augment=plant_augment,
                 seed=config.seed, caption=lambda e: f"a photo of {e.label} shapes.")
    written = write_webdataset(list(stream), out, shard_size=config.shard_size, ext="jpg")
    plants = pd.DataFrame(stream.plants_table())
    plants["pretraining_id"] = plants["train_id"].map(written.ids)
    atomic_write_text(plants_path, plants.to_csv(index=False))
    log(f"pre-training: {config.pretraining_size} images in {out}, {len(chosen)} evaluation images planted "
        f"{config.copies_per_planted}x each (truth in {plants_path})")
    return out


def train_clip(config: DemoConfig, pretraining: Path, log: Log) -> Path:
    """Stage 3: a tiny CLIP with its own BPE vocabulary, trained on the pre-training captions."""
    from clip_core.data import open_captions
    from clip_core.tokenizer import Tokenizer
    from clip_core.train.trainer import TrainConfig, train

    check_stage(config, "clip")
    folder = config.out / "clip"
    checkpoint = folder / "checkpoint.pt"
    if checkpoint.is_file():
        return checkpoint
    folder.mkdir(parents=True, exist_ok=True)
    merges = folder / "bpe_merges.txt.gz"
    if not merges.is_file():
        captions = [e.caption for e in open_captions(str(pretraining))]
        Tokenizer.train(captions, vocab_size=config.vocab_size).save(merges)
    train(TrainConfig(data=str(pretraining), model="tiny", steps=config.clip_steps, batch_size=config.clip_batch,
                      seed=config.seed, out=str(folder), tokenizer=str(merges), progress=True))
    log(f"CLIP (tiny preset) trained for {config.clip_steps} steps: {checkpoint}")
    return checkpoint


def run_overlap(config: DemoConfig, eval_folders: dict[str, Path], pretraining: Path, detector: str, log: Log) -> Path:
    """Stage 4: two-stage overlap search, decisions at the default threshold, oracle labels, fitted thresholds."""
    from audit.overlap_inputs import eval_set_from, image_sources, pretraining_shards_from
    from audit.overlap_pipeline import ThresholdOptions, apply_thresholds, run_overlap_search, write_summary
    from audit.inspect_page import SOURCES_FILE
    from audit.overlap_search import SearchConfig
    from audit.overlap_settings import check_overlap_settings
    from audit.overlap_verify import (
        DEFAULT_CANDIDATE_FLOOR,
        default_score_threshold,
        second_stage_settings,
        verification_inputs,
    )

    out = config.out / "overlap"
    search = SearchConfig(top_k=5)
    named = [(task, str(folder)) for task, folder in eval_folders.items()]
    verify_settings = second_stage_settings(config.verify, DEFAULT_CANDIDATE_FLOOR, 3)
    check_overlap_settings(out, str(pretraining), dict(named), detector, search, verify_settings, config.overwrite)
    sets, calibrated = [], None
    for task, folder in named:
        eval_set, calibrated = eval_set_from(task, folder, detector, out)
        sets.append(eval_set)
    shards, total = pretraining_shards_from(str(pretraining), detector, sets[0].descriptors.shape[1], out)
    atomic_write_text(out / SOURCES_FILE, json.dumps(image_sources(str(pretraining), dict(named)), indent=2) + "\n")
    verification = verification_inputs(named, out, config.verify, DEFAULT_CANDIDATE_FLOOR, 3, calibrated, log)
    summary = run_overlap_search(sets, shards, out, search, total, verification)
    summary.check(DEFAULT_MAX_SKIPPED_FRACTION, str(out / "skipped"))
    default = default_score_threshold(config.verify, calibrated)
    apply_thresholds(out, ThresholdOptions(default=default))
    atomic_write_text(out / DEFAULT_TABLE, (out / "overlap_table.csv").read_text())
    (out / "thresholds.json").replace(out / DEFAULT_THRESHOLDS)
    neighbours = pd.read_parquet(out / "neighbours.parquet")
    plants = pd.read_csv(config.out / "plants.csv", dtype=str)
    truth = set(zip(plants["eval_id"], plants["pretraining_id"]))
    # The oracle inspector: the best-scored pairs of every evaluation set, labelled from plants.csv.
    ordered = neighbours.sort_values(["score", "similarity", "eval_id", "pretraining_id"],
                                     ascending=[False, False, True, True], kind="mergesort")
    inspected = ordered.groupby("dataset", sort=False).head(config.labelled_pairs)
    labels = inspected.assign(is_duplicate=[int((e, p) in truth) for e, p in zip(inspected.eval_id, inspected.pretraining_id)])
    labels_path = out / "labels.csv"
    atomic_write_text(labels_path, labels[["dataset", "eval_id", "pretraining_id", "is_duplicate"]].to_csv(index=False))
    decisions = apply_thresholds(out, ThresholdOptions(labels=labels_path, default=default))
    write_summary(out, summary, decisions)
    rules = ", ".join(f"{name} {d.threshold:.3f} ({d.rule})" for name, d in decisions.items())
    log(f"overlap search done; {int(labels.is_duplicate.sum())} of {len(labels)} inspected pairs are copies; thresholds: {rules}")
    return out


def predict(config: DemoConfig, checkpoint: Path, eval_folders: dict[str, Path], log: Log) -> dict[str, Path]:
    """Stage 6: zero-shot predictions of the CLIP model on each evaluation set."""
    from clip_core.checkpoint import load
    from clip_core.data import open_classification
    from clip_core.data.synthetic import synthetic_task
    from clip_core.zeroshot import evaluate_zero_shot

    check_stage(config, "predictions")
    model = load(checkpoint)
    paths = {}
    for task, folder in eval_folders.items():
        path = config.out / "predictions" / f"{task}.csv"
        paths[task] = path
        if path.is_file():
            continue
        spec = synthetic_task(task, n=1)
        dataset = open_classification(str(folder), classnames=list(spec.classnames), templates=list(spec.templates))
        result = evaluate_zero_shot(model, dataset)
        predictions = pd.DataFrame(result.predictions, columns=["id", "prediction", "label", "correct"])
        atomic_write_text(path, predictions.assign(correct=predictions["correct"].astype(int)).to_csv(index=False))
        log(f"zero-shot {task}: acc1 {result.metrics['acc1']:.3f}")
    return paths


def detection(config: DemoConfig, table_path: Path, truth: set[str]) -> dict:
    """Flagged evaluation images of every set against the planted truth: counts, precision, recall, fractions."""
    overlap = pd.read_csv(table_path, dtype={"id": str})
    planted = overlap[overlap.dataset == config.planted_task]
    found = set(planted.loc[planted.in_overlap == 1, "id"])
    hits = len(found & truth)
    others = {name: int(group["in_overlap"].sum()) for name, group in overlap.groupby("dataset") if name != config.planted_task}
    return {
        "detected_overlap": len(found), "detection_precision": hits / len(found) if found else None,
        "detection_recall": hits / len(truth) if truth else None,
        "overlap_fraction": len(found) / len(planted) if len(planted) else None,
        "planted_fraction": len(truth) / len(planted) if len(planted) else None,
        "flagged_in_other_sets": others,
    }


def summarise(config: DemoConfig, overlap_dir: Path, table: pd.DataFrame, log: Log = print) -> dict:
    """Detected overlap against the planted truth (default and label-fitted thresholds), plus the contamination table."""
    plants = pd.read_csv(config.out / "plants.csv", dtype=str)
    truth = set(plants["eval_id"])
    at_default = detection(config, overlap_dir / DEFAULT_TABLE, truth)
    fitted = detection(config, overlap_dir / "overlap_table.csv", truth)
    gap = None if at_default["overlap_fraction"] is None else abs(at_default["overlap_fraction"] - at_default["planted_fraction"])
    if gap is not None and gap > 0.03:
        log(f"warning: at the default threshold the audit flags {at_default['overlap_fraction']:.1%} of "
            f"{config.planted_task}, {at_default['planted_fraction']:.1%} were planted (more than 3 points apart)")
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "planted_eval_images": len(truth), **fitted,
        "at_default_threshold": {**at_default, "thresholds": json.loads((overlap_dir / DEFAULT_THRESHOLDS).read_text())},
        "thresholds": json.loads((overlap_dir / "thresholds.json").read_text()),
        "contamination": json.loads(table.to_json(orient="records")),
    }


def run_probes(config: DemoConfig, log: Log) -> dict:
    """Stage 7: every bias probe on the built-in fixture, with the planted-bias model; returns each probe's files."""
    from audit.probes.demo_fixture import build_probe_fixture, run_fixture_probes, train_planted_bias_model

    check_stage(config, "probes")
    root = config.out / "probes"
    done = root / "probes.json"
    if done.is_file():
        return json.loads(done.read_text())
    fixture = build_probe_fixture(root / "fixture", seed=config.seed)
    checkpoint = train_planted_bias_model(fixture, root / "model", steps=config.probe_steps)
    written = run_fixture_probes(fixture, checkpoint, root)
    files = {name: {"files": {k: str(v) for k, v in entry["files"].items()}, "warnings": entry["warnings"]}
             for name, entry in written.items()}
    atomic_write_text(done, json.dumps(files, indent=2) + "\n")
    log(f"bias probes: {', '.join(files)} written to {root} (planted group {fixture.planted_group} flagged)")
    return files


def run_demo(config: DemoConfig, log: Log = print) -> dict:
    """Run every stage (resuming) and return the summary written to demo_summary.json."""
    from audit.contamination import contamination_table
    from audit.contamination_inputs import ContaminationInputs, build_rows
    from audit.results_io import print_table, write_table

    config.out.mkdir(parents=True, exist_ok=True)
    eval_folders = build_eval_sets(config, log)
    pretraining = build_pretraining(config, eval_folders[config.planted_task], log)
    checkpoint = train_clip(config, pretraining, log)
    overlap_dir = run_overlap(config, eval_folders, pretraining, config.detector, log)
    predictions = predict(config, checkpoint, eval_folders, log)
    rows = build_rows(ContaminationInputs(overlap_table=overlap_dir / "overlap_table.csv", predictions=predictions))
    table = contamination_table(rows)
    write_table(table, config.out / "results", "contamination")
    print_table(table, title="Contamination of the demo's evaluation sets")
    summary = summarise(config, overlap_dir, table, log)
    summary["probes"] = run_probes(config, log)
    atomic_write_text(config.out / "demo_summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
