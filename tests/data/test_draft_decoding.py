"""JPEG draft decoding: sources decode JPEGs only as large as a consumer needs; other formats in full."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from clip_core.data import open_source
from clip_core.data.imageio import decode_image
from clip_core.data.writers import write_webdataset


def _photo(w: int = 512, h: int = 384) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    arr = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 127 // (w + h))], -1).astype(np.uint8)
    return Image.fromarray(arr)


def _bytes(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_jpeg_is_decoded_at_the_smallest_scale_that_covers_the_draft_size():
    data = _bytes(_photo(), "JPEG")
    assert decode_image(data).size == (512, 384)
    assert decode_image(data, draft=64).size == (128, 96)  # 1/4: 1/8 would give 48 < 64 rows
    assert decode_image(data, draft=150).size == (256, 192)
    assert decode_image(data, draft=200).size == (512, 384)  # half would leave 192 < 200 rows
    small = decode_image(data, draft=64).resize((64, 64), Image.Resampling.BILINEAR)
    full = decode_image(data).resize((64, 64), Image.Resampling.BILINEAR, reducing_gap=3.0)
    assert np.abs(np.asarray(small, float) - np.asarray(full, float)).mean() < 3.0  # same picture
    assert decode_image(_bytes(_photo(), "PNG"), draft=64).size == (512, 384)  # only JPEG has DCT scales


def test_sources_pass_the_draft_size_to_every_shard(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    _photo().save(folder / "a.jpg")
    source = open_source(str(folder)).set_draft_size(64)
    assert [ex.image.size for ex in source] == [(128, 96)]
    assert [ex.image.size for ex in open_source(str(folder))] == [(512, 384)]
    write_webdataset([("k1", _photo(), "cap")], tmp_path / "wds", shard_size=10, ext="jpg")
    assert [ex.image.size for ex in open_source(str(tmp_path / "wds")).set_draft_size(64)] == [(128, 96)]
    with pytest.raises(ValueError, match="draft size"):
        open_source(str(folder)).set_draft_size(0)
