"""Compare a screenshot with a committed reference PNG, with a tolerance for the small
differences fonts and anti-aliasing make between machines.

VPCLOCAL_UPDATE_SCREENSHOTS=1 writes the screenshot as the new reference (then look at it
and commit it)."""

from __future__ import annotations

import os
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageChops

REFERENCES = Path(__file__).resolve().parent / "reference"
CHANNEL_TOLERANCE = 64  # a pixel differs when a channel moves by more than this
MAX_DIFFERENT = 0.01  # at most this share of the pixels may differ
MAX_SIZE_DELTA = 4  # pixels of width or height (a heading's line height may vary a little)


def compare(png: bytes, name: str, out_dir: Path) -> None:
    """Assert the screenshot matches reference/<name>; keep the actual and a diff image in
    out_dir when it does not."""
    reference = REFERENCES / name
    actual = Image.open(BytesIO(png)).convert("RGB")
    if os.environ.get("VPCLOCAL_UPDATE_SCREENSHOTS") == "1":
        REFERENCES.mkdir(exist_ok=True)
        actual.save(reference)
    expected = Image.open(reference).convert("RGB")
    out_dir.mkdir(parents=True, exist_ok=True)
    actual.save(out_dir / name)
    assert abs(actual.width - expected.width) <= MAX_SIZE_DELTA and \
        abs(actual.height - expected.height) <= MAX_SIZE_DELTA, (
            f"{name}: {actual.size} drawn, {expected.size} expected (see {out_dir / name})")
    size = (min(actual.width, expected.width), min(actual.height, expected.height))
    diff = ImageChops.difference(actual.crop((0, 0, *size)), expected.crop((0, 0, *size)))
    # the largest channel difference of each pixel
    worst = ImageChops.lighter(ImageChops.lighter(*diff.split()[:2]), diff.split()[2])
    different = sum(worst.point(lambda v: 255 if v > CHANNEL_TOLERANCE else 0)
                    .histogram()[255:]) / (size[0] * size[1])
    if different > MAX_DIFFERENT:
        worst.point(lambda v: 255 if v > CHANNEL_TOLERANCE else 0).save(out_dir / f"diff-{name}")
    assert different <= MAX_DIFFERENT, (
        f"{name}: {different:.2%} of the pixels differ from the reference (at most "
        f"{MAX_DIFFERENT:.0%}); see {out_dir / name} and {out_dir / ('diff-' + name)}")
