"""One Jinja2 template family rendered two ways: self-contained HTML (SVG figures) and PDF (PNG figures)."""
from __future__ import annotations

import base64
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from reports.content import ReportContent
from reports.figures import Figure

TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> Environment:
    """The template environment (autoescaped, undefined names are errors)."""
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]), undefined=StrictUndefined)


def figure_data_uri(figure: Figure, medium: str) -> str:
    """A figure as a data URI: SVG for the HTML page, PNG for the PDF."""
    if medium == "html":
        return "data:image/svg+xml;base64," + base64.b64encode(figure.svg.encode("utf-8")).decode("ascii")
    return "data:image/png;base64," + base64.b64encode(figure.png).decode("ascii")


def render_html(content: ReportContent, medium: str = "html") -> str:
    """The report as one HTML document for `medium` ("html" or "pdf")."""
    if medium not in ("html", "pdf"):
        raise ValueError(f"medium must be 'html' or 'pdf', got {medium!r}")
    return _environment().get_template("report.html.j2").render(
        c=content, medium=medium, css=(TEMPLATES / "report.css").read_text(encoding="utf-8"),
        status={s.key: s for s in content.statuses}, figure_uri=lambda f: figure_data_uri(f, medium),
    )


def render_pdf(content: ReportContent) -> tuple[bytes, int]:
    """The report as PDF bytes and its page count, laid out by WeasyPrint (each section from a new page)."""
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import weasyprint  # sets PIL's process-wide LOAD_TRUNCATED_IMAGES = True on import

        document = weasyprint.HTML(string=render_html(content, "pdf"), base_url=str(TEMPLATES)).render()
        return document.write_pdf(), len(document.pages)
    finally:
        # Corrupt images elsewhere in the process must stay errors (skipped and counted), not half-decoded.
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated
