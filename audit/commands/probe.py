"""`clip-audit probe NAME`: the bias probes of Radford et al. 2021, section 7 (see `audit.probes`).

Every probe writes OUT/rates.csv, OUT/summary.json and OUT/provenance.json (plus probe tables),
prints its headline rates and a one-line summary, and prints each warning (implausible results,
skipped images) to stderr. A rerun with the same inputs and options finds its results and stops;
``--force`` recomputes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, List, Optional

import typer

from audit.cli_params import flag

probe_app = typer.Typer(name="probe", help="Bias probes (FairFace, denigration, class design, labels, "
                                           "surveillance, identity), every rate with its interval.",
                        no_args_is_help=True)

MODEL = typer.Option(..., "--model", help="Checkpoint (OpenAI, OpenCLIP or clip_core).")
OUT = typer.Option(..., "--out", help="Output folder for rates.csv, summary.json, provenance.json.")
DATA = typer.Option(..., "--data", help="Image root (the CSV's file paths are relative to it).")
LABELS = typer.Option(..., "--labels", help="FairFace label CSV (file,age,gender,race,service_test).")
SCHEMA = typer.Option(None, "--schema", help="JSON of other category spellings (default: FairFace's).")
CONFIDENCE = typer.Option(0.95, "--confidence", min=0.5, max=0.9999, help="Confidence of every interval.")
SEED = typer.Option(0, "--seed", help="Seed (linear-probe split, candidate draws).")
BATCH = typer.Option(64, "--batch-size", min=1, help="Images per forward pass.")
DEVICE = typer.Option("cpu", "--device", help="Torch device.")
CACHE = typer.Option(None, "--feature-cache", help="Folder of reusable image features (default OUT/cache; "
                                                 "share one folder to encode a split once for several probes).")
REQUEST_KEY = "request"


def _request(command: str, options: dict, files: list[Optional[Path]]) -> dict:
    """What a run is asked to do: command, options and the hashes of its input files."""
    from audit.probes.provenance import file_sha256

    hashes = {str(p): file_sha256(p) for p in files if p is not None and Path(p).is_file()}
    return {"command": command, "options": {k: str(v) for k, v in sorted(options.items())}, "files": hashes}


def _already_done(out: Path, request: dict) -> bool:
    """Whether OUT holds a complete result of the same request."""
    from audit.probes.result import PROVENANCE_FILE, RATES_FILE, SUMMARY_FILE

    if not all((out / name).is_file() for name in (RATES_FILE, SUMMARY_FILE, PROVENANCE_FILE)):
        return False
    try:
        return json.loads((out / PROVENANCE_FILE).read_text(encoding="utf-8")).get(REQUEST_KEY) == request
    except json.JSONDecodeError:
        return False


def _run(command: str, out: Path, model: Path, force: bool, options: dict, files: list[Optional[Path]],
         device: str, compute: Callable) -> None:
    """Shared driver: resume check, model loading, the probe, writing, printing, error handling."""
    from dataclasses import replace

    from audit.probes.provenance import load_probe_model
    from audit.probes.result import write_probe_result

    try:
        request = _request(command, {**options, "device": device}, [model, *files])
        if not force and _already_done(out, request):
            typer.echo(f"probe {command}: results for these inputs already in {out} (use --force to recompute)")
            return
        result = compute(load_probe_model(model, device=device))
        result = replace(result, provenance={**result.provenance, REQUEST_KEY: request})
        paths = write_probe_result(result, out)
    except (ValueError, FileNotFoundError, KeyError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    _print(result)
    for warning in result.warnings:
        typer.echo(f"WARNING: {warning}", err=True)
    n = result.summary.get("n_images", result.summary.get("n_frames"))
    typer.echo(f"probe {command}: {len(result.rates)} rates over {n} images, {len(result.warnings)} warning(s); "
               f"wrote {', '.join(str(p) for p in paths.values())}")


def _print(result) -> None:
    """The headline table: overall, min and max group per (category, attribute), first 40 entries."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"probe {result.probe}: rates by group")
    for column in ("category", "attribute", "overall", "min (group)", "max (group)", "max diff"):
        table.add_column(column)
    for rate in result.disaggregated[:40]:
        extra = "".join(f" [{k}={v}]" for k, v in rate.extra)
        o = rate.overall
        table.add_row(rate.category + extra, rate.attribute, f"{o.rate:.3f} [{o.ci_low:.3f}, {o.ci_high:.3f}]",
                      f"{rate.lowest.rate:.3f} ({rate.lowest.group})", f"{rate.highest.rate:.3f} ({rate.highest.group})",
                      f"{rate.max_difference:.3f}")
    Console(width=140).print(table)
    if len(result.disaggregated) > 40:
        typer.echo(f"... {len(result.disaggregated) - 40} more in rates.csv / summary.json")


def _cache(out: Path, feature_cache: Optional[Path]) -> str:
    """The feature-cache folder: the one given, else OUT/cache."""
    return str(feature_cache if feature_cache is not None else out / "cache")


def _fairface(data: Path, labels: Path, schema: Optional[Path], service_test_only: bool):
    from audit.probes import load_fairface, load_schema

    return load_fairface(data, labels, load_schema(schema), service_test_only)


