"""Descriptor extraction: image source -> DIR/descriptors.npy + DIR/ids.txt (or numbered pairs), resumable.

Work happens one source shard at a time into DIR/parts/; a finished shard is never redone. At the
end the parts become `descriptors.npy`/`ids.txt` (at most `single_file_limit` rows) or numbered
pairs `descriptors-00000.npy`/`ids-00000.txt`, unreadable images go to `skipped.csv`, and
`embed.json` records what was embedded with which detector. `embed.settings.json` records what the
outputs depend on (the source's fingerprint, the detector's hash, the parameters that change the
output, the tool version); a rerun with other settings stops with the differences
(`clip_core.run_settings.record_or_check`) unless `overwrite` clears the folder's outputs first.
"""
from __future__ import annotations

import csv
import io
import json
import os
import queue
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image

from clip_core.atomic_files import atomic_write_text
from clip_core.engines import LocalEngine, ShardEngine, ShardJob, ShardsFailed
from clip_core.run_settings import RunSettings, fingerprint_source, module_sha256, record_or_check
from detector.descriptor_files import read_descriptor_set
from detector.model import Detector
from detector.preprocess import image_to_uint8, normalise_batch
from detector.sources import open_images

SKIPPED_COLUMNS = ("id", "location", "reason")
EMBED_STAGE = "embed"
EMBED_OUTPUTS = ("embed.json", "skipped.csv", "parts", "descriptors.npy", "ids.txt", "descriptors-*.npy", "ids-*.txt")


@dataclass(frozen=True)
class EmbedConfig:
    """Batch size, device ("auto", "cpu", "cuda"), single-file row limit, decoding plan, JPEG draft decoding.

    `prefetch_batches` and `decode_workers` left at None follow `decode_plan` for the device.
    """

    batch_size: int = 64
    device: str = "auto"
    single_file_limit: int = 100_000
    prefetch_batches: int | None = None
    decode_workers: int | None = None
    format: str | None = None
    progress: bool = True
    draft_jpeg: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"EmbedConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.single_file_limit < 1:
            raise ValueError(f"EmbedConfig.single_file_limit must be >= 1, got {self.single_file_limit}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ValueError(f"EmbedConfig.device must be auto, cpu or cuda[:N], got {self.device!r}")
        if self.prefetch_batches is not None and self.prefetch_batches < 0:
            raise ValueError(f"EmbedConfig.prefetch_batches must be >= 0, got {self.prefetch_batches}")
        if self.decode_workers is not None and self.decode_workers < 1:
            raise ValueError(f"EmbedConfig.decode_workers must be >= 1, got {self.decode_workers}")


@dataclass
class EmbedResult:
    """What an embedding run produced."""

    out_dir: Path
    count: int
    skipped: int
    dim: int
    files: list[str] = field(default_factory=list)
    reused_parts: int = 0
    already_done: bool = False


def pick_device(name: str) -> torch.device:
    """`auto` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@dataclass(frozen=True)
class DecodePlan:
    """How images reach the model: threads that decode them, batches decoded ahead in the background."""

    workers: int
    prefetch: int


def decode_plan(device: torch.device, config: EmbedConfig = EmbedConfig()) -> DecodePlan:
    """CPU: decode in step with the model on torch's threads; CUDA: decode ahead on up to 8 threads.

    On a CPU the forward pass already uses every core torch was given; decoding beside it only
    takes cores away (measured in docs/benchmarks.md), so batches are decoded in parallel between
    forward passes instead. On a GPU the cores are free while the model runs.
    """
    if device.type == "cuda":
        workers, prefetch = min(8, os.cpu_count() or 1), 3
    else:
        workers, prefetch = max(1, torch.get_num_threads()), 0
    return DecodePlan(config.decode_workers or workers,
                      prefetch if config.prefetch_batches is None else config.prefetch_batches)


class DescriptorRunner:
    """A detector prepared for inference on one device (channels_last everywhere, bf16 on CUDA)."""

    def __init__(self, model: Detector, device: str = "auto") -> None:
        self.device = pick_device(device)
        if any(hasattr(m, "parametrizations") for m in model.modules()):
            model = model.folded_copy()  # the caller's (maybe still training) model stays as it is
        self.model = model.eval().to(self.device)
        self.input_size = model.config.input_size
        self.dim = model.config.dim
        # channels_last: oneDNN's fast path on CPU (about 1.5-2x at low resolution) and tensor cores on CUDA
        self.model = self.model.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def embed_uint8(self, batch: np.ndarray | torch.Tensor) -> np.ndarray:
        """(N, H, W, 3) uint8 images to (N, dim) float32 L2-normalised descriptors."""
        t = torch.as_tensor(batch)
        x = normalise_batch(t.to(self.device, non_blocking=True)).contiguous(memory_format=torch.channels_last)
        if self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = self.model(x)
        else:
            out = self.model(x)
        out = torch.nn.functional.normalize(out.float(), dim=-1)
        return out.cpu().numpy().astype(np.float32, copy=False)

    def embed_images(self, images: Sequence[Image.Image], batch_size: int = 64) -> np.ndarray:
        """Descriptors of in-memory PIL images."""
        rows = [self.embed_uint8(np.stack([image_to_uint8(im, self.input_size) for im in images[i:i + batch_size]]))
                for i in range(0, len(images), batch_size)]
        return np.concatenate(rows) if rows else np.zeros((0, self.dim), np.float32)


def _batches(examples: Iterable[Any], size: int, batch_size: int) -> Iterator[tuple[list[str], np.ndarray]]:
    ids: list[str] = []
    arrays: list[np.ndarray] = []
    for ex in examples:
        ids.append(ex.id)
        arrays.append(image_to_uint8(ex.image, size))
        if len(ids) == batch_size:
            yield ids, np.stack(arrays)
            ids, arrays = [], []
    if ids:
        yield ids, np.stack(arrays)


def prefetch_batches(examples: Iterable[Any], size: int, batch_size: int, depth: int) -> Iterator[tuple[list[str], np.ndarray]]:
    """Yield (ids, (N, size, size, 3) uint8) batches, decoded `depth` batches ahead in a background thread (0: in step)."""
    if depth == 0:
        yield from _batches(examples, size, batch_size)
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in _batches(examples, size, batch_size):
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def embed_examples(runner: DescriptorRunner, examples: Any, batch_size: int, config: EmbedConfig = EmbedConfig(),
                   on_batch: Callable[[int], None] | None = None) -> tuple[list[str], np.ndarray]:
    """(ids, descriptors) of a source or shard, decoded as `decode_plan` says for the runner's device."""
    plan = decode_plan(runner.device, config)
    examples.set_decode_workers(plan.workers)
    ids: list[str] = []
    rows: list[np.ndarray] = []
    for batch_ids, batch in prefetch_batches(examples, runner.input_size, batch_size, plan.prefetch):
        rows.append(runner.embed_uint8(batch))
        ids.extend(batch_ids)
        if on_batch is not None:
            on_batch(len(batch_ids))
    return ids, (np.concatenate(rows) if rows else np.zeros((0, runner.dim), np.float32))


def _write_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)


