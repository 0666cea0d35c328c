"""WebDataset tar shards and img2dataset output, read by streaming with ``tarfile``.

Public API
----------
- ``split_member_name(name) -> tuple[str, str] | None``: WebDataset (key, extension) of a tar
  member: the key is the path up to the first dot of the file name, the extension the rest, lower
  case; None for hidden files.
- ``iter_tar_samples(path) -> Iterator[TarSample]``: stream a tar, grouping consecutive members
  that share a key; raises ``tarfile.ReadError``/``OSError`` if the tar is unreadable.
- ``TarSample(key, files: dict[ext, bytes], members: dict[ext, member name])``.
- ``TarShard(path, name, keep=None, metadata=None)``: one tar as a shard. A sample's image is its
  jpg/jpeg/png/webp/bmp member, caption its ``.txt`` (else json ``caption``, else metadata),
  label its ``.cls`` (else json ``label``); id is the key. ``keep``: only these keys (img2dataset
  successes). Unreadable tars or samples are recorded in ``skipped``.
- ``WebDatasetSource(tars, location)``: ``kind == "webdataset"``; keys must be unique across shards
  (checked while iterating the whole source, or with ``check_unique_ids()``).
- ``Img2DatasetSource(tars, location)``: ``kind == "img2dataset"``; each ``NNNNN.tar`` has a
  ``NNNNN.parquet`` (columns include ``key`` and ``status``); only ``status == "success"`` rows are
  examples; ``len()`` is the number of successes; duplicate keys across parquet files raise at open.
- ``shard_names(tars) -> list[str]``: stable, unique, file-name-safe names (tar stems).
"""
from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image

from .base import ImageSource, Shard
from .imageio import TAR_IMAGE_EXTENSIONS, ImageDecodeError, decode_image
from .parallel_decode import ordered_map
from .records import DuplicateIdError, Example, Record

_TEXT_EXTENSIONS = ("txt", "cls", "json")


def split_member_name(name: str) -> tuple[str, str] | None:
    """(key, extension) of a WebDataset member name, or None when it has no key/extension."""
    dirname, _, base = name.rpartition("/")
    if not base or base.startswith(".") or "." not in base:
        return None
    stem, _, ext = base.partition(".")
    if not stem:
        return None
    key = f"{dirname}/{stem}" if dirname else stem
    return key, ext.lower()


def _wanted(ext: str) -> bool:
    """Whether a member extension is read (image or text metadata)."""
    last = ext.rsplit(".", 1)[-1]
    return ext in _TEXT_EXTENSIONS or ext in TAR_IMAGE_EXTENSIONS or last in TAR_IMAGE_EXTENSIONS


@dataclass
class TarSample:
    """The members of one WebDataset sample."""

    key: str
    files: dict[str, bytes] = field(default_factory=dict)
    members: dict[str, str] = field(default_factory=dict)


