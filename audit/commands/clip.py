"""`clip-audit clip train|eval`: train a clip_core model, zero-shot evaluate a checkpoint."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Optional

import typer

from audit.cli_params import flag
clip_app = typer.Typer(name="clip", help="Train and evaluate clip_core models.", no_args_is_help=True)


@clip_app.command("train")
def train_command(
    data: str = typer.Option("synthetic", "--data", help="Caption source: synthetic, CSV manifest, WebDataset or img2dataset."),
    model: str = typer.Option("tiny", "--model", help="Model preset (e.g. tiny, ViT-B/32, RN50)."),
    steps: int = typer.Option(100, "--steps", help="Optimizer steps."),
    batch_size: int = typer.Option(64, "--batch-size", help="Global batch size (all micro-batches)."),
    out: Path = typer.Option(..., "--out", help="Output folder: checkpoint.pt and metrics.jsonl."),
    accum_steps: int = typer.Option(1, "--accum-steps", help="Micro-batches per step (features cached)."),
    lr: float = typer.Option(1e-3, "--lr"),
    weight_decay: float = typer.Option(0.2, "--weight-decay"),
    warmup_fraction: float = typer.Option(0.1, "--warmup-fraction"),
    activation: str = typer.Option("gelu", "--activation", help="gelu or quick_gelu."),
    precision: str = typer.Option("fp32", "--precision", help="fp32 or bf16 (autocast)."),
    grad_checkpointing: bool = flag(False, "--grad-checkpointing/--no-grad-checkpointing"),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("cpu", "--device"),
    save_every: Optional[int] = typer.Option(None, "--save-every", help="Also checkpoint every N steps."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Checkpoint to continue from."),
    progress: bool = flag(True, "--progress/--no-progress"),
    tokenizer: Optional[Path] = typer.Option(None, "--tokenizer", help="Merges file of our own vocabulary (`clip-audit clip tokenizer`); default OpenAI's."),
) -> None:
    """Train a CLIP model; writes OUT/checkpoint.pt and OUT/metrics.jsonl."""
    from clip_core.train import TrainConfig, train

    try:
        cfg = TrainConfig(data=data, model=model, steps=steps, batch_size=batch_size, out=str(out),
                          accum_steps=accum_steps, lr=lr, weight_decay=weight_decay,
                          warmup_fraction=warmup_fraction, activation=activation, precision=precision,
                          grad_checkpointing=grad_checkpointing, seed=seed, device=device,
                          save_every=save_every, progress=progress,
                          tokenizer=str(tokenizer) if tokenizer else None)
        result = train(cfg, resume=str(resume) if resume else None)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    last = f", last loss {result.losses[-1]:.4f}" if result.losses else ""
    typer.echo(f"trained to step {result.step}{last} -> {result.checkpoint}")


@clip_app.command("tokenizer")
def tokenizer_command(
    data: str = typer.Option(..., "--data", help="Caption source: synthetic, CSV manifest, WebDataset or img2dataset."),
    out: Path = typer.Option(..., "--out", help="Merges file to write (gzip, OpenAI's format)."),
    vocab_size: int = typer.Option(8192, "--vocab-size", help="Vocabulary size, 514 byte symbols and specials included."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use at most this many captions."),
) -> None:
    """Learn a byte-level BPE vocabulary from the captions of a source (for models trained from scratch)."""
    from itertools import islice

    from clip_core.data import open_captions
    from clip_core.tokenizer import Tokenizer

    try:
        captions = [example.caption for example in islice(open_captions(data), limit)]
        if not captions:
            raise ValueError(f"{data}: no captions found")
        learned = Tokenizer.train(captions, vocab_size=vocab_size)
        learned.save(out)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    typer.echo(f"learned {len(learned.merges)} merges (vocabulary {learned.vocab_size}) from {len(captions)} captions -> {out}")


@clip_app.command("eval")
def eval_command(
    model: Path = typer.Option(..., "--model", help="Checkpoint (clip_core, OpenAI or OpenCLIP)."),
    dataset: str = typer.Option(..., "--dataset", help="Classification set: synthetic:<task>, ImageFolder or CSV."),
    out: Path = typer.Option(..., "--out", help="Output folder: metrics.json and predictions.csv."),
    batch_size: int = typer.Option(64, "--batch-size"),
    templates: Optional[str] = typer.Option(None, "--templates", help="Template file or built-in set name (e.g. imagenet, cifar100, simple)."),
    classnames: Optional[str] = typer.Option(None, "--classnames", help="Class-name file (.txt, one per line, or .json) or built-in set (e.g. cifar10, cifar100, stl10, mnist)."),
    activation: Optional[str] = typer.Option(None, "--activation", help="Override when the checkpoint does not record it."),
    device: str = typer.Option("cpu", "--device"),
    probe: bool = flag(False, "--probe/--no-probe", help="Also run the linear and few-shot probes."),
    probe_train: Optional[str] = typer.Option(None, "--probe-train",
                                              help="Labelled training source of the probes (default for "
                                                   "synthetic:<task>: the same task with the next seed)."),
) -> None:
    """Zero-shot evaluation: writes OUT/metrics.json (acc1, acc5, mean_per_class_recall) and OUT/predictions.csv."""
    from clip_core.atomic_files import atomic_write_text
    from clip_core.checkpoint import load
    from clip_core.data import open_classification
    from clip_core.zeroshot import evaluate_zero_shot

    try:
        if not model.is_file() and not model.is_dir():
            raise FileNotFoundError(f"checkpoint not found: {model}")
        net = load(model, activation=activation, device=device)
        data = open_classification(dataset, classnames=classnames, templates=templates)
        result = evaluate_zero_shot(net, data, batch_size=batch_size)
        probes = {}
        if probe:
            from clip_core.linear_probe import default_probe_train, run_probes
            train_source = probe_train or default_probe_train(dataset)
            train_set = open_classification(train_source, classnames=classnames, templates=templates)
            probes = run_probes(net, data, train_set, batch_size=batch_size)
            probes["linear_probe"]["train_source"] = train_source
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    metrics = dict(result.metrics)
    metrics.update({"dataset": dataset, "model": str(model), "num_examples": len(result.predictions),
                    "num_classes": len(data.classnames), "skipped": len(data.skipped)})
    metrics.update(probes)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=["id", "prediction", "label", "correct"], lineterminator="\n")
    writer.writeheader()
    for row in result.predictions:
        writer.writerow({**row, "correct": int(bool(row["correct"]))})
    atomic_write_text(out / "predictions.csv", buf.getvalue())
    typer.echo(f"acc1 {metrics['acc1']:.4f}  acc5 {metrics['acc5']:.4f}  "
               f"mean_per_class_recall {metrics['mean_per_class_recall']:.4f} -> {out}")
    if probes:
        typer.echo(f"linear probe acc1 {probes['linear_probe']['acc1']:.4f} (C={probes['linear_probe']['C']:.3g})")


def register(app: typer.Typer) -> None:
    """Add the `clip` sub-app (train, eval) to the application."""
    app.add_typer(clip_app, name="clip")