@probe_app.command("fairface")
def fairface_command(model: Path = MODEL, data: Path = DATA, labels: Path = LABELS, out: Path = OUT,
                     train_labels: Optional[Path] = typer.Option(None, "--train-labels", help="Training label CSV for the linear probe (skipped without it)."),
                     schema: Optional[Path] = SCHEMA, confidence: float = CONFIDENCE, seed: int = SEED,
                     batch_size: int = BATCH, device: str = DEVICE, feature_cache: Optional[Path] = CACHE,
                     service_test_only: bool = flag(False, "--service-test-only/--all-images", "Keep only service_test rows."),
                     force: bool = flag(False, "--force/--no-force", "Recompute even if OUT has these results.")) -> None:
    """Zero-shot and linear-probe race/gender/age accuracy by group (Tables 3-5)."""
    from audit.probes import FairFaceProbeConfig, run_fairface_probe

    def compute(probe_model):
        dataset = _fairface(data, labels, schema, service_test_only)
        train = _fairface(data, train_labels, schema, service_test_only) if train_labels else None
        return run_fairface_probe(probe_model, dataset, FairFaceProbeConfig(confidence=confidence, seed=seed,
                                                                            batch_size=batch_size, feature_cache=_cache(out, feature_cache)), train)

    _run("fairface", out, model, force, dict(data=data, service_test_only=service_test_only, confidence=confidence,
                                                   seed=seed), [labels, train_labels, schema], device, compute)


def _label_set(path: Optional[Path], template: str, schema):  # noqa: ANN001, ANN202 - probe schema and label set
    """The label set in `path`, or the paper's default one for this schema, with the prompt template."""
    from dataclasses import replace

    from audit.probes import default_label_set, load_label_set

    return load_label_set(path, template) if path else replace(default_label_set(schema), template=template)


@probe_app.command("denigration")
def denigration_command(model: Path = MODEL, data: Path = DATA, labels: Path = LABELS, out: Path = OUT,
                        label_set: Optional[Path] = typer.Option(None, "--label-set", help="CSV label,category (default: the paper's 21 classes)."),
                        template: str = typer.Option("a photo of a {}.", "--template", help="Prompt template."),
                        schema: Optional[Path] = SCHEMA, confidence: float = CONFIDENCE, seed: int = SEED,
                        batch_size: int = BATCH, device: str = DEVICE, feature_cache: Optional[Path] = CACHE,
                        service_test_only: bool = flag(False, "--service-test-only/--all-images", "Keep only service_test rows."),
                        force: bool = flag(False, "--force/--no-force", "Recompute even if OUT has these results.")) -> None:
    """Share of images put into crime-related and non-human classes, by group (Table 6)."""
    from audit.probes import DenigrationConfig, run_denigration_probe

    def compute(probe_model):
        dataset = _fairface(data, labels, schema, service_test_only)
        chosen = _label_set(label_set, template, dataset.schema)
        return run_denigration_probe(probe_model, dataset, chosen,
                                     DenigrationConfig(confidence=confidence, seed=seed, batch_size=batch_size, feature_cache=_cache(out, feature_cache)))

    _run("denigration", out, model, force, dict(data=data, template=template, service_test_only=service_test_only,
                                                      confidence=confidence, seed=seed),
         [labels, label_set, schema], device, compute)


@probe_app.command("class-design")
def class_design_command(model: Path = MODEL, data: Path = DATA, labels: Path = LABELS, out: Path = OUT,
                         label_set: Optional[Path] = typer.Option(None, "--label-set", help="First label set, CSV label,category (default: the paper's 21 classes)."),
                         second_label_set: Optional[Path] = typer.Option(None, "--second-label-set", help="Second label set (default: the first plus 'child')."),
                         template: str = typer.Option("a photo of a {}.", "--template", help="Prompt template."),
                         schema: Optional[Path] = SCHEMA, confidence: float = CONFIDENCE, seed: int = SEED,
                         batch_size: int = BATCH, device: str = DEVICE, feature_cache: Optional[Path] = CACHE,
                         service_test_only: bool = flag(False, "--service-test-only/--all-images", "Keep only service_test rows."),
                         force: bool = flag(False, "--force/--no-force", "Recompute even if OUT has these results.")) -> None:
    """The same images under two label sets: rates, paired differences and McNemar tests (Table 7)."""
    from audit.probes import ClassDesignConfig, load_label_set, run_class_design_probe, with_child

    def compute(probe_model):
        dataset = _fairface(data, labels, schema, service_test_only)
        first = _label_set(label_set, template, dataset.schema)
        second = load_label_set(second_label_set, template) if second_label_set else with_child(first)
        return run_class_design_probe(probe_model, dataset, (first, second),
                                      ClassDesignConfig(confidence=confidence, seed=seed, batch_size=batch_size, feature_cache=_cache(out, feature_cache)))

    _run("class-design", out, model, force, dict(data=data, template=template, service_test_only=service_test_only,
                                                       confidence=confidence, seed=seed),
         [labels, label_set, second_label_set, schema], device, compute)


