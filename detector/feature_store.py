"""Evaluation-side local features, computed once, stored on disk and read memory-mapped.

Layout of a store folder ``DIR/``:

- ``config.json``: the `VerifyConfig` the features were extracted with (opening with another is an error);
- while building, ``chunk-NNNNN.npz`` files, each written to a temporary name and renamed into place,
  so an interrupted build resumes after its last complete chunk;
- after `FeatureStoreWriter.close`: flat arrays ``points.npy`` (float32, n x 2), ``descriptors.npy``
  (uint8, n x 128), ``offsets.npy`` (int64, one more than items), ``meta.npy`` (int32 per item:
  width, height, distinctive, readable) and ``ids.txt``; the chunks are then removed.

A ``None`` entry (unreadable image) is recorded as unreadable, counted, and read back as ``None``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np
from PIL import Image

from clip_core.atomic_files import atomic_path, atomic_write_text
from detector.verify import LocalFeatures, VerifyConfig, extract_features

CHUNK_SIZE = 256
FLAT_FILES = ("points.npy", "descriptors.npy", "offsets.npy", "meta.npy", "ids.txt")


def _check_config(directory: Path, config: VerifyConfig | None) -> VerifyConfig:
    path = directory / "config.json"
    if not path.is_file():
        if config is None:
            raise FileNotFoundError(f"{path}: not a feature store (config.json is missing)")
        atomic_write_text(path, json.dumps(config.to_dict(), indent=2))
        return config
    try:
        stored = VerifyConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: unreadable feature-store config ({error})") from error
    if config is not None and stored != config:
        changed = sorted(k for k, v in config.to_dict().items() if stored.to_dict().get(k) != v)
        raise ValueError(f"{path}: the store was built with another VerifyConfig (fields differ: {', '.join(changed)}); "
                         "use a new folder or the same config")
    return stored


def _pack(items: list[tuple[str, LocalFeatures | None]]) -> dict[str, np.ndarray]:
    counts = [0 if f is None else len(f) for _, f in items]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    points = [f.points for _, f in items if f is not None and len(f)]
    descriptors = [f.descriptors for _, f in items if f is not None and len(f)]
    meta = np.array([(0, 0, 0, 0) if f is None else (f.width, f.height, f.distinctive, 1) for _, f in items], np.int32)
    return {
        "ids": np.array([i for i, _ in items], dtype=str),
        "offsets": offsets,
        "points": np.concatenate(points).astype(np.float32) if points else np.zeros((0, 2), np.float32),
        "descriptors": np.concatenate(descriptors).astype(np.uint8) if descriptors else np.zeros((0, 128), np.uint8),
        "meta": meta.reshape(-1, 4),
    }


class FeatureStoreWriter:
    """Writes features into `directory` in chunks, each renamed into place atomically; reopening resumes."""

    def __init__(self, directory: Path, config: VerifyConfig, chunk_size: int = CHUNK_SIZE) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config = _check_config(self.directory, config)
        self.chunk_size = chunk_size
        self._pending: list[tuple[str, LocalFeatures | None]] = []
        self._done: set[str] = set()
        self._chunks = sorted(self.directory.glob("chunk-*.npz"))
        if (self.directory / "ids.txt").is_file():
            self._done.update(FeatureStore(self.directory).ids())
        for chunk in self._chunks:
            with np.load(chunk) as data:
                self._done.update(str(i) for i in data["ids"])

    def done_ids(self) -> set[str]:
        """Ids already stored (complete chunks, a finished store, and items added since)."""
        return set(self._done)

    def add(self, item_id: str, features: LocalFeatures | None) -> None:
        """Add one item (None: unreadable image); a full chunk is written out."""
        item_id = str(item_id)
        if "\n" in item_id:
            raise ValueError(f"feature store ids must not contain a newline: {item_id!r}")
        if item_id in self._done:
            return
        if features is not None and features.distinctive < 0:
            raise ValueError(f"{item_id}: LocalFeatures without a distinctive count; build them with extract_features")
        self._pending.append((item_id, features))
        self._done.add(item_id)
        if len(self._pending) >= self.chunk_size:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        path = self.directory / f"chunk-{len(self._chunks):05d}.npz"
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, **_pack(self._pending))
        self._chunks.append(path)
        self._pending = []

    def close(self) -> None:
        """Merge the finished store (if any) and all chunks into flat memory-mappable arrays."""
        self._flush()
        parts: list[dict[str, np.ndarray]] = []
        if (self.directory / "ids.txt").is_file():
            store = FeatureStore(self.directory)
            parts.append({"ids": np.array(store.ids(), dtype=str), "offsets": np.asarray(store._offsets),
                          "points": np.asarray(store._points), "descriptors": np.asarray(store._descriptors),
                          "meta": np.asarray(store._meta)})
        for chunk in self._chunks:
            with np.load(chunk) as data:
                parts.append({k: data[k] for k in data.files})
        if not parts:
            parts.append(_pack([]))
        offsets, base = [np.zeros(1, np.int64)], 0
        for part in parts:
            offsets.append(part["offsets"][1:] + base)
            base += int(part["offsets"][-1])
        arrays = {
            "points.npy": np.concatenate([p["points"] for p in parts]).astype(np.float32),
            "descriptors.npy": np.concatenate([p["descriptors"] for p in parts]).astype(np.uint8),
            "offsets.npy": np.concatenate(offsets).astype(np.int64),
            "meta.npy": np.concatenate([p["meta"].reshape(-1, 4) for p in parts]).astype(np.int32),
        }
        ids = [str(i) for p in parts for i in p["ids"]]
        (self.directory / "ids.txt").unlink(missing_ok=True)  # the store is incomplete until ids.txt is back
        for name, array in arrays.items():
            with atomic_path(self.directory / name) as temporary:
                with open(temporary, "wb") as handle:
                    np.save(handle, array)
        atomic_write_text(self.directory / "ids.txt", "".join(f"{i}\n" for i in ids))
        for chunk in self._chunks:
            chunk.unlink(missing_ok=True)
        self._chunks = []


class FeatureStore:
    """Read-only view of a finished store; arrays are memory-mapped, so resident memory does not grow with size."""

    def __init__(self, directory: Path, config: VerifyConfig | None = None) -> None:
        self.directory = Path(directory)
        if not (self.directory / "ids.txt").is_file():
            raise FileNotFoundError(f"{self.directory / 'ids.txt'}: not a finished feature store "
                                    "(build it with build_feature_store, or close its FeatureStoreWriter)")
        self.config = _check_config(self.directory, config)
        self._ids = (self.directory / "ids.txt").read_text(encoding="utf-8").splitlines()
        self._points = np.load(self.directory / "points.npy", mmap_mode="r")
        self._descriptors = np.load(self.directory / "descriptors.npy", mmap_mode="r")
        self._offsets = np.load(self.directory / "offsets.npy", mmap_mode="r")
        self._meta = np.load(self.directory / "meta.npy", mmap_mode="r")
        if not (len(self._ids) + 1 == len(self._offsets) and len(self._meta) == len(self._ids)):
            raise ValueError(f"{self.directory}: ids.txt has {len(self._ids)} ids but offsets.npy has {len(self._offsets)} "
                             "entries; the store is damaged, rebuild it")
        self._row = {item_id: row for row, item_id in enumerate(self._ids)}

    def __len__(self) -> int:
        return len(self._ids)

    def __reduce__(self) -> tuple:
        """Pickled as its folder and settings (an engine's worker maps the files again instead of copying them)."""
        return (FeatureStore, (self.directory, self.config))

    def ids(self) -> list[str]:
        """Item ids in storage order."""
        return list(self._ids)

    @property
    def unreadable(self) -> int:
        """How many items were recorded as unreadable images."""
        return int((np.asarray(self._meta[:, 3]) == 0).sum())

    def get(self, item_id: str) -> LocalFeatures | None:
        """The features of `item_id` (None for an unreadable image); an unknown id is a KeyError."""
        if item_id not in self._row:
            raise KeyError(f"{self.directory}: no item {item_id!r} in the feature store")
        row = self._row[item_id]
        width, height, distinctive, readable = (int(v) for v in self._meta[row])
        if not readable:
            return None
        start, stop = int(self._offsets[row]), int(self._offsets[row + 1])
        return LocalFeatures(np.array(self._points[start:stop]), np.array(self._descriptors[start:stop]),
                             width, height, distinctive)

    def bytes_on_disk(self) -> int:
        """Total size of the store's files."""
        return sum((self.directory / name).stat().st_size for name in (*FLAT_FILES, "config.json"))


def finished_store(directory: Path, config: VerifyConfig) -> FeatureStore | None:
    """The store in `directory` when a build finished there (flat files, no chunks left), else None."""
    directory = Path(directory)
    if all((directory / name).is_file() for name in FLAT_FILES) and not any(directory.glob("chunk-*")):
        return FeatureStore(directory, config)
    return None


def build_feature_store(images: Iterable[tuple[str, Image.Image | None]], directory: Path,
                        config: VerifyConfig = VerifyConfig(), progress: bool = True) -> FeatureStore:
    """Extract and store features of (id, image) pairs, skipping ids already stored; None images are recorded unreadable."""
    writer = FeatureStoreWriter(Path(directory), config)
    done = writer.done_ids()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(unit="img", desc=f"local features {Path(directory).name}")
    added = unreadable = 0
    for item_id, image in images:
        if str(item_id) in done:
            continue
        features = None
        if image is not None:
            try:
                image.load()
                features = extract_features(image, config)
            except (OSError, ValueError, SyntaxError):
                features = None
        unreadable += features is None
        writer.add(str(item_id), features)
        added += 1
        if bar is not None:
            bar.update(1)
    writer.close()
    if bar is not None:
        bar.close()
    store = FeatureStore(Path(directory), config)
    if progress:
        print(f"local features: {added} added, {len(done)} already stored, {unreadable} unreadable; "
              f"{len(store)} items, {store.bytes_on_disk() / max(len(store), 1) / 1024:.1f} KB per image in {directory}")
    return store
