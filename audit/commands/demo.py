"""`clip-audit demo`: the whole contamination audit on built-in synthetic data."""
from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("clip-audit-demo"), "--out", help="Output folder (a rerun resumes)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic world and of training."),
    clip_steps: int = typer.Option(300, "--clip-steps", help="Training steps of the tiny CLIP model."),
    detector_steps: int = typer.Option(500, "--detector-steps", help="Training steps of the tiny detector."),
    pretraining_size: int = typer.Option(4000, "--pretraining-size", help="Synthetic pre-training images."),
    eval_per_task: int = typer.Option(200, "--eval-per-task", help="Images per evaluation set."),
) -> None:
    """Plant evaluation images in synthetic pre-training data, train CLIP and a detector, and audit the result."""
    from audit.demo import DemoConfig, run_demo

    try:
        config = DemoConfig(out=out, seed=seed, clip_steps=clip_steps, detector_steps=detector_steps,
                            pretraining_size=pretraining_size, eval_per_task=eval_per_task)
        summary = run_demo(config, log=typer.echo)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    precision, recall = summary["detection_precision"], summary["detection_recall"]
    typer.echo(
        f"demo done: {summary['detected_overlap']} evaluation images flagged as overlap "
        f"({summary['planted_eval_images']} planted; precision {precision if precision is None else round(precision, 3)}, "
        f"recall {recall if recall is None else round(recall, 3)}); results in {out / 'results'}, summary in {out / 'demo_summary.json'}"
    )


def register(app: typer.Typer) -> None:
    """Add the `demo` command to the application."""
    app.command("demo")(demo)
