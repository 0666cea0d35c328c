"""Write examples in the real on-disk formats: ImageFolder, CSV manifest, WebDataset, img2dataset.

For test fixtures, demos and exports. Every writer takes an iterable of ``Example`` objects or of
tuples ``(id, image, text)`` (``text`` is a caption or a label, chosen by ``text_field``) or
``(id, image, label, caption)``, and returns a ``WriteResult`` with the written paths and the map
from each given id to the id the matching reader will report. Tar files are written
deterministically (fixed mtime/owner) and atomically (temporary name, then rename).

Public API
----------
- ``WriteResult(paths: list[Path], ids: dict[str, str])``.
- ``as_examples(items, text_field="caption") -> Iterator[Example]``.
- ``encode_image(image, ext) -> bytes`` (``jpg``/``jpeg`` at quality 95, ``png``, ``webp``, ``bmp``).
- ``write_image_folder(items, root, *, ext="png", text_field="caption") -> WriteResult``: labelled
  examples go to ``root/<label>/``, unlabelled ones to ``root/``; captions to sibling ``.txt``.
- ``write_csv_manifest(items, csv_path, *, image_dir=None, ext="png", text_field="caption",
  write_ids=True) -> WriteResult``: images under ``image_dir`` (default ``<csv dir>/images``),
  columns ``id`` (optional), ``path`` (relative to the CSV when possible), ``label``, ``caption``.
- ``write_webdataset(items, out_dir, *, shard_size=1000, ext="jpg", text_field="caption",
  start_shard=0) -> WriteResult``: ``out_dir/00000.tar``...; a sample is ``<key>.<ext>``,
  ``<key>.txt`` (caption), ``<key>.cls`` (label), ``<key>.json`` (original id, label, caption);
  the key is the id with characters outside ``[A-Za-z0-9_/-]`` replaced by ``_``.
- ``write_img2dataset(items, out_dir, *, shard_size=1000, failed=(), ext="jpg",
  text_field="caption") -> WriteResult``: ``00000.tar`` + ``00000.parquet`` (url, caption, key,
  status, error_message, width, height, original_width, original_height, exif, sha256) +
  ``00000_stats.json``; ids in ``failed`` become ``failed_to_download`` rows absent from the tar;
  keys are 9 digits (5 for the shard, 4 for the row), so ``shard_size`` is at most 10,000.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from .imageio import IMAGE_EXTENSIONS
from .records import Example

_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP"}


@dataclass
class WriteResult:
    """Paths written and the id each given example will have when read back."""

    paths: list[Path] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)


def as_examples(items: Iterable, text_field: str = "caption") -> Iterator[Example]:
    """Coerce Examples or (id, image, text) / (id, image, label, caption) tuples to Examples."""
    if text_field not in ("caption", "label"):
        raise ValueError(f"text_field must be 'caption' or 'label', got {text_field!r}")
    for item in items:
        if isinstance(item, Example):
            yield item
            continue
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3, 4):
            raise ValueError(f"cannot write item {item!r}: expected an Example or (id, image[, text]) tuple")
        if len(item) == 4:
            yield Example(str(item[0]), item[1], item[2], item[3])
        elif len(item) == 3:
            text = item[2]
            yield Example(str(item[0]), item[1], text if text_field == "label" else None,
                          text if text_field == "caption" else None)
        else:
            yield Example(str(item[0]), item[1])


def encode_image(image: Image.Image, ext: str) -> bytes:
    """Encode an image in the format named by ``ext``."""
    fmt = _FORMATS.get(ext.lower().lstrip("."))
    if fmt is None:
        raise ValueError(f"unsupported image extension {ext!r}; use one of {sorted(_FORMATS)}")
    buf = io.BytesIO()
    img = image.convert("RGB") if image.mode != "RGB" else image
    img.save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _file_stem(example_id: str) -> str:
    """A flat, safe file stem for an id (image suffix dropped, separators replaced)."""
    stem = example_id
    root, suffix = os.path.splitext(stem)
    if suffix.lower() in IMAGE_EXTENSIONS:
        stem = root
    return re.sub(r"[^A-Za-z0-9_\-.]", "_", stem).strip(".") or "_"


def _key(example_id: str) -> str:
    """A WebDataset key for an id: no dots, no unsafe characters."""
    key = re.sub(r"[^A-Za-z0-9_/\-]", "_", example_id).strip("/")
    return key or "_"


def _check_unique(mapping: dict[str, str], given: str, written: str, where: str) -> None:
    """Raise when two ids collide after sanitising."""
    if given in mapping:
        raise ValueError(f"duplicate id {given!r} given to the {where} writer")
    if written in set(mapping.values()):
        raise ValueError(f"ids collide after sanitising for the {where} writer: {written!r}")


def write_image_folder(
    items: Iterable, root: str | os.PathLike[str], *, ext: str = "png", text_field: str = "caption"
) -> WriteResult:
    """Write an ImageFolder tree (labels as sub-folders, captions as sibling .txt files)."""
    root_path = Path(root)
    root_path.mkdir(parents=True, exist_ok=True)
    result = WriteResult()
    ext = ext.lstrip(".").lower()
    for ex in as_examples(items, text_field):
        folder = root_path / _file_stem(ex.label) if ex.label else root_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{_file_stem(ex.id)}.{ext}"
        rel = path.relative_to(root_path).as_posix()
        _check_unique(result.ids, ex.id, rel, "image folder")
        path.write_bytes(encode_image(ex.image, ext))
        if ex.caption:
            path.with_suffix(".txt").write_text(ex.caption + "\n", encoding="utf-8")
        result.paths.append(path)
        result.ids[ex.id] = rel
    return result


def write_csv_manifest(
    items: Iterable,
    csv_path: str | os.PathLike[str],
    *,
    image_dir: str | os.PathLike[str] | None = None,
    ext: str = "png",
    text_field: str = "caption",
    write_ids: bool = True,
) -> WriteResult:
    """Write images plus a CSV manifest (id, path, label, caption)."""
    import pandas as pd

    csv_file = Path(csv_path)
    csv_file.parent.mkdir(parents=True, exist_ok=True)
    img_dir = Path(image_dir) if image_dir is not None else csv_file.parent / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    ext = ext.lstrip(".").lower()
    rows, result = [], WriteResult()
    for ex in as_examples(items, text_field):
        path = img_dir / f"{_file_stem(ex.id)}.{ext}"
        try:
            rel = os.path.relpath(path, csv_file.parent).replace(os.sep, "/")
        except ValueError:  # different drive on Windows
            rel = str(path)
        reader_id = ex.id if write_ids else rel
        _check_unique(result.ids, ex.id, reader_id, "CSV")
        path.write_bytes(encode_image(ex.image, ext))
        rows.append({"id": ex.id, "path": rel, "label": ex.label or "", "caption": ex.caption or ""})
        result.paths.append(path)
        result.ids[ex.id] = reader_id
    columns = (["id"] if write_ids else []) + ["path"]
    columns += [c for c in ("label", "caption") if any(r[c] for r in rows)]
    pd.DataFrame(rows, columns=["id", "path", "label", "caption"])[columns].to_csv(csv_file, index=False)
    result.paths.append(csv_file)
    return result


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add one file to a tar with deterministic metadata."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


class _AtomicTar:
    """A tar written under a temporary name and renamed on success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")
        self.tar = tarfile.open(self.tmp, "w", format=tarfile.USTAR_FORMAT)

    def close(self) -> None:
        self.tar.close()
        os.replace(self.tmp, self.path)


def write_webdataset(
    items: Iterable,
    out_dir: str | os.PathLike[str],
    *,
    shard_size: int = 1000,
    ext: str = "jpg",
    text_field: str = "caption",
    start_shard: int = 0,
) -> WriteResult:
    """Write WebDataset tar shards (image, .txt caption, .cls label, .json metadata per sample)."""
    if shard_size <= 0:
        raise ValueError(f"shard_size must be positive, got {shard_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = ext.lstrip(".").lower()
    result = WriteResult()
    current: _AtomicTar | None = None
    count, shard_idx = 0, start_shard
    for ex in as_examples(items, text_field):
        if current is None:
            current = _AtomicTar(out / f"{shard_idx:05d}.tar")
        key = _key(ex.id)
        _check_unique(result.ids, ex.id, key, "WebDataset")
        _add_member(current.tar, f"{key}.{ext}", encode_image(ex.image, ext))
        if ex.caption:
            _add_member(current.tar, f"{key}.txt", ex.caption.encode("utf-8"))
        if ex.label:
            _add_member(current.tar, f"{key}.cls", ex.label.encode("utf-8"))
        meta = {"id": ex.id, "label": ex.label, "caption": ex.caption}
        _add_member(current.tar, f"{key}.json", json.dumps(meta, sort_keys=True).encode("utf-8"))
        result.ids[ex.id] = key
        count += 1
        if count == shard_size:
            current.close()
            result.paths.append(current.path)
            current, count, shard_idx = None, 0, shard_idx + 1
    if current is not None:
        current.close()
        result.paths.append(current.path)
    return result


_I2D_SCHEMA = pa.schema([
    ("url", pa.string()), ("caption", pa.string()), ("key", pa.string()), ("status", pa.string()),
    ("error_message", pa.string()), ("width", pa.int64()), ("height", pa.int64()),
    ("original_width", pa.int64()), ("original_height", pa.int64()), ("exif", pa.string()),
    ("sha256", pa.string()),
])


def _write_i2d_shard(out: Path, shard_idx: int, rows: list[tuple[Example, bool]], ext: str, result: WriteResult) -> None:
    """Write one img2dataset shard: tar, parquet and stats."""
    name = f"{shard_idx:05d}"
    tar = _AtomicTar(out / f"{name}.tar")
    table_rows = []
    for idx, (ex, ok) in enumerate(rows):
        key = f"{shard_idx:05d}{idx:04d}"
        url = f"https://example.invalid/{ex.id}"
        if ok:
            data = encode_image(ex.image, ext)
            sha = hashlib.sha256(data).hexdigest()
            row = {"url": url, "caption": ex.caption, "key": key, "status": "success", "error_message": None,
                   "width": ex.image.width, "height": ex.image.height, "original_width": ex.image.width,
                   "original_height": ex.image.height, "exif": "{}", "sha256": sha}
            _add_member(tar.tar, f"{key}.{ext}", data)
            if ex.caption:
                _add_member(tar.tar, f"{key}.txt", ex.caption.encode("utf-8"))
            if ex.label:
                _add_member(tar.tar, f"{key}.cls", ex.label.encode("utf-8"))
            _add_member(tar.tar, f"{key}.json", json.dumps(row, sort_keys=True).encode("utf-8"))
            result.ids[ex.id] = key
        else:
            row = {"url": url, "caption": ex.caption, "key": key, "status": "failed_to_download",
                   "error_message": "HTTP Error 404: Not Found", "width": None, "height": None,
                   "original_width": None, "original_height": None, "exif": None, "sha256": None}
        table_rows.append(row)
    tar.close()
    parquet = out / f"{name}.parquet"
    tmp = out / f".{name}.parquet.tmp"
    pq.write_table(pa.Table.from_pylist(table_rows, schema=_I2D_SCHEMA), tmp)
    os.replace(tmp, parquet)
    successes = sum(1 for _, ok in rows if ok)
    stats = {
        "count": len(rows), "successes": successes, "failed_to_download": len(rows) - successes,
        "failed_to_resize": 0, "duration": 0.0, "start_time": 0.0, "end_time": 0.0,
        "status_dict": {k: v for k, v in (("success", successes),
                                          ("HTTP Error 404: Not Found", len(rows) - successes)) if v},
    }
    (out / f"{name}_stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True), encoding="utf-8")
    result.paths.extend([tar.path, parquet, out / f"{name}_stats.json"])


def write_img2dataset(
    items: Iterable,
    out_dir: str | os.PathLike[str],
    *,
    shard_size: int = 1000,
    failed: Iterable[str] = (),
    ext: str = "jpg",
    text_field: str = "caption",
) -> WriteResult:
    """Write img2dataset-style output (tar + parquet + _stats.json per shard)."""
    if not 0 < shard_size <= 10_000:
        raise ValueError(f"shard_size must be in 1..10000 for 9-digit keys, got {shard_size}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = ext.lstrip(".").lower()
    failed_ids = set(failed)
    result = WriteResult()
    rows: list[tuple[Example, bool]] = []
    shard_idx = 0
    given: set[str] = set()
    for ex in as_examples(items, text_field):
        if ex.id in given:
            raise ValueError(f"duplicate id {ex.id!r} given to the img2dataset writer")
        given.add(ex.id)
        rows.append((ex, ex.id not in failed_ids))
        if len(rows) == shard_size:
            _write_i2d_shard(out, shard_idx, rows, ext, result)
            rows, shard_idx = [], shard_idx + 1
    if rows:
        _write_i2d_shard(out, shard_idx, rows, ext, result)
    return result
