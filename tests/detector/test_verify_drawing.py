"""Inlier drawings and transform descriptions for inspect."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from detector.hard_negatives import sample_photographs
from detector.verify import VerifyConfig, extract_features, extract_with_mirror, verify_pair
from detector.verify_drawing import describe_transform, draw_matches


def test_draw_and_describe_a_mirrored_copy():
    photo = sample_photographs()["grace_hopper"]
    query = ImageOps.mirror(photo).resize((256, 300)).rotate(8, resample=Image.Resampling.BILINEAR)
    result = verify_pair(*extract_with_mirror(query), extract_features(photo))
    assert result.verified
    picture = draw_matches(query, photo, result, VerifyConfig(), height=200)
    assert picture.height == 200 and picture.width > 300
    pixels = np.asarray(picture)
    plain = np.asarray(draw_matches(query, photo, verify_pair(*extract_with_mirror(Image.new("RGB", (9, 9))),
                                                             extract_features(photo)), VerifyConfig(), height=200))
    assert (np.abs(pixels.astype(int) - plain.astype(int)).sum(axis=2) > 0).mean() > 0.002  # lines were drawn
    text = describe_transform(result)
    assert text.startswith("mirrored, 1.0x scale, 8 deg rotation") and "of the evaluation image" in text


def test_describe_unverified_pairs():
    blank = extract_features(Image.new("RGB", (64, 64), (9, 9, 9)))
    fallback = verify_pair(blank, None, blank)
    assert describe_transform(fallback).startswith("not verified: too few distinctive keypoints")
    photos = sample_photographs()
    rejected = verify_pair(*extract_with_mirror(photos["china"]), extract_features(photos["flower"]))
    assert describe_transform(rejected).startswith("not verified:") and "inliers" in describe_transform(rejected)
