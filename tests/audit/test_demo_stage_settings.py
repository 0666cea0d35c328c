"""The demo's stages record their settings: a rerun with other settings stops; --overwrite starts the stage over."""
from __future__ import annotations

from pathlib import Path

import pytest

from audit.demo import STAGE_FIELDS, DemoConfig, build_eval_sets, check_stage
from clip_core.run_settings import SettingsMismatch


def _config(out: Path, **changes) -> DemoConfig:
    return DemoConfig(out=out, **{"eval_per_task": 6, "image_size": 16, **changes})


def _counts(folders: dict[str, Path]) -> dict[str, int]:
    return {task: len(list(folder.rglob("*.png"))) for task, folder in folders.items()}


def test_eval_stage_rerun_with_other_settings_stops_and_overwrite_rebuilds(tmp_path: Path) -> None:
    log: list[str] = []
    folders = build_eval_sets(_config(tmp_path), log.append)
    assert _counts(folders) == {"colors": 6, "counts": 6} and len(log) == 2
    assert build_eval_sets(_config(tmp_path), log.append) == folders and len(log) == 2  # resumed, nothing redone
    with pytest.raises(SettingsMismatch, match=r"parameters.eval_per_task: 6 -> 8"):
        build_eval_sets(_config(tmp_path, eval_per_task=8), log.append)
    assert _counts(folders) == {"colors": 6, "counts": 6}
    rebuilt = build_eval_sets(_config(tmp_path, eval_per_task=8, overwrite=True), log.append)
    assert _counts(rebuilt) == {"colors": 8, "counts": 8}
    build_eval_sets(_config(tmp_path, eval_per_task=8), log.append)


def test_later_stages_depend_on_the_settings_of_the_stages_they_read(tmp_path: Path) -> None:
    assert set(STAGE_FIELDS["eval"]) <= set(STAGE_FIELDS["pretraining"]) <= set(STAGE_FIELDS["clip"])
    assert set(STAGE_FIELDS["clip"]) <= set(STAGE_FIELDS["predictions"])
    assert set().union(*STAGE_FIELDS.values()) <= set(DemoConfig.__dataclass_fields__)
    check_stage(_config(tmp_path), "clip")
    check_stage(_config(tmp_path, probe_steps=7), "clip")  # the probes' settings do not concern the CLIP stage
    with pytest.raises(SettingsMismatch, match=r"parameters.pretraining_size: 4000 -> 500"):
        check_stage(_config(tmp_path, pretraining_size=500), "clip")
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "checkpoint.pt").write_bytes(b"stale")
    check_stage(_config(tmp_path, pretraining_size=500, overwrite=True), "clip")
    assert not (tmp_path / "clip").exists()
