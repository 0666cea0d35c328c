"""`clip-audit overlap` and `clip-audit decontaminate`: find evaluation images in pre-training data."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from clip_core.skip_check import DEFAULT_MAX_SKIPPED_FRACTION, TooManySkipped, skipped_fraction, validate_fraction
from clip_core.atomic_files import atomic_write_text
from audit.cli_params import flag, parse_score_thresholds, positive_count, precision_target, similarity_value
from audit.contamination_inputs import parse_assignment
from audit.inspect_page import SOURCES_FILE
from audit.overlap_inputs import eval_set_from, image_sources, pretraining_shards_from
from clip_core.engines import ShardsFailed, build_engine
from audit import engine_cli
from audit.overlap_pipeline import (
    FAILED_SHARDS_FILE,
    ThresholdOptions,
    apply_thresholds,
    read_decisions,
    decontamination_list,
    run_overlap_search,
    write_summary,
)
from audit.overlap_run import OverlapSummary
from audit.overlap_settings import check_overlap_settings
from audit.overlap_search import SearchConfig
from audit.overlap_verify import (
    DEFAULT_CANDIDATE_FLOOR,
    default_score_threshold,
    second_stage_settings,
    verifiable,
    verification_inputs,
)
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
    top_k: int = typer.Option(5, "--top-k", help="Neighbours kept per evaluation example.", callback=positive_count),
    index: str = typer.Option("flat", "--index", help="flat (exact inner product) or ivf (faiss IVF, for millions of evaluation images)."),
    threshold: Optional[List[str]] = typer.Option(None, "--threshold", help="NAME=VALUE: an explicit threshold on the score, in [0, 1] (--no-verify: the similarity, in [-1, 1]) (repeatable)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.csv from `clip-audit inspect` to fit thresholds."),
    default_threshold: Optional[float] = typer.Option(None, "--default-threshold", help="Threshold for datasets without --threshold or labels (default: the detector's calibrated one).", callback=similarity_value),
    target_precision: float = typer.Option(0.95, "--target-precision", help="Precision a labels-fitted threshold must keep.", callback=precision_target),
    verify: bool = flag(True, "--verify/--no-verify", help="Verify candidate pairs with local features (two-stage score); --no-verify: global similarity only."),
    candidate_floor: float = typer.Option(DEFAULT_CANDIDATE_FLOOR, "--candidate-floor", help="Pairs whose global similarity reaches this are verified."),
    candidates_per_set: int = typer.Option(3, "--candidates-per-set", help="Each pre-training item's best evaluation examples verified per set."),
    overwrite: bool = flag(False, "--overwrite/--no-overwrite", help="Clear the results in --out (labels.csv is kept) and start over; a rerun with other settings is refused without it."),
    max_skipped_fraction: float = typer.Option(DEFAULT_MAX_SKIPPED_FRACTION, "--max-skipped-fraction", help="Exit non-zero when more than this fraction of the pre-training items is unreadable."),
    engine: str = engine_cli.ENGINE,
    ray_address: Optional[str] = engine_cli.RAY_ADDRESS,
    ray_workers: Optional[int] = engine_cli.RAY_WORKERS,
    shard_retries: int = engine_cli.SHARD_RETRIES,
) -> None:
    """Search every evaluation set's near-duplicates in the pre-training data, shard by shard, and verify candidates."""
    try:
        config = SearchConfig(top_k=top_k, index=index)  # type: ignore[arg-type]
        shard_engine = build_engine(engine_cli.engine_options(engine, ray_address, ray_workers, shard_retries))
        named = [parse_assignment(text, "--eval") for text in eval_sets]
        if verify and not verifiable(pretraining, named):
            typer.echo("note: no pixels to verify (descriptor folders on the pre-training side or on every evaluation "
                       "set): pairs are scored by their global similarity, as with --no-verify", err=True)
            verify = False
        explicit = parse_score_thresholds(threshold or [], verify)
        validate_fraction(max_skipped_fraction)
        verify_settings = second_stage_settings(verify, candidate_floor, candidates_per_set)
        check_overlap_settings(out, pretraining, dict(named), detector, config, verify_settings, overwrite)
        sets, default_from_detector = [], None
        for name, source in named:
            eval_set, calibrated = eval_set_from(name, source, detector, out)
            sets.append(eval_set)
            default_from_detector = default_from_detector if calibrated is None else calibrated
        shards, total = pretraining_shards_from(pretraining, detector, sets[0].descriptors.shape[1], out)
        atomic_write_text(out / SOURCES_FILE, json.dumps(image_sources(pretraining, dict(named)), indent=2) + "\n")
        verification = verification_inputs(named, out, verify, candidate_floor, candidates_per_set, default_from_detector,
                                           lambda line: typer.echo(line, err=True))
        summary: OverlapSummary = run_overlap_search(sets, shards, out, config, total, verification, shard_engine)
        if summary.pretraining_items == 0:
            summary.check(max_skipped_fraction, str(out / "skipped"))
        detector_default = default_score_threshold(verify, default_from_detector)
        options = ThresholdOptions(
            explicit=explicit, labels=labels,
            default=default_threshold if default_threshold is not None else detector_default,
            target_precision=target_precision,
        )
        decisions = apply_thresholds(out, options)
        summary_path = write_summary(out, summary, decisions)
    except ShardsFailed as error:
        typer.echo(f"error: {error} (listed in {out / FAILED_SHARDS_FILE})", err=True)
        raise typer.Exit(code=1) from error
    except (ValueError, FileNotFoundError) as error:
        raise _fail(error) from error
    import pandas as pd

    rows = [{"dataset": d.dataset, "threshold": d.threshold, "rule": d.rule, "precision": d.precision, "recall": d.recall} for d in decisions.values()]
    print_table(pd.DataFrame(rows), title="Thresholds")
    report = json.loads(summary_path.read_text())
    for warning in report.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    flagged = ", ".join(f"{name} {d['n_overlap']}/{d['n_eval']} ({d['n_overlap_verified']} verified)"
                        for name, d in report["datasets"].items())
    unreadable = skipped_fraction(summary.pretraining_items, summary.pretraining_skipped)
    typer.echo(
        f"searched {summary.shards_searched} shard(s), skipped {summary.shards_skipped} already done, "
        f"{summary.pretraining_items} pre-training item(s) streamed, {summary.pretraining_skipped} unreadable "
        f"({unreadable:.1%}, listed in {out / 'skipped'}), {len(summary.empty_shards)} shard(s) with nothing readable; "
        f"overlap {flagged}; results in {out} (see {summary_path.name})"
    )
    try:
        summary.check(max_skipped_fraction, str(out / "skipped"))
    except TooManySkipped as error:
        raise _fail(error) from error


def decontaminate(
    overlap_dir: Path = typer.Option(..., "--overlap", help="Output folder of `clip-audit overlap`."),
    out: Path = typer.Option(..., "--out", help="CSV to write: pretraining_id, dataset, eval_id, similarity."),
    threshold: Optional[List[str]] = typer.Option(None, "--threshold", help="NAME=VALUE: override a dataset's threshold (repeatable)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="labels.csv to refit thresholds from."),
    target_precision: float = typer.Option(0.95, "--target-precision", help="Precision a labels-fitted threshold must keep.", callback=precision_target),
) -> None:
    """List the pre-training items at or above each dataset's threshold, one row per matched pair."""
    try:
        if threshold or labels:
            previous = {name: d.threshold for name, d in read_decisions(overlap_dir).items()}
            explicit = parse_score_thresholds(threshold or [], None)
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
