from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from detector import embed as E
from detector.preprocess import images_to_tensor


@pytest.fixture
def sliced(monkeypatch):
    """Make folder sources split into slices of 5 images (several shards from a small folder)."""
    from clip_core.data.folder_source import FolderSource

    monkeypatch.setattr(E, "open_images", lambda location, format=None, draft_size=None:
                        FolderSource(location, slice_size=5).set_draft_size(draft_size))


def _cfg(**kw):
    return E.EmbedConfig(batch_size=4, progress=False, **kw)


def test_embed_folder_writes_normalised_rows_ids_and_skipped(tmp_path, image_folder, tiny_paper):
    result = E.embed_source(str(image_folder), tmp_path / "out", tiny_paper, "tiny", _cfg())
    out = tmp_path / "out"
    desc = np.load(out / "descriptors.npy")
    ids = (out / "ids.txt").read_text().splitlines()
    assert desc.shape == (12, 32) and desc.dtype == np.float32
    assert np.allclose(np.linalg.norm(desc, axis=1), 1.0, atol=1e-5)
    assert ids == [f"img{i:02d}.png" for i in range(12)]
    with open(out / "skipped.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == ["broken.png"] and rows[0]["reason"]
    assert result.count == 12 and result.skipped == 1
    assert not (out / "parts").exists()
    summary = json.loads((out / "embed.json").read_text())
    assert summary["status"] == "complete" and summary["detector"] == "tiny"
    # row i is the descriptor of image ids[i]
    with torch.no_grad():
        direct = tiny_paper(images_to_tensor([Image.open(image_folder / ids[3])], 32)).numpy()
    assert np.allclose(desc[3], direct[0], atol=1e-4)


def test_numbered_pairs_for_large_sources(tmp_path, image_folder, tiny_paper, sliced):
    result = E.embed_source(str(image_folder), tmp_path / "out", tiny_paper, "tiny", _cfg(single_file_limit=5))
    out = tmp_path / "out"
    assert not (out / "descriptors.npy").exists()
    names = sorted(p.name for p in out.glob("descriptors-*.npy"))
    assert names == ["descriptors-00000.npy", "descriptors-00001.npy", "descriptors-00002.npy"]
    assert (out / "ids-00002.txt").read_text().splitlines() == ["img09.png", "img10.png", "img11.png"]  # broken.png sorts first
    ids, mat = E.read_descriptors(out)
    assert len(ids) == 12 == len(mat) == result.count


def test_resume_after_a_crash_reuses_finished_shards(tmp_path, image_folder, tiny_paper, tiny_sscd, sliced, monkeypatch):
    clean_ids, clean = None, None
    E.embed_source(str(image_folder), tmp_path / "clean", tiny_paper, "tiny", _cfg())
    clean_ids, clean = E.read_descriptors(tmp_path / "clean")

    original = E.DescriptorRunner.embed_uint8
    calls = {"n": 0, "broken": True}

    def flaky(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:  # inside the second shard (5 images = 2 batches per shard): one crash, retried
            raise RuntimeError("simulated crash")
        if calls["broken"] and len(batch) == 3:  # the last shard (3 images) crashes on every attempt
            raise RuntimeError("simulated lasting crash")
        return original(self, batch)

    monkeypatch.setattr(E.DescriptorRunner, "embed_uint8", flaky)
    with pytest.raises(E.ShardsFailed, match="1 shard.*simulated lasting crash"):
        E.embed_source(str(image_folder), tmp_path / "out", tiny_paper, "tiny", _cfg())
    assert sorted(p.name for p in (tmp_path / "out" / "parts").glob("*.done")) == ["part-00000.done", "part-00001.done"]
    assert not (tmp_path / "out" / "descriptors.npy").exists()
    calls["broken"] = False
    result = E.embed_source(str(image_folder), tmp_path / "out", tiny_paper, "tiny", _cfg())
    assert result.reused_parts == 2
    ids, mat = E.read_descriptors(tmp_path / "out")
    assert ids == clean_ids and np.allclose(mat, clean, atol=1e-5)
    again = E.embed_source(str(image_folder), tmp_path / "out", tiny_paper, "tiny", _cfg())
    assert again.already_done and again.count == 12
    with pytest.raises(ValueError, match="already holds"):
        E.embed_source(str(image_folder), tmp_path / "out", tiny_sscd, "other", _cfg())


def test_embed_images_matches_model_and_bad_config(tiny_paper, image_folder):
    runner = E.DescriptorRunner(tiny_paper, "cpu")
    imgs = [Image.open(p).convert("RGB") for p in sorted(image_folder.glob("img0*.png"))[:3]]
    got = runner.embed_images(imgs, batch_size=2)
    assert got.shape == (3, 32)
    with pytest.raises(ValueError, match="batch_size"):
        E.EmbedConfig(batch_size=0)
    with pytest.raises(FileNotFoundError):
        E.read_descriptors(image_folder)


@pytest.mark.parametrize("kind", ["webdataset", "csv"])
def test_embed_webdataset_and_csv_sources(tmp_path, tiny_paper, kind):
    from clip_core.data import write_csv_manifest, write_webdataset

    from tests.detector.conftest import make_image

    items = [(f"k{i:02d}", make_image(i), None) for i in range(7)]
    if kind == "webdataset":
        written = write_webdataset(items, tmp_path / "shards", shard_size=3, ext="png")
        location = str(tmp_path / "shards")
    else:
        written = write_csv_manifest(items, tmp_path / "m" / "manifest.csv")
        location = str(tmp_path / "m" / "manifest.csv")
    result = E.embed_source(location, tmp_path / "out", tiny_paper, "tiny", _cfg(single_file_limit=4))
    ids, mat = E.read_descriptors(tmp_path / "out")
    assert result.count == 7 and sorted(ids) == sorted(written.ids[k] for k, _, _ in items)
    assert np.allclose(np.linalg.norm(mat, axis=1), 1.0, atol=1e-5)
    if kind == "webdataset":  # three tar shards and more than 4 rows: numbered pairs
        assert sorted(p.name for p in (tmp_path / "out").glob("ids-*.txt")) == ["ids-00000.txt", "ids-00001.txt", "ids-00002.txt"]


def test_decode_plan_decodes_in_step_on_cpu_and_ahead_on_cuda(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    assert E.decode_plan(torch.device("cpu")) == E.DecodePlan(workers=3, prefetch=0)
    cuda = E.decode_plan(torch.device("cuda"))
    assert cuda.prefetch == 3 and 1 <= cuda.workers <= 8
    assert E.decode_plan(torch.device("cpu"), E.EmbedConfig(decode_workers=5, prefetch_batches=2)) == E.DecodePlan(5, 2)
    with pytest.raises(ValueError, match="decode_workers"):
        E.EmbedConfig(decode_workers=0)
    with pytest.raises(ValueError, match="prefetch_batches"):
        E.EmbedConfig(prefetch_batches=-1)


@pytest.mark.parametrize("depth", [0, 2])
def test_prefetch_batches_in_step_and_ahead_give_the_same_batches(image_folder, depth):
    from clip_core.data import open_source

    examples = list(open_source(str(image_folder)))
    got = list(E.prefetch_batches(open_source(str(image_folder)).set_decode_workers(2), 16, 4, depth))
    assert [i for ids, _ in got for i in ids] == [e.id for e in examples]
    assert [len(ids) for ids, _ in got][:-1] == [4] * (len(got) - 1)
    want = np.stack([np.asarray(e.image.convert("RGB").resize((16, 16), Image.Resampling.BILINEAR, reducing_gap=3.0))
                     for e in examples])
    assert np.array_equal(np.concatenate([b for _, b in got]), want)


def test_embed_examples_matches_the_runner_on_decoded_images(tiny_paper, image_folder):
    from clip_core.data import open_source

    runner = E.DescriptorRunner(tiny_paper, "cpu")
    seen: list[int] = []
    ids, mat = E.embed_examples(runner, open_source(str(image_folder)), 4, on_batch=seen.append)
    examples = list(open_source(str(image_folder)))
    assert ids == [e.id for e in examples] and sum(seen) == len(ids)
    assert np.allclose(mat, runner.embed_images([e.image for e in examples]), atol=1e-5)