@probe_app.command("labels")
def labels_command(model: Path = MODEL, data: Path = DATA, labels: Path = LABELS, out: Path = OUT,
                   label_file: Optional[Path] = typer.Option(None, "--label-file", help="One label per line (default: 300 occupations)."),
                   threshold: Optional[List[float]] = typer.Option(None, "--threshold", help="Probability threshold (repeatable; default 0.005 and 0.04)."),
                   template: str = typer.Option("a photo of a {}.", "--template", help="Prompt template."),
                   adjust: str = typer.Option("holm", "--adjust", help="Multiple-testing adjustment: holm, bonferroni, fdr_bh."),
                   schema: Optional[Path] = SCHEMA, confidence: float = CONFIDENCE, seed: int = SEED,
                   batch_size: int = BATCH, device: str = DEVICE, feature_cache: Optional[Path] = CACHE,
                   service_test_only: bool = flag(False, "--service-test-only/--all-images", "Keep only service_test rows."),
                   force: bool = flag(False, "--force/--no-force", "Recompute even if OUT has these results.")) -> None:
    """Labels over probability thresholds and the labels most associated with each group (chi-square)."""
    from audit.probes import LabelsProbeConfig, run_labels_probe

    thresholds = tuple(threshold) if threshold else (0.005, 0.04)

    def compute(probe_model):
        if adjust not in ("holm", "bonferroni", "fdr_bh"):
            raise ValueError(f"--adjust must be holm, bonferroni or fdr_bh, got {adjust!r}")
        dataset = _fairface(data, labels, schema, service_test_only)
        config = LabelsProbeConfig(thresholds=thresholds, template=template, confidence=confidence, adjust=adjust,
                                   seed=seed, batch_size=batch_size, feature_cache=_cache(out, feature_cache))
        return run_labels_probe(probe_model, dataset, config=config, label_file=label_file)

    _run("labels", out, model, force, dict(data=data, thresholds=thresholds, template=template, adjust=adjust,
                                                 service_test_only=service_test_only, confidence=confidence, seed=seed),
         [labels, label_file, schema], device, compute)


@probe_app.command("surveillance")
def surveillance_command(model: Path = MODEL, data: Path = typer.Option(..., "--data", help="Frame root."),
                         captions: Path = typer.Option(..., "--captions", help="Caption file: frame,kind,text[,answer,negative,sequence]."),
                         out: Path = OUT, confidence: float = CONFIDENCE, seed: int = SEED, batch_size: int = BATCH,
                         device: str = DEVICE, feature_cache: Optional[Path] = CACHE,
                         force: bool = flag(False, "--force/--no-force", "Recompute even if OUT has these results.")) -> None:
    """Coarse caption top-1 with and without near-miss distractors, and fine-grained yes/no accuracy."""
    from audit.probes import SurveillanceConfig, load_surveillance, run_surveillance_probe

    def compute(probe_model):
        return run_surveillance_probe(probe_model, load_surveillance(data, captions),
                                      SurveillanceConfig(confidence=confidence, seed=seed, batch_size=batch_size, feature_cache=_cache(out, feature_cache)))

    _run("surveillance", out, model, force, dict(data=data, confidence=confidence, seed=seed), [captions],
         device, compute)


@probe_app.command("identity")
def identity_command(model: Path = MODEL, data: Path = typer.Option(..., "--data", help="CelebA image folder (img_align_celeba)."),
                     identities: Path = typer.Option(..., "--identities", help="identity_CelebA.txt"),
                     partitions: Path = typer.Option(..., "--partitions", help="list_eval_partition.txt"),
                     names: Optional[Path] = typer.Option(None, "--names", help="CSV identity,name (default: 'identity N')."),
                     split: str = typer.Option("test", "--split", help="train, val or test."),
                     candidates: Optional[List[int]] = typer.Option(None, "--candidates", help="Candidate-set size (repeatable; default 100, 1000, 2000)."),
                     template: str = typer.Option("a photo of {}.", "--template", help="Prompt template."),
                     out: Path = OUT, confidence: float = CONFIDENCE, seed: int = SEED, batch_size: int = BATCH,
                     device: str = DEVICE, feature_cache: Optional[Path] = CACHE,
                     force: bool = flag(False, "--force/--no-force", "Recompute even if OUT has these results.")) -> None:
    """Zero-shot top-1 identity among K candidate names."""
    from audit.probes import IdentityConfig, load_celeba, run_identity_probe

    sizes = tuple(candidates) if candidates else (100, 1000, 2000)

    def compute(probe_model):
        dataset = load_celeba(data, identities, partitions, split, names)
        return run_identity_probe(probe_model, dataset, IdentityConfig(candidates=sizes, template=template,
                                                                       confidence=confidence, seed=seed,
                                                                       batch_size=batch_size,
                                                                       feature_cache=_cache(out, feature_cache)))

    _run("identity", out, model, force, dict(data=data, split=split, candidates=sizes, template=template,
                                                   confidence=confidence, seed=seed),
         [identities, partitions, names], device, compute)


def register(app: typer.Typer) -> None:
    """Add the `probe` command group to the application."""
    app.add_typer(probe_app, name="probe")
