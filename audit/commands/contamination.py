"""`clip-audit contamination`: the Clean/Overlap/All analysis, from images (image mode) or an overlap table.

Image mode (``--pretraining``/``--eval`` or ``--config audit.toml``) runs the overlap search, the
thresholds, the predictions (``--model`` or ``--predictions``) and the statistics into ``--out``
(audit/contamination_audit.py). Table mode (``--overlap-table``) computes the table alone.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from audit.cli_params import COSINE_SIMILARITY, flag, open_probability, parse_thresholds, positive_count, precision_target, similarity_value
from audit.contamination import contamination_table
from audit.contamination_inputs import ContaminationInputs, build_rows, parse_assignment
from audit.results_io import print_table, write_table

if TYPE_CHECKING:
    from audit.contamination_config import ImageAuditConfig


def _parse_thresholds(values: list[str]) -> dict[str, float]:
    """Parse repeated --threshold NAME=VALUE options; a value must lie in the similarity's range [-1, 1]."""
    return parse_thresholds(values, COSINE_SIMILARITY.low, COSINE_SIMILARITY.high)


def _score_thresholds(values: list[str]) -> dict[str, float]:
    """Image mode's --threshold values: they apply to the overlap stage's score, which lies in [0, 1]."""
    from audit.cli_params import OVERLAP_SCORE

    return parse_thresholds(values, OVERLAP_SCORE.low, OVERLAP_SCORE.high)


def _assignments(values: list[str] | None, option: str) -> dict[str, str]:
    """Repeated NAME=VALUE options as a mapping; a repeated NAME is an error."""
    parsed: dict[str, str] = {}
    for text in values or []:
        name, value = parse_assignment(text, option)
        if name in parsed:
            raise ValueError(f"{option} names '{name}' twice")
        parsed[name] = value
    return parsed


def _table_mode(overlap_table: Path, predictions: list[str], threshold: list[str], out: Path, confidence: float) -> None:
    """Table mode: the contamination table from an overlap table and prediction files."""
    inputs = ContaminationInputs(
        overlap_table=overlap_table,
        predictions={name: Path(path) for name, path in _assignments(predictions, "--predictions").items()},
        thresholds=_parse_thresholds(threshold),
    )
    table = contamination_table(build_rows(inputs), confidence=confidence)
    csv_path, json_path = write_table(table, out, "contamination")
    print_table(table, title="Contamination (Radford et al. 2021, section 5)")
    significant = int((table["p_bonferroni"] < 0.05).sum())
    typer.echo(
        f"{len(table)} dataset(s), {int((table['n_overlap'] > 0).sum())} with overlap, "
        f"{significant} significant after Bonferroni; wrote {csv_path} and {json_path}"
    )


def _command_line(context: typer.Context) -> list[str]:
    """The command as given: the program, the command path and every option set on the command line."""
    words = ["clip-audit", *context.command_path.split()[1:]]
    for param in context.command.params:
        if getattr(context.get_parameter_source(param.name), "name", None) != "COMMANDLINE":
            continue
        value = context.params[param.name]
        if getattr(param, "is_flag", False):
            words.append(param.opts[0] if value else param.secondary_opts[0])
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            words += [param.opts[0], str(item)]
    return words


def _image_mode(config: "ImageAuditConfig", command_line: list[str]) -> None:
    """Image mode: overlap, predictions, statistics, figure and provenance into config.out."""
    from audit.contamination_audit import run_image_audit

    result = run_image_audit(config, command_line, log=lambda line: typer.echo(line, err=True))
    print_table(result.table, title="Contamination (Radford et al. 2021, section 5)")
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    table = result.table
    typer.echo(
        f"{len(table)} dataset(s), {int((table['n_overlap'] > 0).sum())} with overlap, "
        f"{int((table['p_bonferroni'] < 0.05).sum())} significant after Bonferroni, {len(result.warnings)} warning(s); "
        f"wrote {len(result.files)} result files to {config.out}"
    )


