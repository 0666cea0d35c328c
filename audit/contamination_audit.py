"""The image-mode contamination audit end to end: overlap, predictions, statistics, figure, provenance.

``run_image_audit(config, command_line)`` writes into ``config.out`` (see the README for every column):
``contamination.csv`` / ``.json``, ``overlap_examples.csv``, ``composition.csv``, ``drop.csv``,
``figure_overlap.png`` / ``.svg`` and ``provenance.json``, beside the overlap stage's own files.
Every file is written atomically; a rerun reuses the overlap search and stored predictions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from clip_core.atomic_files import atomic_write_text
from audit.composition import class_composition, class_mix_distance
from audit.contamination_config import ImageAuditConfig
from audit.contamination_figure import plot_overlap_figure
from audit.contamination_images import OverlapStage, example_rows, run_overlap_stage, source_labels
from audit.contamination_inputs import read_labelled_predictions
from audit.contamination_predictions import builtin_prompts, zero_shot_predictions
from audit.contamination_report import audit_table, dataset_sections, plausibility_warnings
from audit.overlap_pipeline import decontamination_list
from audit.provenance import Provenance, sha256_path, write_provenance
from detector.descriptor_files import is_descriptor_dir

Log = Callable[[str], None]


@dataclass(frozen=True)
class AuditResult:
    """What an image-mode audit produced."""

    table: pd.DataFrame
    files: tuple[Path, ...]
    warnings: tuple[str, ...]


def _prediction_files(config: ImageAuditConfig, log: Log) -> tuple[dict[str, Path], dict[str, dict[str, str | None]]]:
    """The predictions CSV of every evaluation set (zero-shot with --model), and the prompts used."""
    if config.model is None:
        return {name: Path(path) for name, path in config.predictions.items()}, {}
    descriptors = [name for name, source in config.eval_sources.items() if is_descriptor_dir(Path(source))]
    if descriptors:
        raise ValueError(f"--model needs images, but --eval {descriptors[0]} is a descriptor folder; "
                         "pass --predictions NAME=CSV for it instead")
    prompts = {name: builtin_prompts(name, config.classnames.get(name), config.templates.get(name))
               for name in config.eval_sources}
    paths = zero_shot_predictions(config.model, config.eval_sources, prompts, config.out, config.batch_size,
                                  config.device, log)
    return paths, {name: {"classnames": p.classnames, "templates": p.templates} for name, p in prompts.items()}


def _provenance(config: ImageAuditConfig, stage: OverlapStage, command_line: Sequence[str],
                predictions: dict[str, Path], prompts: dict[str, dict[str, str | None]]) -> dict[str, object]:
    """The provenance record embedded in the JSON and the figure, and written to provenance.json."""
    inputs: dict[str, object] = {
        "pretraining": config.pretraining, "eval": dict(config.eval_sources),
        "predictions": {n: {"path": str(p), "sha256": sha256_path(p)} for n, p in predictions.items()},
        "labels": {"path": str(config.labels), "sha256": sha256_path(config.labels)} if config.labels else None,
    }
    settings = {
        "thresholds": {n: {"threshold": d.threshold, "rule": d.rule} for n, d in stage.decisions.items()},
        "target_precision": config.target_precision, "confidence": config.confidence, "top_k": config.top_k,
        "bootstrap_resamples": config.bootstrap_resamples, "prompts": prompts,
        "threshold_column": "score (the two-stage score) when the overlap stage wrote one, else similarity",
    }
    record = Provenance(tuple(command_line), seed=config.seed, model=str(config.model) if config.model else None,
                        detector=config.detector if stage.uses_detector else None, inputs=inputs, settings=settings)
    return record.to_dict()


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table atomically with the float format of the other result tables."""
    atomic_write_text(path, frame.to_csv(index=False, float_format="%.10g"))
    return path


def run_image_audit(config: ImageAuditConfig, command_line: Sequence[str], log: Log = print) -> AuditResult:
    """Run (or resume) the whole audit and write every result file into config.out."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    given = {name: read_labelled_predictions(Path(path)) for name, path in config.predictions.items()}  # fail early
    stage = run_overlap_stage(config, log)
    paths, prompts = _prediction_files(config, log)
    frames = given or {name: read_labelled_predictions(path) for name, path in paths.items()}
    labels = {name: None if "label" in frames[name].columns else source_labels(config.eval_sources[name]) for name in frames}
    examples = example_rows(stage, frames, labels)
    table = audit_table(examples, stage.decisions, config.confidence)
    composition = class_composition(examples)
    skipped = {name: len(ids) for name, ids in stage.skipped_eval.items()}
    sections = dataset_sections(table, examples, stage.decisions, class_mix_distance(composition), skipped,
                                config.confidence, config.bootstrap_resamples, config.seed)
    warnings = plausibility_warnings(table, examples, stage.decisions)
    provenance = _provenance(config, stage, command_line, paths, prompts)
    document = {
        "provenance": provenance, "datasets": sections,
        "no_overlap": [str(n) for n in table.loc[table["n_overlap"] == 0, "dataset"]],
        "multiple_testing": {"family": "datasets with a test", "methods": ["bonferroni", "holm"],
                             "n_tests": int(table["p_value"].notna().sum())},
        "unreadable_pretraining_images": stage.skipped_pretraining, "warnings": warnings,
    }
    files = [
        _write_csv(table, out / "contamination.csv"),
        out / "contamination.json",
        _write_csv(examples.assign(in_overlap=examples["in_overlap"].astype(int), correct=examples["correct"].astype(int)),
                   out / "overlap_examples.csv"),
        _write_csv(composition, out / "composition.csv"),
        _write_csv(decontamination_list(out), out / "drop.csv"),
    ]
    atomic_write_text(files[1], json.dumps(document, indent=2, default=str) + "\n")
    files += plot_overlap_figure(table, out, provenance, config.confidence)
    files.append(write_provenance(out, provenance, files))
    return AuditResult(table, tuple(files), tuple(warnings))
