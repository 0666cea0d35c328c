"""The evaluation-side local-feature store: round trip, resume, size on disk, unreadable entries, config check."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from detector.feature_store import FeatureStore, FeatureStoreWriter, build_feature_store
from detector.hard_negatives import sample_photographs, star_field
from detector.verify import VerifyConfig, extract_features

CONFIG = VerifyConfig()


@pytest.fixture(scope="session")
def items() -> list[tuple[str, Image.Image | None]]:
    photos = list(sample_photographs().values())
    out: list[tuple[str, Image.Image | None]] = []
    for i in range(9):
        photo = photos[i % len(photos)]
        w, h = photo.size
        out.append((f"eval/{i:02d}.jpg", photo.crop((i * 7, i * 5, w - i * 3, h - i * 4))))
    out.append(("blank.png", Image.new("RGB", (80, 60), (30, 30, 30))))
    broken = io.BytesIO()
    star_field(0).save(broken, format="PNG")
    out.append(("broken.png", Image.open(io.BytesIO(broken.getvalue()[:150]))))
    out.append(("missing.png", None))
    return out


def test_round_trip_and_size(tmp_path, items):
    store = build_feature_store(items, tmp_path / "features", CONFIG, progress=False)
    assert len(store) == len(items) and store.ids() == [i for i, _ in items]
    for item_id, image in items[:10]:
        assert store.get(item_id) == extract_features(image, CONFIG)
    assert store.get("blank.png") is not None and len(store.get("blank.png")) == 0
    assert store.get("broken.png") is None and store.get("missing.png") is None and store.unreadable == 2
    assert store.get("eval/00.jpg").distinctive == extract_features(items[0][1], CONFIG).distinctive
    assert isinstance(store._descriptors, np.memmap) and isinstance(store._points, np.memmap)
    assert store.bytes_on_disk() / len(store) <= 50_000
    with pytest.raises(KeyError, match="no item"):
        store.get("nope")


def test_resume_after_an_interruption(tmp_path, items, monkeypatch):
    directory = tmp_path / "features"
    writer = FeatureStoreWriter(directory, CONFIG, chunk_size=4)
    for item_id, image in items[:6]:
        writer.add(item_id, extract_features(image, CONFIG))
    # killed here: one complete chunk (4 items) on disk, two items lost with the process, no ids.txt
    (directory / ".chunk-00001.npz.123.tmp").write_bytes(b"half a chunk")  # a write that was cut off
    assert sorted(p.name for p in directory.glob("chunk-*.npz")) == ["chunk-00000.npz"]
    with pytest.raises(FileNotFoundError, match="not a finished feature store"):
        FeatureStore(directory)
    resumed = FeatureStoreWriter(directory, CONFIG, chunk_size=4)
    assert resumed.done_ids() == {i for i, _ in items[:4]}
    import detector.feature_store as feature_store

    calls: list[int] = []

    def counting(image, config):
        calls.append(1)
        return extract_features(image, config)

    monkeypatch.setattr(feature_store, "extract_features", counting)
    store = build_feature_store(items, directory, CONFIG, progress=False)
    assert len(calls) == len(items) - 4 - 2  # the stored chunk is not extracted again, nor the None and broken items
    monkeypatch.undo()
    assert len(store) == len(items) and set(store.ids()) == {i for i, _ in items}
    for item_id, image in items[:10]:
        assert store.get(item_id) == extract_features(image, CONFIG)
    assert not list(directory.glob("chunk-*.npz"))
    again = build_feature_store(items + [("late.png", items[0][1])], directory, CONFIG, progress=False)
    assert len(again) == len(items) + 1 and again.get("late.png") == store.get("eval/00.jpg")


def test_another_config_is_an_error(tmp_path, items):
    directory = tmp_path / "features"
    build_feature_store(items[:2], directory, CONFIG, progress=False)
    with pytest.raises(ValueError, match="max_keypoints"):
        FeatureStore(directory, VerifyConfig(max_keypoints=128))
    with pytest.raises(ValueError, match="another VerifyConfig"):
        FeatureStoreWriter(directory, VerifyConfig(ratio=0.7))
    assert FeatureStore(directory).config == CONFIG
