"""bench/local_votes.py: exact against IVF vote index on a small folder, and its --help."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from clip_core.data.writers import write_image_folder
from tests.detector.photo_tiles import photo_tiles

ROOT = Path(__file__).resolve().parents[2]


def test_bench_compares_exact_and_ivf_votes(tmp_path: Path) -> None:
    tiles = photo_tiles()[:12]
    write_image_folder([(f"r{i:02d}", t, None) for i, t in enumerate(tiles)], tmp_path / "refs")
    write_image_folder([(f"q{i:02d}", t.rotate(8), None) for i, t in enumerate(tiles[:3])], tmp_path / "queries")
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "local_votes.py"), "--references", str(tmp_path / "refs"),
                             "--queries", str(tmp_path / "queries"), "--queries-limit", "3", "--probes", "64"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "12 references" in result.stdout and "3 queries" in result.stdout
    assert "exact (IndexFlatL2)" in result.stdout
    assert "IndexIVFScalarQuantizer probes 64" in result.stdout and "agrees 1.000" in result.stdout


def test_help() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "local_votes.py"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--references" in result.stdout
