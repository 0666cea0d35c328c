"""Zero-shot predictions of a CLIP checkpoint on each evaluation set, for the image-mode contamination audit.

Reuses clip_core: ``clip_core.load`` (any checkpoint it reads), ``open_classification`` with the
dataset's class names and templates, ``evaluate_zero_shot``. Each set's predictions go to
``OUT/predictions/NAME.csv`` (id, prediction, label, correct: the format of `clip-audit clip eval`)
with ``NAME.json`` beside it recording the checkpoint's SHA-256 and the class names and templates
used; a rerun with the same checkpoint and settings reuses them.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from clip_core.atomic_files import atomic_write_text
from audit.provenance import sha256_path

PREDICTION_COLUMNS = ["id", "prediction", "label", "correct"]


@dataclass(frozen=True)
class PromptSpec:
    """Which class names and templates one evaluation set is classified with (None: clip_core's default)."""

    classnames: str | None
    templates: str | None


def builtin_prompts(name: str, classnames: str | None = None, templates: str | None = None) -> PromptSpec:
    """The given specs, else the built-in class-name and template sets named like the dataset, if any."""
    from clip_core.data.templates import get_classnames, get_templates

    def known(lookup: Callable[[str], list[str]]) -> str | None:
        try:
            lookup(name)
        except ValueError:
            return None
        return name

    return PromptSpec(classnames if classnames is not None else known(get_classnames),
                      templates if templates is not None else known(get_templates))


def _identity(model_sha: str, source: str, prompts: PromptSpec) -> dict[str, object]:
    """What a stored predictions file was made from."""
    return {"model_sha256": model_sha, "source": source, **asdict(prompts)}


def zero_shot_predictions(
    model_path: Path, sources: Mapping[str, str], prompts: Mapping[str, PromptSpec], out_dir: Path,
    batch_size: int = 64, device: str = "cpu", log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Predict every evaluation set zero-shot (reusing stored predictions of the same model); return the CSV paths."""
    from clip_core.checkpoint import load
    from clip_core.data import open_classification
    from clip_core.zeroshot import evaluate_zero_shot

    model_path = Path(model_path)
    if not model_path.exists():
        raise FileNotFoundError(f"--model: checkpoint not found: {model_path}")
    model_sha = sha256_path(model_path)
    model = None
    paths: dict[str, Path] = {}
    for name, source in sources.items():
        csv_path = Path(out_dir) / "predictions" / f"{name}.csv"
        meta_path = csv_path.with_suffix(".json")
        identity = _identity(model_sha, source, prompts[name])
        paths[name] = csv_path
        if csv_path.is_file() and meta_path.is_file() and json.loads(meta_path.read_text())["identity"] == identity:
            continue
        model = model if model is not None else load(model_path, device=device)
        spec = prompts[name]
        dataset = open_classification(source, classnames=spec.classnames, templates=spec.templates)
        result = evaluate_zero_shot(model, dataset, batch_size=batch_size)
        frame = pd.DataFrame(result.predictions, columns=PREDICTION_COLUMNS)
        atomic_write_text(csv_path, frame.assign(correct=frame["correct"].astype(int)).to_csv(index=False))
        meta = {"identity": identity, "metrics": result.metrics, "skipped": len(dataset.skipped),
                "num_classes": len(dataset.classnames)}
        atomic_write_text(meta_path, json.dumps(meta, indent=2) + "\n")
        log(f"zero-shot {name}: acc1 {result.metrics['acc1']:.3f} on {len(frame)} image(s) -> {csv_path}")
    return paths
