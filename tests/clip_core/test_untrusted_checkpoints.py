"""No code from a checkpoint runs: malicious TorchScript archives, pickles and resume files are refused untouched.

Each malicious file here really does run its payload when opened the usual way (torch.jit.load,
pickle / torch.load(weights_only=False)); every test first checks that, then that clip_core refuses it
and the payload's marker file is untouched.
"""
from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Tuple

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from clip_core import load
from clip_core.torchscript_archive import read_torchscript_tensors

from .test_checkpoint_formats import write_openai_archive


class _MarksOnLoad(nn.Module):
    """A TorchScript module whose __setstate__ (run by torch.jit.load) writes 7s into the file at `self.marker`."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))
        self.marker = marker

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.w

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, bool, str]:
        return (self.w, self.training, self.marker)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, bool, str]) -> None:
        written = torch.from_file(state[2], True, 4, dtype=torch.uint8).fill_(7)  # shared: writes the file
        self.w = state[0]
        self.training = state[1]
        self.marker = state[2] if bool(written.sum() > 0) else ""  # a use, so the write is not optimised away


class _OpensFile:
    """A pickle payload: unpickling it calls open(path, "w"), creating the marker file."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _script(module: nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notices
        torch.jit.script(module).save(str(path))
    return path


def _jit_load(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path))


def test_torchscript_setstate_never_runs(tmp_path):
    marker = tmp_path / "marker.bin"
    marker.write_bytes(b"\0" * 4)
    archive = _script(_MarksOnLoad(str(marker)), tmp_path / "evil.pt")
    _jit_load(archive)  # the payload is live: torch.jit.load runs the archive's code
    assert marker.read_bytes() == b"\7" * 4
    marker.write_bytes(b"\0" * 4)
    with pytest.raises(ValueError, match="custom state"):
        load(archive, activation="quick_gelu")
    assert marker.read_bytes() == b"\0" * 4


def _replace_data_pkl(archive: Path, data: bytes, out: Path) -> Path:
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, data if item.filename.endswith("/data.pkl") else src.read(item))
    return out


def test_torchscript_archive_with_a_pickled_call_is_refused(tmp_path, small_vit):
    marker = tmp_path / "created-by-payload"
    payload = pickle.dumps(_OpensFile(marker), protocol=2)
    pickle.loads(payload).close()  # the payload is live
    assert marker.exists()
    marker.unlink()
    good = write_openai_archive(tmp_path / "good.pt", small_vit.state_dict(), small_vit.config)
    evil = _replace_data_pkl(good, payload, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"evil.pt: refused .*open.*nothing in it was run"):
        load(evil)
    assert not marker.exists()


def test_plain_pickle_checkpoint_is_refused(tmp_path, small_vit):
    marker = tmp_path / "created-by-payload"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": small_vit.state_dict(), "payload": _OpensFile(marker)}, path)
    torch.load(path, weights_only=False)  # the payload is live
    assert marker.exists()
    marker.unlink()
    with pytest.raises(ValueError, match="weights_only=True"):
        load(path, activation="gelu")
    assert not marker.exists()


def test_clip_train_resume_refuses_a_malicious_checkpoint(tmp_path):
    from audit.cli import app

    marker = tmp_path / "created-by-payload"
    path = tmp_path / "evil.pt"
    torch.save({"step": 1, "config": {}, "state_dict": {}, "optimizer": {}, "payload": _OpensFile(marker)}, path)
    res = CliRunner().invoke(app, ["clip", "train", "--steps", "2", "--batch-size", "4", "--out", str(tmp_path / "o"),
                                   "--no-progress", "--resume", str(path)])
    assert res.exit_code == 2, res.output
    assert "evil.pt: refused" in res.output
    assert not marker.exists()


def test_detector_resume_refuses_a_malicious_checkpoint(tmp_path):
    from detector.config import TINY, DetectorConfig
    from detector.losses import LossConfig
    from detector.train import TrainConfig, train_detector

    marker = tmp_path / "created-by-payload"
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"identity": {}, "model": {}, "optimizer": {}, "state": {}, "payload": _OpensFile(marker)},
               run / "checkpoint.pt")
    with pytest.raises(ValueError, match="checkpoint.pt: refused"):
        train_detector(str(tmp_path), run, DetectorConfig(variant="paper", dim=8, input_size=32, trunk=TINY),
                       LossConfig(), TrainConfig(batch_size=2, progress=False, num_workers=0, device="cpu"))
    assert not marker.exists()


class _Block(nn.Module):
    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4).half()
        self.attn_mask = mask  # a plain tensor attribute: in data.pkl, not in state_dict()
        self.register_buffer("scale", torch.tensor([2.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.half()).float() * self.scale + self.attn_mask.sum()


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(_Block(torch.ones(2, 2)), _Block(torch.zeros(3)))
        self.attn = nn.MultiheadAttention(4, 2)
        self.logit_scale = nn.Parameter(torch.tensor(4.6))
        self.register_buffer("ids", torch.arange(6, dtype=torch.int64).view(2, 3).t())  # non-contiguous

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x) * self.logit_scale + self.ids.sum()


def test_tensor_reader_matches_torch_jit_state_dict(tmp_path):
    torch.manual_seed(0)
    archive = _script(_Net(), tmp_path / "net.pt")
    expected = _jit_load(archive).state_dict()
    got = read_torchscript_tensors(archive)
    assert sorted(got) == sorted(expected) and not any("attn_mask" in k for k in got)
    for key, value in expected.items():
        assert got[key].dtype == value.dtype and torch.equal(got[key], value), key


def test_truncated_storage_is_a_clear_error(tmp_path, small_vit):
    good = write_openai_archive(tmp_path / "good.pt", small_vit.state_dict(), small_vit.config)
    bad = tmp_path / "short.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:3] if item.filename.endswith("/data/0") else data)
    with pytest.raises(ValueError, match=r"short.pt: refused .*storage .*/data/0 holds 3 bytes"):
        load(bad)
