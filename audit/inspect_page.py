"""`clip-audit inspect`: the page that shows evaluation/pre-training pairs around a dataset's threshold.

The page shows the pairs of ``neighbours.parquet`` closest to the candidate threshold, ordered by
similarity, with the two images side by side (when the overlap run recorded its image sources in
``sources.json``). Pairs are marked with buttons or the keys d / n / u, and saved in the labels.csv
format (dataset, eval_id, pretraining_id, is_duplicate): as a download from the self-contained
page, or, with `--serve`, through the labelling server of ``audit.inspect_server``, which embeds
its session token in the page.

Each pair is rendered by ``render_pair`` from ``templates/inspect_pair.html``; what the page shows
for a pair is a ``PairView``, so a new per-pair element is one field there and one block in the
pair template.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from clip_core.data.imageio import jpeg_data_uri
from audit.overlap_pipeline import NEIGHBOURS_FILE, read_decisions
from audit.thresholds import read_labels

SOURCES_FILE = "sources.json"
LABELS_FILE = "labels.csv"
PAIR_KEY_SEPARATOR = "\u0000"  # joins eval_id and pretraining_id into the page's key of a pair


@dataclass(frozen=True)
class InspectOptions:
    """Which pairs the page shows."""

    dataset: str
    count: int = 200
    threshold: float | None = None  # None: the threshold in thresholds.json, else the median similarity
    thumbnail: int = 160


@dataclass(frozen=True)
class PairView:
    """What the page shows for one pair."""

    index: int
    eval_id: str
    pretraining_id: str
    rank: int
    similarity: float
    above_threshold: bool
    eval_image: str | None  # a data URI, or None when the image source is unknown
    pretraining_image: str | None
    score: float | None = None  # the two-stage score thresholds apply to
    status: str = ""  # verified, dense, rejected, fallback, unverified
    matches_image: str | None = None  # the inlier matches drawn between the two images (data URI)
    transform: str = ""  # the transform in words


@dataclass(frozen=True)
class InspectPage:
    """A rendered page and the pairs it was built from."""

    html: str
    dataset: str
    threshold: float
    pairs: pd.DataFrame  # dataset, eval_id, rank, pretraining_id, similarity


def select_pairs(neighbours: pd.DataFrame, dataset: str, threshold: float, count: int) -> pd.DataFrame:
    """The `count` pairs of a dataset closest in score (similarity without one) to the threshold, best first."""
    rows = neighbours[neighbours["dataset"] == dataset]
    if rows.empty:
        known = sorted(neighbours["dataset"].unique())
        raise ValueError(f"dataset '{dataset}' is not in the overlap results; known: {known}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    column = "score" if "score" in rows.columns else "similarity"
    closest = rows.assign(distance=(rows[column] - threshold).abs()).nsmallest(count, "distance", keep="first")
    return closest.sort_values([column, "eval_id"], ascending=[False, True]).drop(columns="distance").reset_index(drop=True)


def _images(location: str | None, wanted: set[str]) -> dict:
    """The wanted ids' images from an image source (empty when there is none)."""
    if not location or not wanted:
        return {}
    from clip_core.data import open_source

    found: dict = {}
    for example in open_source(location):
        if example.id in wanted:
            found[example.id] = example.image
            if len(found) == len(wanted):
                break
    return found


def _match_view(eval_image, pretraining_image, size: int) -> tuple[str | None, str]:  # noqa: ANN001 - PIL images
    """The pair verified again: its inlier matches drawn (data URI) and the transform in words."""
    from detector.verify import VerifyConfig, extract_with_mirror, extract_features, verify_pair
    from detector.verify_drawing import describe_transform, draw_matches

    config = VerifyConfig()
    query, mirror = extract_with_mirror(pretraining_image, config)
    verification = verify_pair(query, mirror, extract_features(eval_image, config), config)
    words = describe_transform(verification)
    if not verification.verified:
        return None, words
    return jpeg_data_uri(draw_matches(pretraining_image, eval_image, verification, config, height=size), 2 * size + 8), words


