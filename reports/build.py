"""Build a report: read the results, render HTML and PDF, write them and a machine-readable summary.

Outputs (written atomically) in the output folder: ``report.html`` (self-contained, SVG figures),
``report.pdf`` (PNG figures, a page or more per section), ``report.json`` (sections run, summary
sentences, figures, page count) and ``report_files/`` (each figure as SVG and PNG).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from clip_core.atomic_files import atomic_path, atomic_write_text
from reports.content import ReportConfig, ReportContent, build_content
from reports.layout import ReportPaths
from reports.render import render_html, render_pdf

FIGURES_FOLDER = "report_files"


@dataclass(frozen=True)
class ReportOutputs:
    """Where the report went and what it holds."""

    html: Path
    pdf: Path
    summary: Path
    pages: int
    sections_run: tuple[str, ...]
    sections_not_run: tuple[str, ...]
    figures: int


def _write_bytes(path: Path, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def _summary_record(content: ReportContent, paths: ReportPaths, pages: int) -> dict:
    """The machine-readable side of the report."""
    return {
        "root": str(paths.root),
        "inputs": {"contamination": str(paths.contamination) if paths.contamination else None,
                   "overlap": str(paths.overlap) if paths.overlap else None, "probes": [str(p) for p in paths.probes]},
        "sections": {s.key: {"title": s.title, "ran": s.ran, "source": s.source} for s in content.statuses},
        "summary": content.summary,
        "contamination_interval_level": content.confidence,
        "datasets": [d.name for d in content.datasets],
        "probes": [p.name for p in content.probes],
        "figures": [f"{FIGURES_FOLDER}/{f.name}.svg" for f in content.figures()],
        "pdf_pages": pages,
    }


def build_report(paths: ReportPaths, config: ReportConfig = ReportConfig(), progress: bool = True) -> ReportOutputs:
    """Read every section's results under `paths` and write report.html, report.pdf and report.json."""
    bar = tqdm(total=None, desc="report", unit="step", disable=not progress)

    def step(text: str) -> None:
        bar.set_postfix_str(text)
        bar.update(1)

    try:
        content = build_content(paths, config, step)
        step("HTML")
        html = render_html(content, "html")
        step("PDF")
        pdf, pages = render_pdf(content)
    finally:
        bar.close()
    out = Path(paths.out)
    for figure in content.figures():
        atomic_write_text(out / FIGURES_FOLDER / f"{figure.name}.svg", figure.svg)
        _write_bytes(out / FIGURES_FOLDER / f"{figure.name}.png", figure.png)
    atomic_write_text(out / "report.html", html)
    _write_bytes(out / "report.pdf", pdf)
    atomic_write_text(out / "report.json", json.dumps(_summary_record(content, paths, pages), indent=2) + "\n")
    return ReportOutputs(
        html=out / "report.html", pdf=out / "report.pdf", summary=out / "report.json", pages=pages,
        sections_run=tuple(s.title for s in content.statuses if s.ran),
        sections_not_run=tuple(s.title for s in content.statuses if not s.ran), figures=len(content.figures()),
    )
