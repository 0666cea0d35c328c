"""`clip-audit inspect`: label evaluation/pre-training pairs around a dataset's candidate threshold.

The page shows the pairs of ``neighbours.parquet`` closest to the candidate threshold, ordered by
similarity, with the two images side by side (when the overlap run recorded its image sources in
``sources.json``). Pairs are marked with buttons or the keys d / n / u, and saved in the labels.csv
format (dataset, eval_id, pretraining_id, is_duplicate): as a download from the self-contained
page, or, with `--serve`, by a small server on 127.0.0.1 that writes ``labels.csv`` in the overlap
folder (merged with the labels already there; the newest label of a pair wins).
"""
from __future__ import annotations

import base64
import io
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from clip_core.atomic_files import atomic_write_text
from audit.overlap_pipeline import NEIGHBOURS_FILE, read_decisions
from audit.thresholds import LABEL_COLUMNS, read_labels

SOURCES_FILE = "sources.json"
LABELS_FILE = "labels.csv"


@dataclass(frozen=True)
class InspectOptions:
    """Which pairs the page shows."""

    dataset: str
    count: int = 200
    threshold: float | None = None  # None: the threshold in thresholds.json, else the median similarity
    thumbnail: int = 160


def select_pairs(neighbours: pd.DataFrame, dataset: str, threshold: float, count: int) -> pd.DataFrame:
    """The `count` pairs of a dataset closest in similarity to the threshold, most similar first."""
    rows = neighbours[neighbours["dataset"] == dataset]
    if rows.empty:
        known = sorted(neighbours["dataset"].unique())
        raise ValueError(f"dataset '{dataset}' is not in the overlap results; known: {known}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    closest = rows.assign(distance=(rows["similarity"] - threshold).abs()).nsmallest(count, "distance", keep="first")
    return closest.sort_values(["similarity", "eval_id"], ascending=[False, True]).drop(columns="distance").reset_index(drop=True)


def _data_uri(image, size: int) -> str:  # noqa: ANN001 - PIL image
    """A JPEG thumbnail as a data URI."""
    thumbnail = image.convert("RGB")
    thumbnail.thumbnail((size, size))
    buffer = io.BytesIO()
    thumbnail.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumbnails(location: str | None, wanted: set[str], size: int) -> dict[str, str]:
    """Thumbnails of the wanted ids from an image source (empty when there is none)."""
    if not location or not wanted:
        return {}
    from clip_core.data import open_source

    found: dict[str, str] = {}
    for example in open_source(location):
        if example.id in wanted:
            found[example.id] = _data_uri(example.image, size)
            if len(found) == len(wanted):
                break
    return found


def _existing_labels(overlap_dir: Path, dataset: str) -> dict[str, int]:
    """Labels already saved for this dataset, keyed as the page keys them."""
    path = overlap_dir / LABELS_FILE
    if not path.is_file():
        return {}
    labels = read_labels(path)
    labels = labels[labels["dataset"] == dataset]
    return {f"{e}\u0000{p}": int(d) for e, p, d in zip(labels["eval_id"], labels["pretraining_id"], labels["is_duplicate"])}


def render_page(overlap_dir: Path, options: InspectOptions, save_url: str | None = None) -> str:
    """The self-contained HTML page for one dataset."""
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
    eval_images = _thumbnails(sources.get("eval", {}).get(options.dataset), set(pairs["eval_id"]), options.thumbnail)
    pre_images = _thumbnails(sources.get("pretraining"), set(pairs["pretraining_id"]), options.thumbnail)
    records = [
        {**row, "eval_image": eval_images.get(row["eval_id"]), "pretraining_image": pre_images.get(row["pretraining_id"])}
        for row in pairs.to_dict("records")
    ]
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
    )
    return environment.get_template("inspect.html").render(
        dataset=options.dataset, threshold=threshold, pairs=records, save_url=save_url,
        initial_labels=_existing_labels(overlap_dir, options.dataset),
    )


def merge_labels(path: Path, csv_text: str) -> pd.DataFrame:
    """Merge posted labels into the labels file (newest label of a pair wins) and write it atomically."""
    posted = pd.read_csv(io.StringIO(csv_text), dtype={"dataset": str, "eval_id": str, "pretraining_id": str})
    missing = [c for c in LABEL_COLUMNS if c not in posted.columns]
    if missing:
        raise ValueError(f"posted labels miss column(s) {missing}")
    frames = [read_labels(path)] if path.is_file() else []
    merged = pd.concat(frames + [posted[LABEL_COLUMNS]], ignore_index=True)
    merged["is_duplicate"] = merged["is_duplicate"].astype(int)
    merged = merged.drop_duplicates(["dataset", "eval_id", "pretraining_id"], keep="last")
    atomic_write_text(path, merged.to_csv(index=False))
    return merged


def make_server(overlap_dir: Path, options: InspectOptions, port: int = 0) -> ThreadingHTTPServer:
    """A server on 127.0.0.1 that serves the page and writes posted labels to labels.csv."""
    overlap_dir = Path(overlap_dir)
    page = render_page(overlap_dir, options, save_url="/labels").encode("utf-8")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if self.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            if self.path != "/labels":
                self.send_error(404)
                return
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8")
            try:
                with lock:
                    merged = merge_labels(overlap_dir / LABELS_FILE, body)
            except (ValueError, pd.errors.ParserError) as error:
                self.send_error(400, str(error))
                return
            answer = json.dumps({"labels": len(merged)}).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base class
            return

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)
