"""Build EXIF blocks by hand for tests: IFD0 text tags, an optional GPS IFD and an IFD1 JPEG
thumbnail (Pillow reads IFD1 thumbnails but does not write them)."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

_ASCII, _SHORT, _LONG, _BYTE = 2, 3, 4, 1


def jpeg_bytes(rgb: np.ndarray, quality: int = 80) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def exif_block(tags: dict[int, str | int] | None = None, thumbnail: bytes | None = None, gps: bool = False,
               exif_ifd: dict[int, str] | None = None) -> bytes:
    """``Exif\\0\\0`` + a little-endian TIFF structure, ready for ``Image.save(..., exif=...)``.

    ``tags``: IFD0 tags, strings as ASCII and ints as SHORT; ``exif_ifd``: ASCII tags of the Exif
    sub-IFD; ``gps``: add a GPS IFD (version and latitude reference only); ``thumbnail``: JPEG
    bytes stored in IFD1.
    """
    tags = dict(tags or {})
    ifds: list[tuple[str, list[tuple[int, int, object]]]] = []
    ifd0 = [(tag, _ASCII if isinstance(value, str) else _SHORT, value) for tag, value in tags.items()]
    if exif_ifd:
        ifd0.append((0x8769, _LONG, "@exif"))
    if gps:
        ifd0.append((0x8825, _LONG, "@gps"))
    ifds.append(("ifd0", ifd0))
    if exif_ifd:
        ifds.append(("exif", [(tag, _ASCII, value) for tag, value in exif_ifd.items()]))
    if gps:
        ifds.append(("gps", [(0x0000, _BYTE, b"\x02\x03\x00\x00"), (0x0001, _ASCII, "N")]))
    if thumbnail is not None:
        ifds.append(("ifd1", [(0x0103, _SHORT, 6), (0x0201, _LONG, "@thumb"), (0x0202, _LONG, len(thumbnail))]))

    # Layout: header, then each IFD followed by its out-of-line values, then the thumbnail.
    offsets: dict[str, int] = {}
    position = 8
    sizes = []
    for name, entries in ifds:
        offsets[name] = position
        extra = sum(len(_value_bytes(t, v)) for _, t, v in entries if len(_value_bytes(t, v)) > 4)
        size = 2 + 12 * len(entries) + 4 + extra
        sizes.append(size)
        position += size + (size % 2)
    offsets["thumb"] = position

    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    chained = [name for name, _ in ifds if name in ("ifd0", "ifd1")]
    for (name, entries), size in zip(ifds, sizes):
        start = offsets[name]
        assert len(out) == start
        data_at = start + 2 + 12 * len(entries) + 4
        table, data = bytearray(struct.pack("<H", len(entries))), bytearray()
        for tag, typ, value in sorted(entries, key=lambda e: e[0]):
            if isinstance(value, str) and value.startswith("@"):
                value = offsets[value[1:]]
            raw = _value_bytes(typ, value)
            count = len(raw) if typ in (_ASCII, _BYTE) else 1
            if len(raw) <= 4:
                table += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\x00")
            else:
                table += struct.pack("<HHII", tag, typ, count, data_at + len(data))
                data += raw
        nxt = offsets["ifd1"] if name == "ifd0" and "ifd1" in chained else 0
        out += table + struct.pack("<I", nxt) + data
        if size % 2:
            out += b"\x00"
    if thumbnail is not None:
        out += thumbnail
    return b"Exif\x00\x00" + bytes(out)


def _value_bytes(typ: int, value: object) -> bytes:
    if isinstance(value, str) and value.startswith("@"):  # an offset, filled in later
        value = 0
    if typ == _ASCII:
        return str(value).encode("ascii") + b"\x00"
    if typ == _BYTE:
        return bytes(value)  # type: ignore[arg-type]
    if typ == _SHORT:
        return struct.pack("<H", int(value))  # type: ignore[arg-type]
    return struct.pack("<I", int(value))  # type: ignore[arg-type]
