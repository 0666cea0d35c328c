"""Parallel decoding: the same examples, in the same order, with the same skips as one thread."""
from __future__ import annotations

import io
import tarfile
import threading
import time

import numpy as np
import pytest
from PIL import Image

from clip_core.data import open_source
from clip_core.data.parallel_decode import ordered_map
from clip_core.data.writers import write_webdataset

from .conftest import corrupt_bytes


def test_ordered_map_keeps_order_and_hands_back_errors():
    def slow_square(x: int) -> int:
        time.sleep(0.002 * ((7 * x) % 5))  # later items often finish first
        if x == 5:
            raise ValueError("five")
        return x * x

    for workers in (1, 3):
        out = list(ordered_map(slow_square, range(12), workers=workers))
        assert [item for item, _, _ in out] == list(range(12))
        assert [r for i, r, e in out if i != 5] == [i * i for i in range(12) if i != 5]
        assert isinstance(out[5][2], ValueError) and out[5][1] is None
    with pytest.raises(ValueError, match="workers"):
        list(ordered_map(abs, [1], workers=0))


def test_ordered_map_runs_at_most_window_items_ahead_of_the_consumer():
    started: list[int] = []
    lock = threading.Lock()

    def record(x: int) -> int:
        with lock:
            started.append(x)
        return x

    gen = ordered_map(record, range(100), workers=2, window=4)
    assert next(gen)[0] == 0
    time.sleep(0.05)
    assert len(started) <= 5  # the first item plus at most a window of others
    gen.close()


def _images(n: int) -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for _ in range(n)]


def test_folder_source_decodes_in_parallel_with_identical_results(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    for i, img in enumerate(_images(9)):
        img.save(folder / f"{i:02d}.jpg", quality=90)
    (folder / "04.jpg").write_bytes(corrupt_bytes())
    serial = open_source(str(folder))
    parallel = open_source(str(folder)).set_decode_workers(3)
    a, b = list(serial), list(parallel)
    assert [e.id for e in a] == [e.id for e in b] and len(a) == 8
    assert all(np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a, b))
    assert [(s.id, s.reason) for s in serial.skipped] == [(s.id, s.reason) for s in parallel.skipped]
    assert len(parallel.skipped) == 1 and "unreadable image" in parallel.skipped[0].reason
    with pytest.raises(ValueError, match="decode workers"):
        open_source(str(folder)).set_decode_workers(0)


def test_tar_source_decodes_in_parallel_with_identical_results(tmp_path):
    items = [(f"k{i:02d}", img, f"caption {i}") for i, img in enumerate(_images(7))]
    write_webdataset(items, tmp_path / "wds", shard_size=100, ext="jpg")
    tar_path = next((tmp_path / "wds").glob("*.tar"))
    with tarfile.open(tar_path, "a") as tar:  # one sample whose image is garbage, one with no image
        for name, data in (("bad.jpg", corrupt_bytes()), ("noimage.txt", b"just text")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    serial = open_source(str(tmp_path / "wds"))
    parallel = open_source(str(tmp_path / "wds")).set_decode_workers(4)
    a, b = list(serial), list(parallel)
    assert [(e.id, e.caption) for e in a] == [(e.id, e.caption) for e in b]
    assert [e.id for e in b] == [f"k{i:02d}" for i in range(7)]
    assert all(np.array_equal(np.asarray(x.image), np.asarray(y.image)) for x, y in zip(a, b))
    reasons = {s.id: s.reason for s in parallel.skipped}
    assert reasons == {s.id: s.reason for s in serial.skipped}
    assert "unreadable image" in reasons["bad"] and reasons["noimage"] == "sample has no image member"
