"""Opening image sources for the detector through clip_core's shared readers."""
from __future__ import annotations

from typing import Any


def open_images(location: str, format: str | None = None, draft_size: int | None = None) -> Any:
    """Open a folder, CSV manifest, WebDataset or `synthetic:<task>` location as a `clip_core.data` ImageSource.

    With `draft_size` (a detector's input size) JPEGs are decoded at the reduced DCT scale that still
    covers `draft_size` x `draft_size`: the same descriptor inputs at a fraction of the decoding cost.
    """
    from clip_core.data import open_source

    return open_source(str(location), format=format).set_draft_size(draft_size)