def contamination(
    context: typer.Context,
    overlap_table: Optional[Path] = typer.Option(
        None, "--overlap-table", help="Table mode: CSV with columns dataset,id,similarity[,in_overlap]."
    ),
    predictions: Optional[List[str]] = typer.Option(
        None, "--predictions", help="NAME=PREDS.csv with id,correct or id,prediction,label (repeatable)."
    ),
    threshold: Optional[List[str]] = typer.Option(
        None, "--threshold", help="NAME=VALUE: examples whose score (table mode: similarity) >= VALUE are Overlap (repeatable)."
    ),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (image mode: also the overlap folder it reuses)."),
    confidence: float = typer.Option(0.995, "--confidence", help="Confidence of the Clopper-Pearson and bootstrap intervals.", callback=open_probability),
    pretraining: Optional[str] = typer.Option(None, "--pretraining", help="Image mode: pre-training images or descriptors."),
    eval_sets: Optional[List[str]] = typer.Option(None, "--eval", help="Image mode: NAME=SOURCE, an evaluation set (repeatable)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Image mode: CLIP checkpoint for zero-shot predictions (any clip_core.load format)."),
    detector: str = typer.Option("default", "--detector", help="Image mode: default, PATH to a detector checkpoint, or sscd:PATH."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Image mode: labels.csv (clip-audit inspect) to fit thresholds."),
    default_threshold: Optional[float] = typer.Option(None, "--default-threshold", help="Image mode: threshold for sets without --threshold or labels.", callback=similarity_value),
    target_precision: float = typer.Option(0.95, "--target-precision", help="Image mode: precision a labels-fitted threshold keeps.", callback=precision_target),
    top_k: int = typer.Option(5, "--top-k", help="Image mode: neighbours kept per evaluation example.", callback=positive_count),
    classnames: Optional[List[str]] = typer.Option(None, "--classnames", help="Image mode: NAME=SPEC, class names for --model (file or built-in set)."),
    templates: Optional[List[str]] = typer.Option(None, "--templates", help="Image mode: NAME=SPEC, prompt templates for --model."),
    seed: int = typer.Option(0, "--seed", help="Image mode: seed of the bootstrap."),
    bootstrap_resamples: int = typer.Option(10_000, "--bootstrap-resamples", help="Image mode: bootstrap resamples of All - Clean."),
    verify: bool = flag(True, "--verify/--no-verify", help="Image mode: verify candidate pairs (two-stage score)."),
    candidate_floor: float = typer.Option(0.5, "--candidate-floor", help="Image mode: global similarity from which pairs are verified."),
    candidates_per_set: int = typer.Option(3, "--candidates-per-set", help="Image mode: verified candidates per pre-training item and set."),
    overwrite: bool = flag(False, "--overwrite/--no-overwrite", help="Image mode: clear overlap results made with other settings."),
    batch_size: int = typer.Option(64, "--batch-size", help="Image mode: zero-shot batch size."),
    device: str = typer.Option("cpu", "--device", help="Image mode: device of the zero-shot model."),
    config: Optional[Path] = typer.Option(None, "--config", help="Image mode: the whole run as a TOML file (see README)."),
) -> None:
    """Split each evaluation set into Clean/Overlap/All and test whether overlap inflates accuracy."""
    from audit.contamination_config import ImageAuditConfig, load_config

    try:
        image_options = {"--pretraining": pretraining, "--eval": eval_sets, "--model": model, "--labels": labels}
        if config is not None:
            given = [o for o, v in {**image_options, "--overlap-table": overlap_table, "--predictions": predictions,
                                    "--threshold": threshold, "--out": out}.items() if v]
            if given:
                raise ValueError(f"--config holds the whole run; do not combine it with {', '.join(given)}")
            loaded = load_config(config)
            checked = _score_thresholds([f"{name}={value!r}" for name, value in loaded.thresholds.items()])
            _image_mode(replace(loaded, thresholds=checked), _command_line(context))
        elif overlap_table is not None:
            given = [o for o, v in image_options.items() if v]
            if given:
                raise ValueError(f"--overlap-table (table mode) cannot be combined with {', '.join(given)}")
            if not predictions or out is None:
                raise ValueError("table mode needs --predictions NAME=CSV and --out DIR")
            _table_mode(overlap_table, predictions, threshold or [], out, confidence)
        elif pretraining is not None or eval_sets:
            if pretraining is None or not eval_sets or out is None:
                raise ValueError("image mode needs --pretraining SOURCE, --eval NAME=SOURCE and --out DIR")
            _image_mode(ImageAuditConfig(
                pretraining=pretraining, eval_sources=_assignments(eval_sets, "--eval"), out=out, model=model,
                predictions={n: Path(p) for n, p in _assignments(predictions, "--predictions").items()},
                detector=detector, labels=labels, thresholds=_score_thresholds(threshold or []),
                default_threshold=default_threshold, target_precision=target_precision, top_k=top_k,
                confidence=confidence, seed=seed, bootstrap_resamples=bootstrap_resamples,
                classnames=_assignments(classnames, "--classnames"), templates=_assignments(templates, "--templates"),
                batch_size=batch_size, device=device, verify=verify, candidate_floor=candidate_floor,
                candidates_per_set=candidates_per_set, overwrite=overwrite,
            ), _command_line(context))
        else:
            raise ValueError("give --overlap-table (table mode), --pretraining with --eval (image mode) or --config")
    except (ValueError, FileNotFoundError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error


def register(app: typer.Typer) -> None:
    """Add the `contamination` command to the application."""
    app.command("contamination")(contamination)
