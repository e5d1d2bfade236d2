"""Put the report's pictures into the PDF ourselves, compressed for pictures.

matplotlib embeds every image as a zlib-compressed PNG: lossless, but about 0.4 MB for a
600 x 400 photo and slow to encode (a 100-image report would weigh some 80 MB). So the report
pages are drawn by matplotlib *without* their pictures (text, rules, colour-bar ticks: all
vector), and the pictures are added afterwards with pypdf as image XObjects painted *under*
each page's content (a frame or threshold mark drawn by matplotlib stays on top):

* photographs, overlays and heatmaps: baseline JPEG, quality 92, no chroma subsampling
  (4:4:4, so thin coloured contours keep their colour) - visually lossless at print size;
* masks and anything with ``lossless=True``: Flate with PNG predictors (exact pixels).

The pictures are copies for display; the reference outputs stay in the results folder.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

import cv2
import numpy as np
from PIL import Image

JPEG_QUALITY = 92


@dataclass
class PlacedImage:
    """An encoded picture and its box on the page (points, from the top-left corner)."""

    x: float
    y: float
    w: float
    h: float
    data: bytes
    width_px: int
    height_px: int
    colors: int  # 1 (grey) or 3 (RGB)
    jpeg: bool

    def xobject(self):
        from pypdf.generic import DictionaryObject, NameObject, NumberObject, StreamObject

        stream = StreamObject()
        stream.set_data(self.data)  # already encoded (/Filter below); written as is
        stream.update(
            {
                NameObject("/Type"): NameObject("/XObject"),
                NameObject("/Subtype"): NameObject("/Image"),
                NameObject("/Width"): NumberObject(self.width_px),
                NameObject("/Height"): NumberObject(self.height_px),
                NameObject("/ColorSpace"): NameObject("/DeviceRGB" if self.colors == 3 else "/DeviceGray"),
                NameObject("/BitsPerComponent"): NumberObject(8),
            }
        )
        if self.jpeg:
            stream[NameObject("/Filter")] = NameObject("/DCTDecode")
        else:
            stream[NameObject("/Filter")] = NameObject("/FlateDecode")
            stream[NameObject("/DecodeParms")] = DictionaryObject(
                {
                    NameObject("/Predictor"): NumberObject(15),
                    NameObject("/Colors"): NumberObject(self.colors),
                    NameObject("/BitsPerComponent"): NumberObject(8),
                    NameObject("/Columns"): NumberObject(self.width_px),
                }
            )
        return stream


def _png_idat(array: np.ndarray) -> bytes:
    """The zlib stream (PNG-predicted rows) of ``array`` encoded as PNG by OpenCV."""
    data = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", data, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    raw = buffer.tobytes()
    pos, chunks = 8, []
    while pos < len(raw):
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        if kind == b"IDAT":
            chunks.append(raw[pos + 8 : pos + 8 + length])
        elif kind == b"IEND":
            break
        pos += 12 + length
    return b"".join(chunks)


def encode(array: np.ndarray, x: float, y: float, w: float, h: float, lossless: bool = False) -> PlacedImage:
    """Encode a uint8 grey or RGB array for the box (x, y, w, h)."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise TypeError("pictures must be uint8")
    colors = 1 if array.ndim == 2 else 3
    height, width = array.shape[:2]
    # grey pictures with few levels (masks) and tiny ones compress best and exactly with Flate
    if lossless or colors == 1 or width * height < 4096:
        return PlacedImage(x, y, w, h, _png_idat(array), width, height, colors, jpeg=False)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False)
    return PlacedImage(x, y, w, h, buffer.getvalue(), width, height, colors, jpeg=True)


def embed(
    source: Path | bytes, pages: list[list[PlacedImage]], page_heights: list[float], output: Path | BinaryIO
) -> None:
    """Copy the PDF ``source`` (a file or its bytes) to ``output`` with each page's pictures under its content."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, IndirectObject, NameObject

    reader = PdfReader(io.BytesIO(source) if isinstance(source, bytes) else str(source))
    writer = PdfWriter(clone_from=reader)
    if len(writer.pages) != len(pages):
        raise RuntimeError(f"the drawn PDF has {len(writer.pages)} pages, {len(pages)} expected")
    for number, (page, placed, page_h) in enumerate(zip(writer.pages, pages, page_heights), start=1):
        if not placed:
            continue
        resources = cast(DictionaryObject, page["/Resources"].get_object())
        if "/XObject" not in resources:
            resources[NameObject("/XObject")] = DictionaryObject()
        xobjects = cast(DictionaryObject, resources["/XObject"].get_object())
        ops = []
        for k, image in enumerate(placed, start=1):
            name = f"/Rp{number}i{k}"
            xobjects[NameObject(name)] = writer._add_object(image.xobject())
            bottom = page_h - image.y - image.h
            ops.append(f"q {image.w:.4f} 0 0 {image.h:.4f} {image.x:.4f} {bottom:.4f} cm {name} Do Q")
        content = DecodedStreamObject()
        content.set_data(("\n".join(ops) + "\n").encode("ascii"))
        content_ref = writer._add_object(content)
        raw = dict.get(page, "/Contents")  # without resolving: keep indirect references
        combined = ArrayObject([content_ref])
        if raw is not None:
            resolved = raw.get_object()
            if isinstance(resolved, ArrayObject):
                combined.extend(resolved)
            elif isinstance(raw, IndirectObject):
                combined.append(raw)
            else:
                combined.append(writer._add_object(resolved))
        page[NameObject("/Contents")] = combined
    if isinstance(output, (str, Path)):
        with open(output, "wb") as handle:
            writer.write(handle)
    else:
        writer.write(output)
