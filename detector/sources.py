"""Opening image sources for the detector through clip_core's shared readers."""
from __future__ import annotations

from typing import Any


def open_images(location: str, format: str | None = None) -> Any:
    """Open a folder, CSV manifest, WebDataset or `synthetic:<task>` location as a `clip_core.data` ImageSource."""
    from clip_core.data import open_source

    return open_source(str(location), format=format)
