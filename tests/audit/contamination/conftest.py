"""A planted contamination audit built from images, shared by the image-mode tests.

Two evaluation sets as ImageFolders: ``shapes`` (80 images; 20 copied into the pre-training data as
two lightly augmented copies each, 4 more copied exactly) and ``colors`` (60 images, none copied).
The pre-training side holds those copies among 260 synthetic distractors, as WebDataset shards (for
runs on images) and as descriptors (for runs whose copy decisions must not depend on a detector's
accuracy): the descriptor is a centred 16x16 colour thumbnail, which separates these copies from
everything else. An oracle inspector labels every shapes example's nearest pair from the truth.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clip_core.data import open_source
from clip_core.data.writers import write_image_folder, write_webdataset

N_SHAPES, N_COLORS, N_AUGMENTED, N_EXACT, N_DISTRACTORS = 80, 60, 20, 4, 260


def thumbnail_descriptor(image: Image.Image) -> np.ndarray:
    """A centred, L2-normalised 16x16 colour thumbnail."""
    pixels = np.asarray(image.convert("RGB").resize((16, 16), Image.Resampling.BILINEAR), dtype=np.float32).ravel()
    pixels -= pixels.mean()
    return pixels / np.linalg.norm(pixels)


def light_copy(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A re-posted copy: down- and up-scaled, colour-jittered, JPEG-compressed."""
    from detector.augment import colour_jitter, jpeg

    copy = image.resize((36, 36)).resize(image.size)
    copy = colour_jitter(copy, rng, brightness=0.1, contrast=0.1, saturation=0.1, hue=0.02)
    return jpeg(copy, rng, min_quality=60, max_quality=95).convert("RGB")


def write_descriptors(folder: Path, ids: list[str], matrix: np.ndarray, shard_size: int | None = None) -> Path:
    """Descriptors in the `clip-audit embed` layout (one pair, or numbered pairs)."""
    folder.mkdir(parents=True, exist_ok=True)
    starts = [0] if shard_size is None else list(range(0, len(ids), shard_size))
    for number, start in enumerate(starts):
        stop = len(ids) if shard_size is None else start + shard_size
        suffix = "" if shard_size is None else f"-{number:05d}"
        np.save(folder / f"descriptors{suffix}.npy", matrix[start:stop].astype(np.float32))
        (folder / f"ids{suffix}.txt").write_text("\n".join(ids[start:stop]) + "\n")
    return folder


@dataclass(frozen=True)
class PlantedAudit:
    """Sources and truth of the planted audit."""

    root: Path
    eval_images: dict[str, Path]
    eval_descriptors: dict[str, Path]
    pretraining_images: Path
    pretraining_descriptors: Path
    labels: dict[str, dict[str, str]]  # dataset -> id -> class label
    classnames: dict[str, list[str]]
    copied: frozenset[str]  # shapes ids with a copy in the pre-training data
    exact: frozenset[str]  # shapes ids copied pixel for pixel
    inspector_labels: Path  # labels.csv of the oracle inspector


@pytest.fixture(scope="session")
def planted_audit(tmp_path_factory: pytest.TempPathFactory) -> PlantedAudit:
    root = tmp_path_factory.mktemp("planted_audit")
    rng = np.random.default_rng(15)
    eval_images, eval_descriptors, labels, examples, classnames = {}, {}, {}, {}, {}
    for name, n, seed in (("shapes", N_SHAPES, 3), ("colors", N_COLORS, 4)):
        generated = [(e.id.replace("/", "_"), e.image, e.label) for e in open_source(f"synthetic:{name}?n={n}&seed={seed}&size=48")]
        eval_images[name] = root / "eval" / name
        write_image_folder(generated, eval_images[name], text_field="label")
        examples[name] = list(open_source(str(eval_images[name])))
        labels[name] = {e.id: e.label for e in examples[name]}
        classnames[name] = sorted(set(labels[name].values()))
        descriptors = np.stack([thumbnail_descriptor(e.image) for e in examples[name]])
        eval_descriptors[name] = write_descriptors(root / "eval_descriptors" / name, [e.id for e in examples[name]], descriptors)
    shapes = examples["shapes"]
    chosen = rng.choice(len(shapes), N_AUGMENTED + N_EXACT, replace=False)
    augmented, exact = chosen[:N_AUGMENTED], chosen[N_AUGMENTED:]
    items = [(f"copy{i:03d}_{k}", light_copy(shapes[i].image, rng), "a photo") for i in augmented for k in range(2)]
    items += [(f"exact{i:03d}", shapes[i].image.convert("RGB"), "a photo") for i in exact]
    truth = {f"copy{i:03d}_{k}": shapes[i].id for i in augmented for k in range(2)}
    truth.update({f"exact{i:03d}": shapes[i].id for i in exact})
    items += [(f"web{i:04d}", e.image, "a photo") for i, e in enumerate(open_source(f"synthetic?n={N_DISTRACTORS}&seed=9&size=48"))]
    items = [items[i] for i in rng.permutation(len(items))]
    write_webdataset(items, root / "pretraining", shard_size=100, ext="png")
    pre_ids = [item_id for item_id, _, _ in items]
    pre_matrix = np.stack([thumbnail_descriptor(image) for _, image, _ in items])
    pretraining_descriptors = write_descriptors(root / "pretraining_descriptors", pre_ids, pre_matrix, shard_size=100)
    # The oracle inspector: every shapes example's most similar pre-training item, labelled from the truth.
    shapes_matrix = np.stack([thumbnail_descriptor(e.image) for e in shapes])
    nearest = (shapes_matrix @ pre_matrix.T).argmax(axis=1)
    inspected = pd.DataFrame({"dataset": "shapes", "eval_id": [e.id for e in shapes],
                              "pretraining_id": [pre_ids[j] for j in nearest]})
    inspected["is_duplicate"] = [int(truth.get(p) == e) for e, p in zip(inspected.eval_id, inspected.pretraining_id)]
    inspector_labels = root / "labels.csv"
    inspected.to_csv(inspector_labels, index=False)
    return PlantedAudit(
        root=root, eval_images=eval_images, eval_descriptors=eval_descriptors, pretraining_images=root / "pretraining",
        pretraining_descriptors=pretraining_descriptors, labels=labels, classnames=classnames,
        copied=frozenset(shapes[i].id for i in chosen), exact=frozenset(shapes[i].id for i in exact),
        inspector_labels=inspector_labels,
    )


def planted_predictions(audit: PlantedAudit, dataset: str, acc_copied: float, acc_other: float, seed: int) -> pd.DataFrame:
    """Predictions (id, prediction, label) correct for a fixed share of the copied and of the other examples."""
    rng = np.random.default_rng(seed)
    ids = sorted(audit.labels[dataset])
    copied = [i for i in ids if dataset == "shapes" and i in audit.copied]
    other = [i for i in ids if i not in set(copied)]
    correct = set()
    for group, accuracy in ((copied, acc_copied), (other, acc_other)):
        if group:
            correct |= set(rng.choice(group, int(round(accuracy * len(group))), replace=False))
    names = audit.classnames[dataset]
    rows = []
    for i in ids:
        label = audit.labels[dataset][i]
        wrong = names[(names.index(label) + 1) % len(names)]
        rows.append({"id": i, "prediction": label if i in correct else wrong, "label": label})
    return pd.DataFrame(rows)


def null_predictions(audit: PlantedAudit, dataset: str, accuracy: float, seed: int) -> pd.DataFrame:
    """Predictions drawn independently of overlap: each example correct with the same probability."""
    rng = np.random.default_rng(seed)
    ids = sorted(audit.labels[dataset])
    return pd.DataFrame({"id": ids, "correct": (rng.random(len(ids)) < accuracy).astype(int)})


@pytest.fixture(scope="session")
def make_predictions():
    """The predictions helpers, for tests that draw their own."""
    return planted_predictions, null_predictions


@dataclass(frozen=True)
class DescriptorRun:
    """The planted audit run once on descriptors through the command line."""

    out: Path
    args: tuple[str, ...]
    exit_code: int
    output: str


def descriptor_args(audit: PlantedAudit, out: Path, predictions: dict[str, Path]) -> list[str]:
    """Command-line arguments of an image-mode run on the planted descriptors."""
    args = ["contamination", "--pretraining", str(audit.pretraining_descriptors), "--out", str(out),
            "--labels", str(audit.inspector_labels), "--threshold", "colors=0.99", "--no-verify"]
    for name, folder in audit.eval_descriptors.items():
        args += ["--eval", f"{name}={folder}", "--predictions", f"{name}={predictions[name]}"]
    return args


@pytest.fixture(scope="session")
def descriptor_run(planted_audit: PlantedAudit) -> DescriptorRun:
    from typer.testing import CliRunner

    from audit.cli import app

    folder = planted_audit.root / "predictions"
    folder.mkdir(exist_ok=True)
    paths = {}
    for name in ("shapes", "colors"):
        paths[name] = folder / f"{name}.csv"
        planted_predictions(planted_audit, name, acc_copied=0.9, acc_other=0.5, seed=1).to_csv(paths[name], index=False)
    out = planted_audit.root / "descriptor_run"
    args = descriptor_args(planted_audit, out, paths)
    result = CliRunner().invoke(app, args)
    failure = "" if result.exception is None or isinstance(result.exception, SystemExit) else repr(result.exception)
    return DescriptorRun(out, tuple(args), result.exit_code, result.output + failure)