def _skipped_csv(rows: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(SKIPPED_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue()


def _read_skipped(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [row for row in csv.reader(fh)][1:]


def _run_identity(images: str, detector_spec: str, model: Detector) -> dict[str, Any]:
    return {"source": str(images), "detector": detector_spec, "detector_config": model.config.to_dict()}


def detector_fingerprint(model: Detector) -> dict[str, Any]:
    """What identifies a detector's descriptors: the sha256 of its weights, its configuration and the preprocessing."""
    from detector.preprocess import PREPROCESS_FORMAT

    return {"sha256": module_sha256(model), "config": model.config.to_dict(), "preprocess": PREPROCESS_FORMAT}


def embed_settings(images: str, model: Detector, config: EmbedConfig) -> RunSettings:
    """The settings an embed output folder depends on (batch size, device and decoding plan do not change it)."""
    parameters = {"format": config.format, "single_file_limit": config.single_file_limit, "draft_jpeg": config.draft_jpeg}
    return RunSettings(inputs={"images": fingerprint_source(images)}, model=detector_fingerprint(model), parameters=parameters)


class EmbedPartContext:
    """What every part's embedding needs: the detector (prepared once per process), the settings, a progress callback."""

    def __init__(self, model: Detector, config: EmbedConfig, on_batch: Callable[[int], None] | None = None) -> None:
        self.model, self.config, self.on_batch = model, config, on_batch
        self._runner: DescriptorRunner | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Picklable state: the model and settings (no runner, no callback)."""
        return {"model": self.model, "config": self.config, "on_batch": None, "_runner": None}

    def runner(self) -> DescriptorRunner:
        """The detector on its device, prepared on first use."""
        if self._runner is None:
            self._runner = DescriptorRunner(self.model, self.config.device)
        return self._runner


def embed_part(context: EmbedPartContext, payload: tuple[Path, Any]) -> tuple[int, int]:
    """The shard function every engine runs: embed one source shard into its part files; returns (images, unreadable)."""
    stem, shard = payload
    runner = context.runner()
    ids, matrix = embed_examples(runner, shard, context.config.batch_size, context.config, context.on_batch)
    for i in ids:
        if "\n" in i:
            raise ValueError(f"id {i!r} in shard {shard.name} contains a newline; ids.txt needs one id per line")
    _write_npy(Path(f"{stem}.npy"), matrix)
    atomic_write_text(f"{stem}.ids.txt", "".join(f"{i}\n" for i in ids))
    atomic_write_text(f"{stem}.skipped.csv", _skipped_csv((s.id, s.location, s.reason) for s in shard.skipped))
    atomic_write_text(Path(stem).with_suffix(".done"), shard.name + "\n")
    return len(ids), len(shard.skipped)


def _check_ids(images: str, stems: list[Path], shards: list[Any]) -> None:
    """Every id of the finished parts is one line and unique across shards."""
    seen_ids: dict[str, str] = {}
    for stem, shard in zip(stems, shards):
        for i in Path(f"{stem}.ids.txt").read_text(encoding="utf-8").splitlines():
            if i in seen_ids:
                raise ValueError(f"duplicate id {i!r} in shards {seen_ids[i]} and {shard.name} of {images}")
            seen_ids[i] = shard.name


def embed_source(images: str, out_dir: str | Path, model: Detector, detector_spec: str = "custom",
                 config: EmbedConfig = EmbedConfig(), overwrite: bool = False,
                 engine: ShardEngine | None = None) -> EmbedResult:
    """Embed every readable image of `images` into `out_dir` (see module docstring); resumes a stopped run.

    `engine` (default: this process) runs the per-shard work; shards that fail on every attempt
    raise `ShardsFailed` after the others finished (a rerun redoes only those).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record_or_check(out, EMBED_STAGE, embed_settings(images, model, config), overwrite, EMBED_OUTPUTS)
    identity = _run_identity(images, detector_spec, model)
    summary_path = out / "embed.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        return EmbedResult(out, summary["count"], summary["skipped"], summary["dim"], summary["files"], 0, True)
    parts = out / "parts"
    parts.mkdir(exist_ok=True)

    source = open_images(images, format=config.format, draft_size=model.config.input_size if config.draft_jpeg else None)
    shards = source.shards()
    engine = engine or LocalEngine()
    stems = [parts / f"part-{index:05d}" for index in range(len(shards))]
    todo = [ShardJob(shard.name, (stem, shard)) for stem, shard in zip(stems, shards) if not stem.with_suffix(".done").is_file()]
    reused = len(shards) - len(todo)
    progress = None
    if config.progress:
        from tqdm.auto import tqdm

        progress = tqdm(total=source.num_examples, unit="img", desc=f"embed {Path(str(images)).name} ({engine.name})")
    context = EmbedPartContext(model, config, progress.update if progress is not None and engine.in_process else None)

    def finished(name: str, result: tuple[int, int]) -> None:
        if progress is not None:
            progress.update(result[1] + (0 if engine.in_process else result[0]))

    try:
        failures = engine.run(embed_part, context, todo, finished)
    finally:
        if progress is not None:
            progress.close()
    if failures:
        raise ShardsFailed(failures, str(parts))
    _check_ids(images, stems, shards)
    return _finalise(out, parts, len(shards), model.config.dim, identity, reused, config.single_file_limit)


def _finalise(out: Path, parts: Path, n_parts: int, dim: int, identity: dict[str, Any], reused: int,
              single_file_limit: int) -> EmbedResult:
    """Turn finished parts into the published layout, skipped.csv and embed.json."""
    stems = [parts / f"part-{i:05d}" for i in range(n_parts)]
    counts = [len(Path(f"{s}.ids.txt").read_text(encoding="utf-8").splitlines()) for s in stems]
    total = sum(counts)
    skipped_rows = [row for s in stems for row in _read_skipped(Path(f"{s}.skipped.csv"))]
    for old in list(out.glob("descriptors*.npy")) + list(out.glob("ids*.txt")):
        old.unlink()
    files: list[str] = []
    if total <= single_file_limit:
        mats = [np.load(f"{s}.npy") for s in stems]
        matrix = np.concatenate(mats) if mats else np.zeros((0, dim), np.float32)
        _write_npy(out / "descriptors.npy", matrix.astype(np.float32, copy=False))
        atomic_write_text(out / "ids.txt", "".join(Path(f"{s}.ids.txt").read_text(encoding="utf-8") for s in stems))
        files = ["descriptors.npy", "ids.txt"]
    else:
        k = 0
        for s, n in zip(stems, counts):
            if n == 0:
                continue
            Path(f"{s}.npy").replace(out / f"descriptors-{k:05d}.npy")
            Path(f"{s}.ids.txt").replace(out / f"ids-{k:05d}.txt")
            files += [f"descriptors-{k:05d}.npy", f"ids-{k:05d}.txt"]
            k += 1
    atomic_write_text(out / "skipped.csv", _skipped_csv(skipped_rows))
    summary = {**identity, "status": "complete", "count": total, "skipped": len(skipped_rows), "dim": dim,
               "files": files, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_text(out / "embed.json", json.dumps(summary, indent=2))
    shutil.rmtree(parts)
    return EmbedResult(out, total, len(skipped_rows), dim, files, reused)


def read_descriptors(out_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """Read back an embed output folder (single file or numbered pairs) as (ids, matrix)."""
    shard = read_descriptor_set(Path(out_dir), allow_empty=True)
    return shard.ids, shard.descriptors


def summary_dict(result: EmbedResult) -> dict[str, Any]:
    """JSON-ready form of an EmbedResult."""
    d = asdict(result)
    d["out_dir"] = str(result.out_dir)
    return d
