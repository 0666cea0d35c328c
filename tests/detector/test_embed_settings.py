"""`embed` records its settings: a rerun with another detector or source stops; --overwrite starts over; loud skips."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from clip_core.run_settings import SettingsMismatch
from detector import embed as E
from detector.checkpoint import save_detector

from tests.detector.conftest import make_image

runner = CliRunner()


def _cfg() -> E.EmbedConfig:
    return E.EmbedConfig(batch_size=4, progress=False)


def test_rerun_with_another_detector_or_source_stops_and_mixes_nothing(tmp_path, image_folder, tiny_paper, tiny_sscd):
    out = tmp_path / "out"
    E.embed_source(str(image_folder), out, tiny_paper, "paper", _cfg())
    before = (out / "descriptors.npy").read_bytes()
    with pytest.raises(SettingsMismatch) as caught:
        E.embed_source(str(image_folder), out, tiny_sscd, "sscd", _cfg())
    assert "model.sha256: " in str(caught.value) and "model.config.variant: paper -> sscd" in str(caught.value)
    assert "--overwrite" in str(caught.value)
    other = tmp_path / "other_images"
    shutil.copytree(image_folder, other)
    make_image(99).save(other / "img99.png")
    with pytest.raises(SettingsMismatch, match=r"inputs.images.files: 13 -> 14"):
        E.embed_source(str(other), out, tiny_paper, "paper", _cfg())
    assert (out / "descriptors.npy").read_bytes() == before

    result = E.embed_source(str(image_folder), out, tiny_sscd, "sscd", _cfg(), overwrite=True)
    assert not result.already_done and result.count == 12
    fresh = E.embed_source(str(image_folder), tmp_path / "fresh", tiny_sscd, "sscd", _cfg())
    assert fresh.count == 12
    np.testing.assert_array_equal(np.load(out / "descriptors.npy"), np.load(tmp_path / "fresh" / "descriptors.npy"))
    assert E.embed_source(str(image_folder), out, tiny_sscd, "sscd", _cfg()).already_done


def test_an_unfinished_run_is_not_resumed_with_another_detector(tmp_path, image_folder, tiny_paper, tiny_sscd, monkeypatch):
    def crash(self, batch):
        raise RuntimeError("simulated crash")

    with monkeypatch.context() as patched:
        patched.setattr(E.DescriptorRunner, "embed_uint8", crash)
        with pytest.raises(RuntimeError, match="simulated"):
            E.embed_source(str(image_folder), tmp_path / "out", tiny_paper, "paper", _cfg())
    assert (tmp_path / "out" / "parts").is_dir()
    with pytest.raises(SettingsMismatch, match="model.sha256"):
        E.embed_source(str(image_folder), tmp_path / "out", tiny_sscd, "sscd", _cfg())
    assert E.embed_source(str(image_folder), tmp_path / "out", tiny_paper, "paper", _cfg()).count == 12


def test_embed_command_exits_non_zero_when_too_many_images_are_unreadable(tmp_path, image_folder, tiny_paper):
    from audit.cli import app

    detector = save_detector(tiny_paper, tmp_path / "det.pt")
    args = ["embed", "--images", str(image_folder), "--detector", str(detector), "--out", str(tmp_path / "out")]
    failed = runner.invoke(app, args)  # 1 corrupt image of 13: 7.7% > 1%
    assert failed.exit_code == 2, failed.output
    assert "1 unreadable image(s) skipped (7.7%" in failed.output
    assert "1 of 13 items unreadable (7.7%)" in failed.output and "--max-skipped-fraction" in failed.output
    accepted = runner.invoke(app, args + ["--max-skipped-fraction", "0.1"])
    assert accepted.exit_code == 0, accepted.output
    assert "already done: 12 descriptors" in accepted.output

    broken = tmp_path / "broken"
    broken.mkdir()
    for i in range(3):
        (broken / f"bad{i}.png").write_bytes(b"garbage")
    nothing = runner.invoke(app, ["embed", "--images", str(broken), "--detector", str(detector), "--out",
                                  str(tmp_path / "none"), "--max-skipped-fraction", "1"])
    assert nothing.exit_code == 2 and "nothing readable: 0 items read, 3 unreadable" in nothing.output
    again = runner.invoke(app, args + ["--max-skipped-fraction", "0.1", "--overwrite"])
    assert again.exit_code == 0 and "done: 12 descriptors" in again.output and "already" not in again.output, again.output
