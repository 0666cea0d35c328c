"""`clip-audit overlap` and `clip-audit decontaminate`: find evaluation images in pre-training data."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from clip_core.atomic_files import atomic_write_text
from audit.commands.contamination import _parse_thresholds
from audit.contamination_inputs import parse_assignment
from audit.inspect_page import SOURCES_FILE
from audit.overlap_inputs import eval_set_from, image_sources, pretraining_shards_from
from audit.overlap_pipeline import (
    ThresholdOptions,
    apply_thresholds,
    read_decisions,
    decontamination_list,
    run_overlap_search,
    write_summary,
)
from audit.overlap_run import OverlapSummary
from audit.overlap_search import SearchConfig
from audit.results_io import print_table


def _fail(error: Exception) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=2)


def overlap(
    pretraining: str = typer.Option(..., "--pretraining", help="Pre-training images (folder, CSV, WebDataset shards) or a descriptor folder."),
    eval_sets: List[str] = typer.Option(..., "--eval", help="NAME=SOURCE: an evaluation set as images or descriptors (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Output folder (a rerun resumes where the last one stopped)."),
    detector: str = typer.Option("default", "--detector", help="default, PATH to a detector checkpoint, or sscd:PATH."),
    top_k: int = typer.Option(5, "--top-k", help="Neighbours kept per evaluation example."),
    index: str = typer.Option("flat", "--index", help="flat (exact inner product) or ivf (faiss IVF, for millions of evaluation images)."),
    threshold: Optional[List[str]] = typer.Option(None, "--threshold", help="NAME=VALUE: an explicit threshold (repeatable)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.csv from `clip-audit inspect` to fit thresholds."),
    default_threshold: Optional[float] = typer.Option(None, "--default-threshold", help="Threshold for datasets without --threshold or labels (default: the detector's calibrated one)."),
    target_precision: float = typer.Option(0.95, "--target-precision", help="Precision a labels-fitted threshold must keep."),
) -> None:
    """Search every evaluation set's near-duplicates in the pre-training data, shard by shard."""
    try:
        config = SearchConfig(top_k=top_k, index=index)  # type: ignore[arg-type]
        named = [parse_assignment(text, "--eval") for text in eval_sets]
        sets, default_from_detector = [], None
        for name, source in named:
            eval_set, calibrated = eval_set_from(name, source, detector, out)
            sets.append(eval_set)
            default_from_detector = default_from_detector if calibrated is None else calibrated
        shards, total = pretraining_shards_from(pretraining, detector, sets[0].descriptors.shape[1], out)
        atomic_write_text(out / SOURCES_FILE, json.dumps(image_sources(pretraining, dict(named)), indent=2) + "\n")
        summary: OverlapSummary = run_overlap_search(sets, shards, out, config, total)
        options = ThresholdOptions(
            explicit=_parse_thresholds(threshold or []), labels=labels,
            default=default_threshold if default_threshold is not None else default_from_detector,
            target_precision=target_precision,
        )
        decisions = apply_thresholds(out, options)
        summary_path = write_summary(out, summary, decisions)
    except (ValueError, FileNotFoundError) as error:
        raise _fail(error) from error
    import pandas as pd

    rows = [{"dataset": d.dataset, "threshold": d.threshold, "rule": d.rule, "precision": d.precision, "recall": d.recall} for d in decisions.values()]
    print_table(pd.DataFrame(rows), title="Thresholds")
    typer.echo(
        f"searched {summary.shards_searched} shard(s), skipped {summary.shards_skipped} already done, "
        f"{summary.pretraining_items} pre-training item(s) streamed; results in {out} (see {summary_path.name})"
    )


def decontaminate(
    overlap_dir: Path = typer.Option(..., "--overlap", help="Output folder of `clip-audit overlap`."),
    out: Path = typer.Option(..., "--out", help="CSV to write: pretraining_id, dataset, eval_id, similarity."),
    threshold: Optional[List[str]] = typer.Option(None, "--threshold", help="NAME=VALUE: override a dataset's threshold (repeatable)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.csv to refit thresholds from."),
    target_precision: float = typer.Option(0.95, "--target-precision", help="Precision a labels-fitted threshold must keep."),
) -> None:
    """List the pre-training items at or above each dataset's threshold, one row per matched pair."""
    try:
        if threshold or labels:
            previous = {name: d.threshold for name, d in read_decisions(overlap_dir).items()}
            explicit = _parse_thresholds(threshold or [])
            options = ThresholdOptions(explicit=explicit, labels=labels, default=previous, target_precision=target_precision)
            apply_thresholds(overlap_dir, options)
        drop = decontamination_list(overlap_dir)
    except (ValueError, FileNotFoundError) as error:
        raise _fail(error) from error
    atomic_write_text(out, drop.to_csv(index=False))
    typer.echo(f"{drop['pretraining_id'].nunique()} pre-training item(s) to drop ({len(drop)} pair(s)); wrote {out}")


def register(app: typer.Typer) -> None:
    """Add the `overlap` and `decontaminate` commands to the application."""
    app.command("overlap")(overlap)
    app.command("decontaminate")(decontaminate)
