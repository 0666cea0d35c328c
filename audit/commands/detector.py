"""`clip-audit detector train | eval | export`: the near-duplicate detector's own commands."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from audit.cli_params import flag, positive_count, precision_target

detector_app = typer.Typer(help="Train, evaluate, match with and export the near-duplicate detector.", no_args_is_help=True)


LOCAL_PER_QUERY = 5
LOCAL_HELP = ("With verification: also verify up to this many references per query that share the most local "
              "descriptors with it (at least 10 votes; 0: global candidates only; detector/local_candidates.py).")


def local_config(per_query: int) -> "LocalCandidateConfig":
    """The local-descriptor candidate settings for `--local-candidates N`."""
    from detector.local_candidates import LocalCandidateConfig

    return LocalCandidateConfig(per_query=per_query)


def _fail(error: Exception) -> typer.Exit:
    """Print a one-line error and return the exit to raise."""
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=2)


@detector_app.command("train")
def train(
    images: str = typer.Option(..., "--images", help="Training images: folder, CSV manifest, WebDataset shards or synthetic:<task>."),
    out: Path = typer.Option(..., "--out", help="Output folder (checkpoint.pt, metrics.jsonl, detector.pt); a rerun resumes."),
    variant: str = typer.Option("paper", "--variant", help="paper (blur pooling, weight norm, GELU) or sscd (batch norm, GeM)."),
    trunk: str = typer.Option("resnet50", "--trunk", help="resnet50 (default), resnet18 or tiny."),
    dim: int = typer.Option(512, "--dim", help="Descriptor size."),
    input_size: int = typer.Option(224, "--input-size", help="Training and inference resolution (use e.g. 96-160 on CPU)."),
    batch_size: int = typer.Option(256, "--batch-size", help="Images per batch (two views each)."),
    epochs: int = typer.Option(10, "--epochs"),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many optimiser steps."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak AdamW learning rate (linear warm-up, cosine decay)."),
    warmup_steps: int = typer.Option(100, "--warmup-steps"),
    temperature: float = typer.Option(0.07, "--temperature", help="Fixed InfoNCE temperature (paper 0.07, SSCD 0.05)."),
    entropy_weight: float = typer.Option(0.0, "--entropy-weight", help="SSCD entropy regulariser weight (0 = off; SSCD 30, ~10 advised)."),
    all_views: bool = flag(False, "--all-views/--pairs", help="NT-Xent over all 2N views instead of CLIP's symmetric pair loss."),
    recipe: str = typer.Option("standard", "--recipe", help="Augmentation recipe: standard, or photo-tiles (tiles of one image as hard negatives, half darkened or flattened)."),
    input_mode: str = typer.Option("rgb", "--input-mode", help="rgb, or luma (per-image standardised luminance)."),
    p_mixup: float = typer.Option(0.0, "--p-mixup", help="Probability of mixing another image into a view."),
    workers: int = typer.Option(2, "--workers", help="Data-loading worker processes."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (bf16 autocast and channels_last on CUDA)."),
    seed: int = typer.Option(0, "--seed"),
    checkpoint_every: int = typer.Option(200, "--checkpoint-every", help="Steps between checkpoints."),
    format: Optional[str] = typer.Option(None, "--format", help="Override the detected source format."),
    init_from: Optional[str] = typer.Option(None, "--init-from", help="Start from the weights of another run (its checkpoint.pt or detector.pt; same architecture) with a fresh optimiser and schedule."),
) -> None:
    """Train a detector with InfoNCE on augmented pairs; resumable from DIR/checkpoint.pt."""
    from dataclasses import replace

    from detector.augment import RECIPES
    from detector.config import TRUNKS, DetectorConfig
    from detector.losses import LossConfig
    from detector.train import TrainConfig, train_detector

    try:
        if trunk not in TRUNKS:
            raise ValueError(f"--trunk must be one of {', '.join(TRUNKS)}, got {trunk!r}")
        if recipe not in RECIPES:
            raise ValueError(f"--recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
        det = DetectorConfig(variant=variant, dim=dim, input_size=input_size, trunk=TRUNKS[trunk], input_mode=input_mode)
        loss = LossConfig(temperature=temperature, entropy_weight=entropy_weight, all_views=all_views)
        cfg = TrainConfig(batch_size=batch_size, epochs=epochs, max_steps=max_steps, lr=lr, warmup_steps=warmup_steps,
                          num_workers=workers, seed=seed, checkpoint_every=checkpoint_every, device=device, format=format,
                          init_from=init_from)
        result = train_detector(images, out, det, loss, cfg, replace(RECIPES[recipe], size=input_size, p_mixup=p_mixup))
    except (ValueError, FileNotFoundError) as error:
        raise _fail(error) from error
    if result.already_done:
        typer.echo(f"already trained: {result.detector_path} ({result.steps} steps)")
    else:
        typer.echo(f"trained {result.steps} steps; detector: {result.detector_path}; metrics: {out / 'metrics.jsonl'}")


@detector_app.command("eval")
def evaluate(
    references: str = typer.Option(..., "--references", help="Reference images (any source) or an embed output folder."),
    queries: str = typer.Option(..., "--queries", help="Query images (any source) or an embed output folder."),
    ground_truth: Path = typer.Option(..., "--ground-truth", help="CSV with query_id,reference_id[,family]."),
    method: str = typer.Option("default", "--method", help="default, PATH, sscd:PATH, phash, dhash, ahash, whash or clip:CKPT."),
    top_k: int = typer.Option(10, "--top-k", help="Predictions kept per query.", callback=positive_count),
    batch_size: int = typer.Option(64, "--batch-size"),
    device: str = typer.Option("auto", "--device"),
    out: Optional[Path] = typer.Option(None, "--out", help="Also write the report as JSON to this file."),
    calibrate: Optional[float] = typer.Option(None, "--calibrate", help="Also print the threshold reaching this precision (e.g. 0.95).", callback=precision_target),
    verify: bool = flag(False, "--verify/--no-verify", help="Detector methods: also report the two-stage score (top candidates verified with local features)."),
    candidates: int = typer.Option(20, "--candidates", help="With --verify: candidates verified per query."),
    local_candidates: int = typer.Option(LOCAL_PER_QUERY, "--local-candidates", min=0, help=LOCAL_HELP),
) -> None:
    """Print µAP, recall@P90 and µAP per transform family (ISC 2021 definitions)."""
    from detector.evaluate import evaluate_method, format_report

    try:
        if verify:
            from detector.evaluate_two_stage import evaluate_two_stage
            from detector.match import TwoStageConfig

            reports = list(evaluate_two_stage(method, references, queries, ground_truth, top_k, batch_size, device,
                                              calibrate, TwoStageConfig(top_k=candidates, local=local_config(local_candidates)),
                                              progress=True))
        else:
            reports = [evaluate_method(method, references, queries, ground_truth, top_k, batch_size, device, calibrate)]
    except (ValueError, FileNotFoundError) as error:
        raise _fail(error) from error
    for report in reports:
        typer.echo(format_report(report))
    if out is not None:
        from clip_core.atomic_files import atomic_write_text

        payload = reports[0].to_dict() if len(reports) == 1 else {"global": reports[0].to_dict(), "two_stage": reports[1].to_dict()}
        atomic_write_text(out, json.dumps(payload, indent=2) + "\n")
        typer.echo(f"report: {out}")


@detector_app.command("match")
def match(
    references: str = typer.Option(..., "--references", help="Reference images (any source)."),
    queries: str = typer.Option(..., "--queries", help="Query images (any source)."),
    out: Path = typer.Option(..., "--out", help="Output folder: matches.csv, match_summary.json, reference_features/."),
    detector: str = typer.Option("default", "--detector", help="default, PATH to a detector checkpoint, or sscd:PATH."),
    top_k: int = typer.Option(20, "--top-k", min=1, help="Candidates per query, by global similarity."),
    verify: bool = flag(True, "--verify/--no-verify", help="Verify candidates with local features (--no-verify: global similarity only)."),
    candidate_floor: float = typer.Option(-1.0, "--candidate-floor", help="Candidates below this global similarity are not verified."),
    local_candidates: int = typer.Option(LOCAL_PER_QUERY, "--local-candidates", min=0, help=LOCAL_HELP),
    batch_size: int = typer.Option(64, "--batch-size"),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """For each query, its top-k references by global similarity (and its best-voted by local descriptors), verified; writes OUT/matches.csv (ISC 2021 format)."""
    from detector.match import TwoStageConfig
    from detector.match_run import match_sources

    try:
        config = TwoStageConfig(verify=verify, top_k=top_k, candidate_floor=candidate_floor,
                                local=local_config(local_candidates))
        summary = match_sources(references, queries, out, detector, config, batch_size, device)
    except (ValueError, FileNotFoundError) as error:
        raise _fail(error) from error
    statuses = ", ".join(f"{n} {k}" for k, n in summary.statuses.items())
    typer.echo(f"{summary.queries} queries x {summary.references} references: {summary.pairs} pairs ({statuses}; "
               f"{summary.local_candidates} added by local-descriptor votes); wrote {summary.matches_path}")


@detector_app.command("export")
def export(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="detector.pt or checkpoint.pt from `detector train`."),
    out: Path = typer.Option(..., "--out", help="Where to write the inference file (fp16, weight norm folded)."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Calibrated default threshold to store in the metadata."),
    half: bool = flag(True, "--half/--float32", help="Store weights in fp16."),
    orbit: Optional[str] = typer.Option(None, "--orbit", help="Average descriptors over none, hflip or dihedral (flips and right-angle rotations) versions of each image."),
) -> None:
    """Write a compact inference copy of a trained detector (what ships as detector/weights/default.pt)."""
    from detector.checkpoint import load_detector, save_detector

    try:
        model = load_detector(checkpoint)
        if orbit is not None:
            from dataclasses import replace

            model.config = replace(model.config, orbit=orbit)
        meta = dict(getattr(model, "metadata", {}))
        if threshold is not None:
            meta["threshold"] = threshold
        save_detector(model, out, metadata=meta, half=half, fold=True)
    except (ValueError, FileNotFoundError) as error:
        raise _fail(error) from error
    typer.echo(f"exported {out} ({out.stat().st_size / 2**20:.1f} MiB)")


def register(app: typer.Typer) -> None:
    """Add the `detector` command group to the application."""
    app.add_typer(detector_app, name="detector")
