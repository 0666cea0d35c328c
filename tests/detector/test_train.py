from __future__ import annotations

import json

import pytest
import torch

from detector import train as T
from detector.augment import TrainAugment
from detector.checkpoint import resolve_detector
from detector.config import TINY, DetectorConfig
from detector.losses import LossConfig
from detector.pairs import PairStream, batches_already_done_by

CFG = DetectorConfig(variant="paper", dim=16, input_size=32, trunk=TINY)


def _train_cfg(**kw):
    base = dict(batch_size=4, epochs=2, lr=3e-3, warmup_steps=2, num_workers=0, checkpoint_every=1, log_every=1,
                shuffle_buffer=4, progress=False, device="cpu")
    base.update(kw)
    return T.TrainConfig(**base)


def test_train_writes_checkpoint_metrics_and_loadable_detector(tmp_path, image_folder):
    result = T.train_detector(str(image_folder), tmp_path / "run", CFG, LossConfig(entropy_weight=1.0), _train_cfg())
    assert result.steps == 6 and result.epochs == 2  # 12 readable images / batch 4, two epochs
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    for key in ("loss", "info_nce", "entropy", "positive_similarity", "negative_similarity",
                "nearest_negative_similarity", "lr", "images_per_s"):
        assert all(key in r for r in rows)
    assert all(-1.0 <= r["negative_similarity"] <= 1.0 for r in rows)
    model = resolve_detector(str(tmp_path / "run" / "detector.pt"))
    assert model.config == CFG
    assert resolve_detector(str(tmp_path / "run" / "checkpoint.pt")).config == CFG
    again = T.train_detector(str(image_folder), tmp_path / "run", CFG, LossConfig(entropy_weight=1.0), _train_cfg())
    assert again.already_done
    with pytest.raises(ValueError, match="different settings"):
        T.train_detector(str(image_folder), tmp_path / "run", CFG, LossConfig(temperature=0.1), _train_cfg())


