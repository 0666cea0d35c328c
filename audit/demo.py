"""`clip-audit demo`: the whole contamination audit on the built-in synthetic world.

Stages (each skipped when its output exists, so a rerun resumes):

1. ``eval/<task>/``: evaluation sets of synthetic classification tasks, as ImageFolders.
2. ``pretraining/*.tar``: a synthetic captioned pre-training stream as WebDataset shards, with
   augmented copies of part of one evaluation set planted in it (``plants.csv`` is the truth).
3. ``clip/``: a tiny CLIP trained with clip_core on the pre-training shards (own BPE vocabulary).
4. ``detector/``: a tiny near-duplicate detector trained on the pre-training images, its default
   threshold calibrated on held-out augmented copies among distractors (precision >= 0.95).
5. ``overlap/``: the overlap search; an oracle "inspector" labels the most similar pairs of every
   evaluation set from ``plants.csv`` (what a person does with `clip-audit inspect`) and each
   set's threshold is fitted to those labels.
6. ``predictions/<task>.csv``: zero-shot predictions of the CLIP model on each evaluation set.
7. ``results/contamination.{csv,json}``: the Clean/Overlap/All table; ``demo_summary.json``.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from clip_core.atomic_files import atomic_write_text

Log = Callable[[str], None]


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
    detector_steps: int = 500
    detector_batch: int = 48
    detector_dim: int = 128
    calibration_references: int = 300
    calibration_queries: int = 60
    labelled_pairs: int = 150
    extra: dict = field(default_factory=dict)

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


def _task_location(config: DemoConfig, task: str, seed_offset: int = 0) -> str:
    return f"synthetic:{task}?n={config.eval_per_task}&seed={config.seed + seed_offset}&size={config.image_size}"


def build_eval_sets(config: DemoConfig, log: Log) -> dict[str, Path]:
    """Stage 1: write each task's evaluation set as an ImageFolder."""
    from clip_core.data import open_source
    from clip_core.data.writers import write_image_folder

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


def _calibration_set(config: DemoConfig, root: Path) -> tuple[Path, Path, Path]:
    """Held-out references (another seed space) and augmented copies of some of them."""
    from clip_core.data import open_source
    from clip_core.data.writers import write_image_folder

    references = list(open_source(f"synthetic:train?n={config.calibration_references}&seed={config.seed + 1000}&size={config.image_size}"))
    write_image_folder([(f"ref{i:05d}", e.image, None) for i, e in enumerate(references)], root / "references")
    rng = np.random.default_rng(config.seed + 1)
    picked = rng.choice(len(references), config.calibration_queries, replace=False)
    import random

    queries = [(f"q{i:05d}", plant_augment(references[r].image, random.Random(int(r))), None) for i, r in enumerate(picked)]
    write_image_folder(queries, root / "queries")
    truth = pd.DataFrame({"query_id": [f"q{i:05d}.png" for i in range(len(picked))],
                          "reference_id": [f"ref{r:05d}.png" for r in picked]})
    atomic_write_text(root / "ground_truth.csv", truth.to_csv(index=False))
    return root / "references", root / "queries", root / "ground_truth.csv"


