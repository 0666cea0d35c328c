"""Every notebook runs top to bottom with nbclient (a raising cell fails the test).

The cell tagged ``parameters`` (papermill's convention) is replaced by smaller sizes here so the
default test run stays fast; every other cell runs exactly as written.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
QUICK = {
    "01_contamination_walkthrough.ipynb": "SEED = 1\nN_EVAL = 200\nPLANTED_FRACTION = 0.1\nN_PRETRAINING = 2000\nDIM = 32\n"
                                          "ACC_CLEAN, ACC_OVERLAP = 0.5, 0.9",
    "02_bias_probes.ipynb": "SEED = 0\nTRAIN_STEPS = 40",
    "03_train_tiny_clip.ipynb": "SEED = 0\nSTEPS = 4\nBATCH_SIZE = 8\nEVAL_IMAGES = 20",
}


def test_every_notebook_is_covered() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(QUICK)


@pytest.mark.parametrize("name", sorted(QUICK))
def test_notebook_runs_top_to_bottom(name: str, tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    tagged = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{name}: expected one cell tagged 'parameters'"
    tagged[0].source = QUICK[name]
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell when any cell fails
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    assert all(c.get("execution_count") for c in notebook.cells if c.cell_type == "code")