def test_resume_after_crash_gives_the_same_weights(tmp_path, image_folder, monkeypatch):
    T.train_detector(str(image_folder), tmp_path / "a", CFG, LossConfig(), _train_cfg())
    reference = torch.load(tmp_path / "a" / "detector.pt", weights_only=True)["state_dict"]

    real = T.detector_loss
    calls = {"n": 0}

    def crash_on_fifth(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt("stopped")
        return real(*args, **kwargs)

    monkeypatch.setattr(T, "detector_loss", crash_on_fifth)
    with pytest.raises(KeyboardInterrupt):
        T.train_detector(str(image_folder), tmp_path / "b", CFG, LossConfig(), _train_cfg())
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["state"]
    assert state == {"step": 4, "epoch": 1, "batch_in_epoch": 1}
    monkeypatch.setattr(T, "detector_loss", real)
    result = T.train_detector(str(image_folder), tmp_path / "b", CFG, LossConfig(), _train_cfg())
    assert result.steps == 6
    resumed = torch.load(tmp_path / "b" / "detector.pt", weights_only=True)["state_dict"]
    for k, v in reference.items():
        assert torch.allclose(v, resumed[k], atol=1e-6), k
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_learning_rate_schedule():
    cfg = _train_cfg(lr=1.0, warmup_steps=4)
    assert T.learning_rate(0, cfg, 20) == pytest.approx(0.25)
    assert T.learning_rate(3, cfg, 20) == pytest.approx(1.0)
    assert T.learning_rate(12, cfg, 20) == pytest.approx(0.5)
    assert T.learning_rate(20, cfg, 20) == pytest.approx(0.0)
    assert T.learning_rate(50, cfg, None) == pytest.approx(1.0)


def test_pair_stream_is_reproducible_and_skips(image_folder):
    aug = TrainAugment(size=24)
    full = list(PairStream(str(image_folder), aug, seed=1, epoch=0, batch_size=4, shuffle_buffer=4))
    assert len(full) == 12 and full[0][0].shape == (24, 24, 3) and full[0][0].dtype == torch.uint8
    assert not torch.equal(full[0][0], full[0][1])
    skipped = list(PairStream(str(image_folder), aug, seed=1, epoch=0, batch_size=4, skip_batches=2, shuffle_buffer=4))
    assert len(skipped) == 4
    assert all(torch.equal(a[0], b[0]) for a, b in zip(full[8:], skipped))
    other_epoch = list(PairStream(str(image_folder), aug, seed=1, epoch=1, batch_size=4, shuffle_buffer=4))
    assert not torch.equal(full[0][0], other_epoch[0][0])
    assert batches_already_done_by(0, 2, 5) == 3 and batches_already_done_by(1, 2, 5) == 2


def test_bad_train_config():
    with pytest.raises(ValueError, match="batch_size"):
        T.TrainConfig(batch_size=1)
    with pytest.raises(ValueError, match="lr"):
        T.TrainConfig(lr=0)


def test_pair_stream_with_tiles_yields_per_tile_and_resumes(image_folder):
    aug = TrainAugment(size=24, tiles_per_image=2, p_harden=0.5)
    full = list(PairStream(str(image_folder), aug, seed=1, epoch=0, batch_size=4, shuffle_buffer=4))
    assert len(full) == 24  # 12 images x 2 tiles
    skipped = list(PairStream(str(image_folder), aug, seed=1, epoch=0, batch_size=4, skip_batches=3, shuffle_buffer=4))
    assert len(skipped) == 12 and all(torch.equal(a[0], b[0]) for a, b in zip(full[12:], skipped))
    with pytest.raises(ValueError, match="multiple of tiles_per_image"):
        PairStream(str(image_folder), TrainAugment(size=24, tiles_per_image=3), seed=1, epoch=0, batch_size=4)


def test_run_identity_tolerates_fields_added_later_at_their_defaults():
    identity = T._identity("imgs", CFG, LossConfig(), TrainAugment(size=32), _train_cfg())
    old = json.loads(json.dumps(identity))
    del old["detector"]["orbit"], old["augment"]["max_aspect"], old["train"]["init_from"]  # written before these existed
    assert T._same_run(old, identity)
    changed = json.loads(json.dumps(identity))
    changed["augment"]["p_flip"] = 0.9
    assert not T._same_run(changed, identity) and not T._same_run(None, identity)


def test_init_from_starts_from_another_runs_weights(tmp_path, image_folder):
    from detector.checkpoint import save_detector

    T.train_detector(str(image_folder), tmp_path / "a", CFG, LossConfig(), _train_cfg(epochs=1))
    source = torch.load(tmp_path / "a" / "detector.pt", weights_only=True)["state_dict"]
    bigger = DetectorConfig(variant="paper", dim=16, input_size=40, trunk=TINY)  # the input size may differ
    tiny_steps = _train_cfg(epochs=1, lr=1e-12, warmup_steps=1, init_from=str(tmp_path / "a" / "detector.pt"))
    result = T.train_detector(str(image_folder), tmp_path / "b", bigger, LossConfig(), tiny_steps, TrainAugment(size=40))
    assert result.steps == 3
    tuned = torch.load(tmp_path / "b" / "detector.pt", weights_only=True)["state_dict"]
    assert all(torch.allclose(tuned[k], v, atol=1e-6) for k, v in source.items())  # started there, barely moved
    scratch = T.train_detector(str(image_folder), tmp_path / "c", bigger, LossConfig(),
                               _train_cfg(epochs=1, lr=1e-12, warmup_steps=1), TrainAugment(size=40))
    fresh = torch.load(scratch.detector_path, weights_only=True)["state_dict"]
    assert not all(torch.allclose(fresh[k], v, atol=1e-6) for k, v in source.items())
    assert json.loads((tmp_path / "b" / "train.json").read_text())["identity"]["train"]["init_from"].endswith("detector.pt")

    with pytest.raises(ValueError, match="dim"):
        T.initial_weights(tmp_path / "a" / "detector.pt", DetectorConfig(variant="paper", dim=8, input_size=32, trunk=TINY))
    save_detector(resolve_detector(str(tmp_path / "a" / "detector.pt")), tmp_path / "export.pt", fold=True, half=True)
    with pytest.raises(ValueError, match="inference export"):
        T.initial_weights(tmp_path / "export.pt", CFG)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        T.initial_weights(tmp_path / "missing.pt", CFG)
