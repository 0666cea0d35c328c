"""Shared fixtures for the data tests: small labelled/captioned examples and helpers."""
from __future__ import annotations

import io

import pytest
from PIL import Image

from clip_core.data import Example, SyntheticTask


@pytest.fixture(scope="session")
def color_examples() -> list[Example]:
    """Twelve labelled, captioned synthetic examples (ids like colors/000003)."""
    task = SyntheticTask("colors", n=12, size=32)
    return [task[i] for i in range(12)]


def corrupt_bytes() -> bytes:
    """Bytes that start like a PNG but are not a decodable image."""
    return b"\x89PNG\r\n\x1a\n" + b"garbage" * 10


def truncated_jpeg() -> bytes:
    """A JPEG cut in half (PIL refuses to load it)."""
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(buf, format="JPEG")
    data = buf.getvalue()
    return data[: len(data) // 2]


@pytest.fixture(scope="session")
def bad_image_bytes() -> dict[str, bytes]:
    """Unreadable image payloads by kind."""
    return {"garbage": corrupt_bytes(), "truncated": truncated_jpeg(), "empty": b""}
