"""`clip-audit demo`: the whole contamination audit on built-in synthetic data."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from audit.cli_params import flag

FULL = {"clip_steps": 300, "pretraining_size": 4000, "eval_per_task": 200}
QUICK = {"clip_steps": 60, "pretraining_size": 1000, "eval_per_task": 80}


def demo(
    out: Path = typer.Option(Path("clip-audit-demo"), "--out", help="Output folder (a rerun resumes)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic world and of training."),
    quick: bool = flag(False, "--quick/--full", help="A smaller world (about 3 minutes on 2 cores): fewer images and CLIP steps."),
    clip_steps: Optional[int] = typer.Option(None, "--clip-steps", help="Training steps of the tiny CLIP model (default 300, --quick 60)."),
    detector: str = typer.Option("default", "--detector", help="Near-duplicate detector: default, or PATH to a checkpoint."),
    verify: bool = flag(True, "--verify/--no-verify", help="Two-stage copy decisions (local-feature verification)."),
    pretraining_size: Optional[int] = typer.Option(None, "--pretraining-size", help="Synthetic pre-training images (default 4000, --quick 1000)."),
    eval_per_task: Optional[int] = typer.Option(None, "--eval-per-task", help="Images per evaluation set (default 200, --quick 80)."),
    overwrite: bool = flag(False, "--overwrite/--no-overwrite", help="Clear every stage's outputs in --out and start over (a rerun with other settings is refused without it)."),
) -> None:
    """Plant evaluation images in synthetic pre-training data, train a tiny CLIP, and audit it with the default detector."""
    from audit.demo import DemoConfig, run_demo

    try:
        sizes = QUICK if quick else FULL
        config = DemoConfig(out=out, seed=seed, detector=detector, verify=verify, overwrite=overwrite,
                            clip_steps=sizes["clip_steps"] if clip_steps is None else clip_steps,
                            pretraining_size=sizes["pretraining_size"] if pretraining_size is None else pretraining_size,
                            eval_per_task=sizes["eval_per_task"] if eval_per_task is None else eval_per_task)
        summary = run_demo(config, log=typer.echo)
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    from audit.commands.report import report

    report(root=out, contamination=None, overlap=None, probes=None, out=None)  # DIR/report.html and report.pdf
    default = summary["at_default_threshold"]
    typer.echo(
        f"demo done: at the default threshold {_found(default)}; at the label-fitted thresholds {_found(summary)} "
        f"({summary['planted_eval_images']} planted); results in {out / 'results'}, summary in {out / 'demo_summary.json'}, "
        f"report in {out / 'report.html'} and {out / 'report.pdf'}"
    )


def _found(figures: dict) -> str:
    """'N flagged (precision P, recall R)' from a detection summary."""
    def rounded(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return (f"{figures['detected_overlap']} flagged (precision {rounded(figures['detection_precision'])}, "
            f"recall {rounded(figures['detection_recall'])})")


def register(app: typer.Typer) -> None:
    """Add the `demo` command to the application."""
    app.command("demo")(demo)
