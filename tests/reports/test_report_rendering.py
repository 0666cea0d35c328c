"""The HTML report in headless Chromium (no console errors, every figure loads, tables present) and the PDF as pages."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOPPM = shutil.which("pdftoppm")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_html_report_in_headless_chromium(built_report) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
        page.goto(built_report.html.resolve().as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.src.slice(0, 22)])")
        figures = page.evaluate("Array.from(document.querySelectorAll('figure img')).map(i => i.naturalWidth)")
        tables = page.evaluate("Object.fromEntries(['contamination','datasets','thresholds','probes','provenance'].map("
                               "s => [s, document.querySelectorAll('#' + s + ' table.result tbody tr').length]))")
        browser.close()
    assert errors == []
    assert len(figures) == built_report.figures == 4 and all(width > 0 for width in figures)
    assert images and all(complete and width > 0 for complete, width, _ in images)
    assert all(src.startswith("data:image/") for _, _, src in images)  # self-contained: nothing fetched
    assert all(count > 0 for count in tables.values()), tables


@pytest.mark.skipif(PDFTOPPM is None, reason="pdftoppm (poppler-utils) is not installed (.ci/run installs it)")
def test_pdf_pages_are_all_non_blank(built_report, tmp_path: Path) -> None:
    subprocess.run([PDFTOPPM, "-r", "40", "-png", str(built_report.pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == built_report.pages == json.loads(built_report.summary.read_text())["pdf_pages"]
    assert len(pages) >= 6  # summary, contamination, per-dataset detail, thresholds, probes, provenance: each from a new page
    for path in pages:
        pixels = np.asarray(Image.open(path).convert("L"))
        assert (pixels < 200).mean() > 0.002, f"{path.name} is blank"


def test_building_a_pdf_leaves_truncated_images_an_error() -> None:
    """WeasyPrint turns on PIL's LOAD_TRUNCATED_IMAGES when imported; the report must not leave it on."""
    from PIL import ImageFile

    from reports import render

    class Empty:
        pass

    try:
        render.render_pdf(Empty())  # type: ignore[arg-type] - fails while rendering, after the import
    except Exception:  # noqa: BLE001 - only the flag matters here
        pass
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