def _existing_labels(overlap_dir: Path, dataset: str) -> dict[str, int]:
    """Labels already saved for this dataset, keyed as the page keys them."""
    path = overlap_dir / LABELS_FILE
    if not path.is_file():
        return {}
    labels = read_labels(path)
    labels = labels[labels["dataset"] == dataset]
    return {
        f"{e}{PAIR_KEY_SEPARATOR}{p}": int(d)
        for e, p, d in zip(labels["eval_id"], labels["pretraining_id"], labels["is_duplicate"])
    }


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """The Jinja environment of the inspect templates (HTML autoescaped)."""
    return Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"]))


def render_pair(pair: PairView) -> Markup:
    """The HTML section that shows one pair and its label buttons."""
    return Markup(_environment().get_template("inspect_pair.html").render(pair=pair))


def build_page(overlap_dir: Path, options: InspectOptions, save_url: str | None = None, token: str | None = None) -> InspectPage:
    """The self-contained page for one dataset; with `save_url` and `token` it saves to a labelling server."""
    overlap_dir = Path(overlap_dir)
    neighbours_path = overlap_dir / NEIGHBOURS_FILE
    if not neighbours_path.is_file():
        raise FileNotFoundError(f"no overlap results in {overlap_dir}: {NEIGHBOURS_FILE} is missing")
    neighbours = pd.read_parquet(neighbours_path)
    threshold = options.threshold
    if threshold is None:
        decision = read_decisions(overlap_dir).get(options.dataset)
        threshold = decision.threshold if decision else float(neighbours.loc[neighbours["dataset"] == options.dataset, "similarity"].median())
    pairs = select_pairs(neighbours, options.dataset, threshold, options.count)
    sources = json.loads((overlap_dir / SOURCES_FILE).read_text()) if (overlap_dir / SOURCES_FILE).is_file() else {}
    eval_images = _images(sources.get("eval", {}).get(options.dataset), set(pairs["eval_id"]))
    pre_images = _images(sources.get("pretraining"), set(pairs["pretraining_id"]))
    sections = []
    for index, row in enumerate(pairs.to_dict("records")):
        eval_image, pre_image = eval_images.get(row["eval_id"]), pre_images.get(row["pretraining_id"])
        drawn, words, status = None, "", str(row.get("status", ""))
        if status == "unverified":
            words = "not checked: the global similarity is below the candidate floor (or no pixels to verify)"
        elif eval_image is not None and pre_image is not None:
            drawn, words = _match_view(eval_image, pre_image, options.thumbnail)
            if status == "dense":
                words = f"keypoint geometry inconclusive ({words}); the thumbnails align like a copy (dense check)"
        value = float(row.get("score", row["similarity"]))
        sections.append(render_pair(PairView(
            index=index, eval_id=str(row["eval_id"]), pretraining_id=str(row["pretraining_id"]), rank=int(row["rank"]),
            similarity=float(row["similarity"]), above_threshold=bool(value >= threshold),
            eval_image=None if eval_image is None else jpeg_data_uri(eval_image, options.thumbnail),
            pretraining_image=None if pre_image is None else jpeg_data_uri(pre_image, options.thumbnail),
            score=float(row["score"]) if "score" in row else None, status=str(row.get("status", "")),
            matches_image=drawn, transform=words,
        )))
    html = _environment().get_template("inspect.html").render(
        dataset=options.dataset, threshold=threshold, sections=sections, save_url=save_url, token=token,
        key_separator=PAIR_KEY_SEPARATOR, initial_labels=_existing_labels(overlap_dir, options.dataset),
    )
    return InspectPage(html=html, dataset=options.dataset, threshold=float(threshold), pairs=pairs)


def render_page(overlap_dir: Path, options: InspectOptions) -> str:
    """The self-contained HTML page for one dataset (labels saved as a download)."""
    return build_page(overlap_dir, options).html
