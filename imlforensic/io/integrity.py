"""Corrupt image data that decodes without an error: found before an image is analysed.

A decoder that meets damaged data often goes on and fills the damage with grey or zero blocks;
Pillow does so in silence. A forensic map of such a file shows the damage, not an edit, so the
damage has to be found first:

* **PNG**: every chunk carries a CRC. Pillow checks those of the header chunks when it opens a
  file, and those of the image data only in :meth:`PIL.Image.Image.verify`, which is run here.
* **JPEG** has no checksum; libjpeg notices damaged entropy-coded data (a bad Huffman code, a
  marker in the middle of a scan, bytes left over after the last block) and says so in a
  *warning*, then decodes on. Pillow silences libjpeg's warnings, so the file is decoded a second
  time by OpenCV's libjpeg at 1/8 scale (the entropy-coded data is read in full; 20 ms for a
  16-megapixel photo) with the process's standard error captured, which is where libjpeg's
  default message handler writes them.

:func:`corruption` returns what was found: ``refusal`` (the pixels are damaged; the caller
refuses the file) or ``warnings`` (libjpeg messages about the metadata, recorded with the image).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

# libjpeg's messages for damaged scan data (jerror.h: JWRN_HUFF_BAD_CODE, JWRN_HIT_MARKER,
# JWRN_EXTRANEOUS_DATA, JWRN_MUST_RESYNC, JWRN_JPEG_EOF, JWRN_ARITH_BAD_CODE, JWRN_BOGUS_PROGRESSION,
# JWRN_NOT_SEQUENTIAL); other warnings concern metadata (an unknown JFIF revision, a thumbnail size).
_DAMAGED_JPEG = (
    "corrupt jpeg data",
    "premature end of jpeg file",
    "inconsistent progression",
    "invalid sos parameters",
)


@dataclass(frozen=True)
class Corruption:
    refusal: str | None = None  # why the pixels cannot be trusted; None when they can
    warnings: tuple[str, ...] = field(default=())


def corruption(image_format: str, data: bytes) -> Corruption:
    """What is damaged in ``data``, the bytes of an image that Pillow identified as ``image_format``."""
    if image_format == "PNG":
        return Corruption(refusal=_png_damage(data))
    if image_format in ("JPEG", "MPO"):
        return _jpeg_damage(data)
    return Corruption()


def _png_damage(data: bytes) -> str | None:
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.verify()  # every chunk's CRC up to IEND
    except Exception as exc:  # SyntaxError "broken PNG file", struct errors, EOF
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return None


def _jpeg_damage(data: bytes) -> Corruption:
    import cv2  # imported here: a PNG-only run does not need it

    text = _stderr_of(lambda: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8))
    if text is None:  # no standard error to capture (a closed descriptor): cannot tell
        return Corruption()
    lines = [line.strip() for line in text.splitlines()]
    messages = [line for line in lines if line and not line.startswith("[")]  # "[ WARN:...": OpenCV's own log
    damaged = [m for m in messages if m.lower().startswith(_DAMAGED_JPEG)]
    if damaged:
        return Corruption(refusal=f"{damaged[0]} (libjpeg)")
    return Corruption(warnings=tuple(f"libjpeg: {m}" for m in messages))


def _stderr_of(action: Callable[[], object]) -> str | None:
    """What ``action`` writes to file descriptor 2 (where C libraries write), kept from the terminal.

    Python's own ``sys.stderr`` is flushed first, so nothing written before lands in the capture.
    None when descriptor 2 cannot be duplicated (then ``action`` is not run).
    """
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        return None
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                action()
            finally:
                os.dup2(saved, 2)
            sink.seek(0)
            return sink.read().decode("utf-8", "replace")
    finally:
        os.close(saved)
