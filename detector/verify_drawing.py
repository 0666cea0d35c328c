"""Pictures and words for a verified pair, for `clip-audit inspect`: inlier matches drawn side by side, the transform in words."""
from __future__ import annotations

import math

from PIL import Image, ImageDraw

from detector.verify import Verification, VerifyConfig

LINE_COLOURS = ((0, 220, 90), (255, 200, 0), (0, 170, 255), (255, 90, 200))


def _fit(image: Image.Image, height: int) -> tuple[Image.Image, float]:
    image = image.convert("RGB")
    f = height / max(image.height, 1)
    return image.resize((max(1, int(round(image.width * f))), height), Image.Resampling.BILINEAR), f


def _to_display(points, image: Image.Image, config: VerifyConfig, display_scale: float, dx: int) -> list[tuple[float, float]]:
    """Map points from resized-image pixels (longest side = max_side) to the displayed image's pixels."""
    to_original = max(image.size) / config.max_side
    return [(float(x) * to_original * display_scale + dx, float(y) * to_original * display_scale) for x, y in points]


def draw_matches(query: Image.Image, reference: Image.Image, verification: Verification,
                 config: VerifyConfig = VerifyConfig(), height: int = 320) -> Image.Image:
    """The query (left) and reference (right) side by side with a line between each pair of inlier points."""
    left, f_left = _fit(query, height)
    right, f_right = _fit(reference, height)
    gap = 8
    canvas = Image.new("RGB", (left.width + gap + right.width, height), (255, 255, 255))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width + gap, 0))
    draw = ImageDraw.Draw(canvas)
    q = _to_display(verification.query_points, query, config, f_left, 0)
    r = _to_display(verification.reference_points, reference, config, f_right, left.width + gap)
    for i, (a, b) in enumerate(zip(q, r)):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        draw.line((a, b), fill=colour, width=1)
        for x, y in (a, b):
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), outline=colour)
    return canvas


def describe_transform(verification: Verification) -> str:
    """The transform in words, e.g. "mirrored, 0.6x scale, 8 deg rotation, covers 55% of the evaluation image"."""
    if verification.status == "fallback":
        return f"not verified: {verification.reason or 'too few keypoints'}; the global similarity decides"
    if verification.status == "rejected":
        return f"not verified: {verification.reason or 'no consistent geometry'} ({verification.inliers} inliers)"
    parts = ["mirrored"] if verification.mirrored else []
    if not math.isnan(verification.scale):
        parts.append(f"{verification.scale:.1f}x scale")
    if not math.isnan(verification.rotation_deg):
        parts.append(f"{verification.rotation_deg:.0f} deg rotation")
    parts.append(f"{verification.inliers} inliers")
    parts.append(f"covers {verification.coverage_reference:.0%} of the evaluation image")
    return ", ".join(parts)