def train_detector(config: DemoConfig, pretraining: Path, log: Log) -> Path:
    """Stage 4: a tiny detector trained on the pre-training images, threshold calibrated at precision 0.95."""
    from detector.checkpoint import load_detector, save_detector
    from detector.config import TINY, DetectorConfig
    from detector.augment import TrainAugment
    from detector.evaluate import evaluate_method
    from detector.losses import LossConfig
    from detector.train import TrainConfig, train_detector as fit

    folder = config.out / "detector"
    exported = folder / "demo-detector.pt"
    if exported.is_file():
        return exported
    detector_config = DetectorConfig(variant="paper", dim=config.detector_dim, input_size=config.image_size, trunk=TINY)
    # A light recipe: the synthetic world tells images apart mostly by colour and layout, so the
    # detector must not learn to ignore them (no grayscale, hue-preserving jitter, no overlays).
    augment = TrainAugment(size=config.image_size, crop_min_area=0.5, p_aspect=0.2, p_rotate_small=0.1,
                           p_rotate_right=0.0, p_flip=0.0, p_colour=0.3, p_grayscale=0.0, p_text=0.0,
                           p_shapes=0.0, p_border=0.05)
    result = fit(str(pretraining), folder / "train", detector_config, loss=LossConfig(entropy_weight=10.0),
                 augment=augment,
                 train=TrainConfig(batch_size=config.detector_batch, max_steps=config.detector_steps, epochs=100_000,
                                   lr=2e-3, num_workers=0, seed=config.seed, warmup_steps=max(1, config.detector_steps // 10)))
    trained = folder / "train" / "detector.pt"
    references, queries, truth = _calibration_set(config, folder / "calibration")
    report = evaluate_method(str(trained), str(references), str(queries), truth, calibrate_precision=0.95, device="cpu")
    threshold = report.calibration["threshold"] if report.calibration else None
    model = load_detector(trained)
    metadata = {"threshold": threshold, "calibration": report.to_dict(), "trained_steps": config.detector_steps}
    save_detector(model, exported, metadata=metadata, fold=True)
    log(f"detector trained for {result.steps} steps, calibration µAP {report.overall.micro_ap:.3f}, "
        f"threshold {threshold} at precision 0.95: {exported}")
    return exported


def run_overlap(config: DemoConfig, eval_folders: dict[str, Path], pretraining: Path, detector: Path, log: Log) -> Path:
    """Stage 5: overlap search, oracle labels for the planted set, thresholds."""
    from audit.overlap_inputs import eval_set_from, image_sources, pretraining_shards_from
    from audit.overlap_pipeline import ThresholdOptions, apply_thresholds, run_overlap_search, write_summary
    from audit.inspect_page import SOURCES_FILE
    from audit.overlap_search import SearchConfig

    out = config.out / "overlap"
    sets, calibrated = [], None
    for task, folder in eval_folders.items():
        eval_set, calibrated = eval_set_from(task, str(folder), str(detector), out)
        sets.append(eval_set)
    shards, total = pretraining_shards_from(str(pretraining), str(detector), sets[0].descriptors.shape[1], out)
    sources = image_sources(str(pretraining), {task: str(folder) for task, folder in eval_folders.items()})
    atomic_write_text(out / SOURCES_FILE, json.dumps(sources, indent=2) + "\n")
    summary = run_overlap_search(sets, shards, out, SearchConfig(top_k=5), total)
    neighbours = pd.read_parquet(out / "neighbours.parquet")
    plants = pd.read_csv(config.out / "plants.csv", dtype=str)
    truth = set(zip(plants["eval_id"], plants["pretraining_id"]))
    # The oracle inspector: the most similar pairs of every evaluation set, labelled from plants.csv.
    ordered = neighbours.sort_values(["similarity", "eval_id", "pretraining_id"], ascending=[False, True, True], kind="mergesort")
    inspected = ordered.groupby("dataset", sort=False).head(config.labelled_pairs)
    labels = inspected.assign(is_duplicate=[int((e, p) in truth) for e, p in zip(inspected.eval_id, inspected.pretraining_id)])
    labels_path = out / "labels.csv"
    atomic_write_text(labels_path, labels[["dataset", "eval_id", "pretraining_id", "is_duplicate"]].to_csv(index=False))
    decisions = apply_thresholds(out, ThresholdOptions(labels=labels_path, default=calibrated))
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


def summarise(config: DemoConfig, overlap_dir: Path, table: pd.DataFrame) -> dict:
    """Detected overlap against the planted truth, plus the contamination table."""
    plants = pd.read_csv(config.out / "plants.csv", dtype=str)
    overlap = pd.read_csv(overlap_dir / "overlap_table.csv", dtype={"id": str})
    found = set(overlap.loc[(overlap.dataset == config.planted_task) & (overlap.in_overlap == 1), "id"])
    truth = set(plants["eval_id"])
    hits = len(found & truth)
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "planted_eval_images": len(truth), "detected_overlap": len(found),
        "detection_precision": hits / len(found) if found else None,
        "detection_recall": hits / len(truth) if truth else None,
        "thresholds": json.loads((overlap_dir / "thresholds.json").read_text()),
        "contamination": json.loads(table.to_json(orient="records")),
    }


def run_demo(config: DemoConfig, log: Log = print) -> dict:
    """Run every stage (resuming) and return the summary written to demo_summary.json."""
    from audit.contamination import contamination_table
    from audit.contamination_inputs import ContaminationInputs, build_rows
    from audit.results_io import print_table, write_table

    config.out.mkdir(parents=True, exist_ok=True)
    eval_folders = build_eval_sets(config, log)
    pretraining = build_pretraining(config, eval_folders[config.planted_task], log)
    checkpoint = train_clip(config, pretraining, log)
    detector = train_detector(config, pretraining, log)
    overlap_dir = run_overlap(config, eval_folders, pretraining, detector, log)
    predictions = predict(config, checkpoint, eval_folders, log)
    rows = build_rows(ContaminationInputs(overlap_table=overlap_dir / "overlap_table.csv", predictions=predictions))
    table = contamination_table(rows)
    write_table(table, config.out / "results", "contamination")
    print_table(table, title="Contamination of the demo's evaluation sets")
    summary = summarise(config, overlap_dir, table)
    atomic_write_text(config.out / "demo_summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