def iter_tar_samples(path: str | os.PathLike[str]) -> Iterator[TarSample]:
    """Stream a tar file and yield its samples (consecutive members sharing a key)."""
    current: TarSample | None = None
    with tarfile.open(path, mode="r|*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            split = split_member_name(member.name)
            if split is None:
                continue
            key, ext = split
            if current is not None and current.key != key:
                yield current
                current = None
            if current is None:
                current = TarSample(key)
            if _wanted(ext):
                fh = tar.extractfile(member)
                current.files[ext] = fh.read() if fh is not None else b""
            current.members[ext] = member.name
    if current is not None:
        yield current


def _image_member(sample: TarSample) -> str | None:
    """Extension of the sample's image member, by preference order."""
    for ext in TAR_IMAGE_EXTENSIONS:
        if ext in sample.files:
            return ext
    for ext in sample.files:
        if ext.rsplit(".", 1)[-1] in TAR_IMAGE_EXTENSIONS:
            return ext
    return None


def _text(data: bytes | None) -> str | None:
    """Decode a text member, None when absent or empty."""
    if data is None:
        return None
    text = data.decode("utf-8", errors="replace").strip()
    return text or None


def _json(data: bytes | None) -> dict:
    """Parse a json member into a dict (empty when absent or not an object)."""
    if not data:
        return {}
    try:
        obj = json.loads(data.decode("utf-8", errors="replace"))
    except (json.JSONDecodeError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


@dataclass(frozen=True)
class RowMeta:
    """img2dataset parquet metadata for one successful key."""

    caption: str | None = None


class TarShard(Shard):
    """One WebDataset/img2dataset tar file."""

    def __init__(
        self,
        path: Path,
        name: str,
        keep: set[str] | None = None,
        metadata: dict[str, RowMeta] | None = None,
    ) -> None:
        super().__init__(name, str(path))
        self.path = Path(path)
        self.keep = keep
        self.metadata = metadata or {}

    @property
    def num_examples(self) -> int | None:
        """Number of successful rows (img2dataset), else None."""
        return len(self.keep) if self.keep is not None else None

    def _samples(self) -> Iterator[TarSample]:
        """Samples of the tar, recording an unreadable tar as a skip instead of raising."""
        try:
            yield from iter_tar_samples(self.path)
        except (tarfile.TarError, OSError, EOFError) as exc:
            self._skip(f"{self.name}/*", str(self.path), f"unreadable tar: {type(exc).__name__}: {exc}")

    def _meta(self, sample: TarSample) -> tuple[str | None, str | None]:
        """(label, caption) of a sample."""
        meta_json = _json(sample.files.get("json"))
        caption = _text(sample.files.get("txt"))
        if caption is None and isinstance(meta_json.get("caption"), str):
            caption = meta_json["caption"].strip() or None
        if caption is None and sample.key in self.metadata:
            caption = self.metadata[sample.key].caption
        label = _text(sample.files.get("cls"))
        if label is None and meta_json.get("label") is not None:
            label = str(meta_json["label"]).strip() or None
        return label, caption

    def _listed_samples(self) -> Iterator[tuple[TarSample, str | None, str]]:
        """(sample, image member extension, where) of the kept samples; a repeated key raises."""
        seen: dict[str, str] = {}
        for sample in self._samples():
            if self.keep is not None and sample.key not in self.keep:
                continue
            ext = _image_member(sample)
            any_member = next(iter(sample.members.values()), sample.key)
            where = f"{self.path}:{sample.members.get(ext, any_member) if ext else any_member}"
            if sample.key in seen:
                raise DuplicateIdError(sample.key, seen[sample.key], where)
            seen[sample.key] = where
            yield sample, ext, where

    def _iter_selected(self, wanted: frozenset[str]) -> Iterator[Example]:
        """The tar is streamed again; only the wanted samples' images are decoded."""
        for sample, ext, where in self._listed_samples():
            if sample.key not in wanted or ext is None:
                continue
            try:
                image = decode_image(sample.files[ext], self.draft_size)
            except ImageDecodeError:
                continue
            label, caption = self._meta(sample)
            yield Example(sample.key, image, label, caption, where)

    def _iter_examples(self) -> Iterator[Example]:
        seen: set[str] = set()
        draft = self.draft_size

        def decode(listed: tuple[TarSample, str | None, str]) -> Image.Image | None:
            sample, ext = listed[0], listed[1]
            return None if ext is None else decode_image(sample.files[ext], draft)

        for (sample, ext, where), image, exc in ordered_map(decode, self._listed_samples(), self.decode_workers):
            seen.add(sample.key)
            if ext is None:
                self._skip(sample.key, where, "sample has no image member")
            elif isinstance(exc, ImageDecodeError):
                self._skip(sample.key, where, f"unreadable image: {exc}")
            elif exc is not None:
                raise exc
            else:
                label, caption = self._meta(sample)
                yield Example(sample.key, image, label, caption, where)
        if self.keep is not None:
            for key in sorted(self.keep - seen):
                self._skip(key, str(self.path), "listed as success in parquet but missing from tar")

    def records(self) -> Iterator[Record]:
        """Metadata of the tar's samples (the tar is streamed, images are not decoded)."""
        for sample in self._samples():
            if self.keep is not None and sample.key not in self.keep:
                continue
            ext = _image_member(sample)
            member = sample.members.get(ext) if ext else next(iter(sample.members.values()), "")
            label, caption = self._meta(sample)
            yield Record(sample.key, f"{self.path}:{member}", label, caption)


def shard_names(tars: Sequence[Path]) -> list[str]:
    """Unique, file-name-safe shard names: the tar stems, or parent-qualified when stems clash."""
    stems = [p.name[: -len(".tar")] if p.name.endswith(".tar") else p.stem for p in tars]
    if len(set(stems)) == len(stems):
        return stems
    resolved = [p.resolve() for p in tars]
    common = Path(os.path.commonpath([str(p.parent) for p in resolved]))
    names = []
    for p in resolved:
        rel = p.relative_to(common).as_posix()
        rel = rel[: -len(".tar")] if rel.endswith(".tar") else rel
        names.append(rel.replace("/", "__"))
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"the same tar is listed twice: {dup}")
    return names


class WebDatasetSource(ImageSource):
    """WebDataset tar shards."""

    kind = "webdataset"

    def __init__(self, tars: Sequence[Path], location: str) -> None:
        super().__init__(location)
        if not tars:
            raise ValueError(f"no .tar shards found at {location}")
        self.tars = [Path(t) for t in tars]
        for t in self.tars:
            if not t.is_file():
                raise FileNotFoundError(f"tar shard not found: {t}")

    def _make_shards(self) -> list[Shard]:
        return [TarShard(t, n) for t, n in zip(self.tars, shard_names(self.tars))]


_REQUIRED_PARQUET = ("key", "status")


def read_img2dataset_parquet(path: Path) -> tuple[list[str], dict[str, RowMeta]]:
    """Successful keys (in file order) and their metadata from an img2dataset parquet file."""
    if not path.is_file():
        raise FileNotFoundError(f"img2dataset parquet side file not found: {path}")
    schema_names = pq.read_schema(path).names
    for column in _REQUIRED_PARQUET:
        if column not in schema_names:
            raise ValueError(f"{path}: img2dataset parquet has no {column!r} column (columns: {schema_names})")
    columns = ["key", "status"] + (["caption"] if "caption" in schema_names else [])
    table = pq.read_table(path, columns=columns).to_pydict()
    keys: list[str] = []
    meta: dict[str, RowMeta] = {}
    captions = table.get("caption", [None] * len(table["key"]))
    for key, status, caption in zip(table["key"], table["status"], captions):
        if status != "success" or key is None:
            continue
        key = str(key)
        keys.append(key)
        meta[key] = RowMeta(caption.strip() if isinstance(caption, str) and caption.strip() else None)
    return keys, meta


class Img2DatasetSource(ImageSource):
    """img2dataset output: tar shards with parquet side files."""

    kind = "img2dataset"

    def __init__(self, tars: Sequence[Path], location: str) -> None:
        super().__init__(location)
        if not tars:
            raise ValueError(f"no .tar shards found at {location}")
        self.tars = [Path(t) for t in tars]
        self._keep: list[set[str]] = []
        self._meta: list[dict[str, RowMeta]] = []
        owner: dict[str, Path] = {}
        for tar in self.tars:
            if not tar.is_file():
                raise FileNotFoundError(f"tar shard not found: {tar}")
            parquet = tar.with_suffix(".parquet")
            keys, meta = read_img2dataset_parquet(parquet)
            for key in keys:
                if key in owner:
                    raise DuplicateIdError(key, str(owner[key]), str(parquet))
                owner[key] = parquet
            self._keep.append(set(keys))
            self._meta.append(meta)
        if not owner:
            raise ValueError(f"img2dataset output at {location} has no successful rows")

    def _make_shards(self) -> list[Shard]:
        return [
            TarShard(t, n, keep, meta)
            for t, n, keep, meta in zip(self.tars, shard_names(self.tars), self._keep, self._meta)
        ]
