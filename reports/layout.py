"""Where the report finds its result files: one audit folder, or explicit paths per section.

Default layout of ``clip-audit report DIR`` (the first match of each list wins):

- contamination: ``DIR/results/contamination.csv`` (the demo), ``DIR/contamination/contamination.csv``
  or ``DIR/contamination.csv``, with its neighbours ``contamination.json``, ``composition.csv``,
  ``overlap_examples.csv``, ``drop.csv`` and ``provenance.json`` in the same folder;
- overlap: ``DIR/overlap/`` (``thresholds.json``, ``neighbours.parquet``, ``overlap_table.csv``,
  ``sources.json`` for thumbnails, ``overlap_summary.json``), else the contamination folder when it
  holds a ``thresholds.json`` (the image mode of `clip-audit contamination` keeps its overlap there);
- probes: ``DIR/probes/<name>/`` with ``rates.csv``, ``summary.json``, ``provenance.json`` (and
  ``differences.csv`` for class-design); a folder that itself holds ``rates.csv`` is one probe;
- output: ``DIR/report.html``, ``DIR/report.pdf``, ``DIR/report.json`` and ``DIR/report_files/``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONTAMINATION_FILE = "contamination.csv"
THRESHOLDS_FILE = "thresholds.json"
RATES_FILE = "rates.csv"


@dataclass(frozen=True)
class ReportPaths:
    """The folders a report reads (None: that section was not run) and the folder it writes."""

    root: Path
    out: Path
    contamination: Path | None
    overlap: Path | None
    probes: tuple[Path, ...]


def _contamination_folder(root: Path, given: Path | None) -> Path | None:
    """The folder holding contamination.csv, from an explicit file or folder, else the default layout."""
    if given is not None:
        given = Path(given)
        if given.is_file():
            return given.parent
        if (given / CONTAMINATION_FILE).is_file():
            return given
        raise FileNotFoundError(f"--contamination {given}: no {CONTAMINATION_FILE} there")
    for folder in (root / "results", root / "contamination", root):
        if (folder / CONTAMINATION_FILE).is_file():
            return folder
    return None


def _overlap_folder(root: Path, given: Path | None, contamination: Path | None) -> Path | None:
    """The overlap results folder: explicit, DIR/overlap, else the contamination folder if it has thresholds."""
    if given is not None:
        given = Path(given)
        if not given.is_dir():
            raise FileNotFoundError(f"--overlap {given}: not a folder")
        if not any((given / name).is_file() for name in (THRESHOLDS_FILE, "neighbours.parquet", "overlap_table.csv")):
            raise FileNotFoundError(f"--overlap {given}: none of {THRESHOLDS_FILE}, neighbours.parquet, overlap_table.csv there")
        return given
    if (root / "overlap").is_dir() and any((root / "overlap").iterdir()):
        return root / "overlap"
    if contamination is not None and (contamination / THRESHOLDS_FILE).is_file():
        return contamination
    return None


def _probe_folders(root: Path, given: Path | None) -> tuple[Path, ...]:
    """Every probe folder (one holding rates.csv) under the probes folder, sorted by name."""
    folder = Path(given) if given is not None else root / "probes"
    if given is not None and not folder.is_dir():
        raise FileNotFoundError(f"--probes {folder}: not a folder")
    if not folder.is_dir():
        return ()
    if (folder / RATES_FILE).is_file():
        return (folder,)
    found = tuple(sorted(p for p in folder.iterdir() if p.is_dir() and (p / RATES_FILE).is_file()))
    if given is not None and not found:
        raise FileNotFoundError(f"--probes {folder}: no probe folder with {RATES_FILE} there")
    return found


def resolve_paths(
    root: Path, contamination: Path | None = None, overlap: Path | None = None,
    probes: Path | None = None, out: Path | None = None,
) -> ReportPaths:
    """Find each section's results under `root` (or where given); absent sections become None."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"report folder not found: {root}")
    contamination_dir = _contamination_folder(root, contamination)
    return ReportPaths(
        root=root, out=Path(out) if out is not None else root,
        contamination=contamination_dir,
        overlap=_overlap_folder(root, overlap, contamination_dir),
        probes=_probe_folders(root, probes),
    )
