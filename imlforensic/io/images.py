"""Decode untrusted image files into 8-bit RGB arrays, as an image viewer would show them.

Conversion rules (recorded per image in ``LoadedImage.conversions`` and in the JSON output):

* **EXIF orientation** is applied, so maps and masks align with the image *as displayed*.
  Widths and heights reported everywhere are the displayed ones. HEIC/HEIF pictures come from
  their decoder already upright (libheif applies the file's rotation / mirror); the record gives
  the orientation that decoder applied (:func:`imlforensic.io.heif.decoder_orientation`) as for a JPEG.
* **16-bit** samples (TIFF, PNG) keep their high byte (``value >> 8``), for grey and colour alike.
  32-bit integer and float grey images are min-max scaled to 0..255.
* **Grey** (and 1-bit) images are replicated into three equal channels.
* **Alpha** (RGBA, LA, palette with transparency) is composited onto white, as most viewers
  show it; the stored colour of fully transparent pixels is discarded.
* **CMYK** is converted with Pillow's conversion (no ICC colour management).
* **Palette** images are expanded to RGB. **Animated** images (GIF, WebP, APNG) use their first frame.

Safety, in this order, before anything is decoded:

* only **regular files** are read: a folder, named pipe (FIFO), device or socket is refused
  from its ``fstat`` without reading a byte (the file is opened non-blocking, so a FIFO cannot
  hang the open itself), whatever the name or a symbolic link pointing at it says;
* at most :func:`max_file_bytes` bytes are read (8 bytes per pixel allowed by ``max_pixels``,
  the size of an uncompressed 16-bit RGBA picture, plus 64 MiB of metadata);
* only the documented formats are decoded (:data:`FORMATS`, Pillow's ``formats=`` allow-list):
  a PPM, TGA, ICO, ... named ``.jpg`` is refused, Pillow's other plugins never parse it;
* the declared pixel count is checked against ``max_pixels`` (decompression bombs);
* damaged data is refused (:mod:`imlforensic.io.integrity`: PNG CRCs, libjpeg's warnings about
  corrupt JPEG data), and truncated files are refused instead of being padded with grey.

The input file is opened read-only and never written. Warnings that do not make the pixels
untrustworthy (libjpeg about metadata, Pillow's own, an invalid EXIF orientation) are kept in
``LoadedImage.warnings`` and recorded.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imlforensic.io import heif
from imlforensic.io.files import open_regular
from imlforensic.io.hashing import sha256_bytes
from imlforensic.io.integrity import corruption
from imlforensic.io.paths import os_error_reason, printable

DEFAULT_MAX_PIXELS = 100_000_000
"""Default guard: 100 megapixels (a 12,000 x 8,000 image still passes)."""

MIN_SIDE = 16
"""Smallest width or height that the forensic views can analyse (two JPEG blocks)."""

FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP", "GIF")
"""Pillow formats that are decoded (the only plugins that may parse an input); HEIF and AVIF are
added where their plug-ins are installed (:func:`allowed_formats`)."""
JPEG_FORMATS = ("JPEG", "MPO")
"""How Pillow names a JPEG file: camera JPEGs holding several pictures (MPF) open as MPO."""

BYTES_PER_PIXEL = 8
METADATA_BYTES = 64 << 20

# We enforce our own limit before decoding; Pillow's own bomb check must not fire first
# with a different message, so it is disabled for the images we open ourselves.
Image.MAX_IMAGE_PIXELS = None


class ImageLoadError(Exception):
    """An input could not be used as an image. The message is one line and names the file."""


def max_file_bytes(max_pixels: int) -> int:
    """The largest input file read for a given ``--max-pixels`` (see the module docstring)."""
    return max_pixels * BYTES_PER_PIXEL + METADATA_BYTES


@dataclass(frozen=True)
class LoadedImage:
    """A decoded input image and the facts about it that outputs must record."""

    path: Path
    rgb: np.ndarray  # H x W x 3, uint8, as displayed
    sha256: str  # of the input file's bytes
    n_bytes: int
    format: str  # Pillow's format name, e.g. "JPEG"
    mode: str  # Pillow's mode of the stored image, e.g. "CMYK"
    exif_orientation: int  # 1 = upright; 2..8 per EXIF
    conversions: tuple[str, ...] = field(default=())
    jpeg_quality: int | None = None  # estimated IJG quality for JPEG inputs
    luma_table: np.ndarray | None = None  # JPEG luminance quantisation table (8x8) aligned with ``rgb``
    display: str = ""  # the name the user gave (messages, records); defaults to ``path``
    warnings: tuple[str, ...] = field(default=())  # decoder warnings that did not make it refuse the file

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def read_input(path: Path, name: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; :class:`ImageLoadError` otherwise."""
    try:
        with open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(max_bytes + 1) if size <= max_bytes else b""
    except OSError as exc:
        raise ImageLoadError(f"{name}: {os_error_reason(exc)}") from None
    if size > max_bytes or len(data) > max_bytes:  # the second: a file that grew while read
        raise ImageLoadError(
            f"{name}: file is {max(size, len(data)):,} bytes, above the limit of {max_bytes:,} "
            f"for the allowed pixel count (raise it with --max-pixels)"
        )
    return data


def load_image(path: Path | str, max_pixels: int = DEFAULT_MAX_PIXELS, display: str | None = None) -> LoadedImage:
    """Read ``path`` and decode it to 8-bit RGB; raise :class:`ImageLoadError` on any problem.

    ``display`` is how messages and records name the file (default: ``path`` as given).
    """
    return load_image_and_bytes(path, max_pixels, display)[0]


def load_image_and_bytes(
    path: Path | str, max_pixels: int = DEFAULT_MAX_PIXELS, display: str | None = None
) -> tuple[LoadedImage, bytes]:
    """:func:`load_image`, and the bytes it decoded (to read the file's metadata from the same bytes)."""
    path = Path(path)
    name = printable(display or str(path))
    data = read_input(path, name, max_file_bytes(max_pixels))
    return decode_image_bytes(data, path, max_pixels=max_pixels, display=name), data


def decode_image_bytes(
    data: bytes, path: Path, max_pixels: int = DEFAULT_MAX_PIXELS, display: str | None = None
) -> LoadedImage:
    """Decode already-read bytes; ``path`` and ``display`` are only used for messages and records."""
    name = printable(display or str(path))
    if not data:
        raise ImageLoadError(f"{name}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # e.g. "Corrupt EXIF data", "Truncated File Read": recorded
            image = _open_allowed(data)
            _check_pixel_count(image, max_pixels, name)
            damage = corruption(image.format or "", data)
            if damage.refusal:
                raise ImageLoadError(f"{name}: corrupt image data: {damage.refusal}")
            loaded = _decode(image, data, path, name)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name}: {_unsupported(data)}") from None
    except Image.DecompressionBombError as exc:  # defensive: our own check runs first
        raise ImageLoadError(f"{name}: rejected as a decompression bomb ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in reason.lower() or isinstance(exc, EOFError):
            reason = f"truncated or incomplete file ({reason})"
        raise ImageLoadError(f"{name}: corrupt image data: {reason}") from None
    except MemoryError:
        raise ImageLoadError(f"{name}: not enough memory to decode this image") from None
    pillow_warnings = tuple(dict.fromkeys(f"Pillow: {w.message}".splitlines()[0] for w in caught))
    loaded = replace(loaded, warnings=damage.warnings + loaded.warnings + pillow_warnings)
    if min(loaded.width, loaded.height) < MIN_SIDE:
        raise ImageLoadError(
            f"{name}: image is {loaded.width}x{loaded.height} pixels, too small to analyse (minimum {MIN_SIDE}x{MIN_SIDE})"
        )
    return loaded


def allowed_formats() -> tuple[str, ...]:
    """:data:`FORMATS`, plus HEIF (iPhone photos) and AVIF when :mod:`imlforensic.io.heif` can
    register them (the plug-ins are imported on the first decode, not at start-up)."""
    readable = heif.register()
    extra = (("HEIF",) if set(readable) & set(heif.HEIF_SUFFIXES) else ()) + (
        ("AVIF",) if set(readable) & set(heif.AVIF_SUFFIXES) else ()
    )
    return FORMATS + extra


def _unsupported(data: bytes) -> str:
    """Why ``data`` is refused: an ISO-BMFF picture (HEIC/AVIF) whose plug-in is missing says so."""
    reason = f"not a supported image format (supported: {', '.join(allowed_formats())})"
    if data[4:8] == b"ftyp" and heif.problems():
        reason += "; " + "; ".join(heif.problems())
    return reason


def _open_allowed(data: bytes) -> Image.Image:
    """Pillow's image for ``data`` if it is in one of the allowed formats (no other plugin reads it)."""
    return Image.open(io.BytesIO(data), formats=list(allowed_formats()))


def _check_pixel_count(image: Image.Image, max_pixels: int, name: str) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageLoadError(
            f"{name}: image declares {width}x{height} = {width * height:,} pixels, "
            f"above the limit of {max_pixels:,} (raise it with --max-pixels)"
        )


def _decode(image: Image.Image, data: bytes, path: Path, name: str) -> LoadedImage:
    """Decode the first frame of an opened image and convert it as displayed (module docstring)."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        image.seek(0)
    image.load()
    image_format = image.format or "unknown"
    jpeg = image_format in JPEG_FORMATS  # the tables are read before a transpose drops them
    quality = estimate_jpeg_quality(image) if jpeg else None
    table = _luma_table(image) if jpeg else None
    stored_mode, stored_size = image.mode, image.size
    conversions: list[str] = [f"first of {frames} frames"] if frames > 1 else []
    notes: list[str] = []
    orientation = _exif_orientation(image)
    # HEIF: libheif has turned the pixels upright already (never turned twice; other formats' info
    # cannot claim it: a PNG text chunk of that name is no decoder's word)
    applied = heif.decoder_orientation(image) if image_format == "HEIF" else 1
    if applied != 1:
        orientation = applied
        conversions.append(f"EXIF orientation {orientation} applied (by the HEIF decoder)")
    elif 2 <= orientation <= 8:
        image = ImageOps.exif_transpose(image)
        conversions.append(f"EXIF orientation {orientation} applied")
    elif orientation not in (0, 1):
        notes.append(f"EXIF orientation {orientation} is not a valid value (1-8); ignored")
        orientation = 1
    rgb = _to_rgb8(image, conversions)
    return LoadedImage(
        path=path,
        rgb=np.ascontiguousarray(rgb),
        sha256=sha256_bytes(data),
        n_bytes=len(data),
        format=image_format,
        mode=stored_mode,
        exif_orientation=orientation or 1,
        conversions=tuple(conversions),
        jpeg_quality=quality,
        luma_table=oriented_table(table, orientation or 1, stored_size),
        display=name,
        warnings=tuple(notes),
    )


def _luma_table(image: Image.Image) -> np.ndarray | None:
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    return np.asarray(tables[0], dtype=np.float64).reshape(8, 8)  # Pillow: row-major order


def oriented_table(table: np.ndarray | None, orientation: int, stored_size: tuple[int, int]) -> np.ndarray | None:
    """The luminance table in the orientation of the displayed pixels, or None when an EXIF
    transform moved the 8x8 grid (a flip of a side that is not a multiple of 8)."""
    if table is None:
        return None
    width, height = stored_size
    # Which stored axis the transform mirrors (EXIF 6 = 90 degrees clockwise mirrors the rows,
    # 8 = 90 counter-clockwise the columns, 5 = transpose mirrors neither).
    mirrors_columns = orientation in (2, 3, 7, 8)
    mirrors_rows = orientation in (3, 4, 6, 7)
    if (mirrors_columns and width % 8) or (mirrors_rows and height % 8):
        return None
    return table.T.copy() if orientation in (5, 6, 7, 8) else table


def _exif_orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1) or 1)
    except Exception:  # malformed EXIF must not make an otherwise good image unreadable
        return 1


def _to_rgb8(image: Image.Image, conversions: list[str]) -> np.ndarray:
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8)
    if mode == "P":
        has_alpha = "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
        conversions.append("palette expanded")
        mode = image.mode
        if mode == "RGB":
            return np.asarray(image, dtype=np.uint8)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        grey = (np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8)
        conversions.append("16-bit grey reduced to 8 bits (high byte)")
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        lo, hi = float(values.min()), float(values.max())
        scaled = np.zeros_like(values) if hi <= lo else (values - lo) / (hi - lo) * 255.0
        grey = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        conversions.append(f"{'32-bit integer' if mode == 'I' else 'float'} grey min-max scaled to 8 bits")
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        conversions.append("alpha composited onto white")
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"), dtype=np.uint8)
    if mode in ("L", "1"):
        grey = np.asarray(image.convert("L"), dtype=np.uint8)
        conversions.append("grey replicated to RGB")
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "CMYK":
        conversions.append("CMYK converted to RGB (no colour management)")
    else:
        conversions.append(f"{mode} converted to RGB")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def estimate_jpeg_quality(image: Image.Image) -> int | None:
    """Estimate the IJG quality factor from the luminance quantisation table (None if unknown).

    Inverts the IJG scaling of the standard luminance table and returns the quality whose
    table is closest; for non-IJG tables (cameras) this is the nearest IJG equivalent.
    """
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables:
        return None
    table = np.asarray(tables[0], dtype=np.float64)
    if table.size != 64:
        return None
    best_q, best_err = None, np.inf
    for q in range(1, 101):
        candidate = _ijg_table(q)
        err = float(np.abs(candidate - table).mean())
        if err < best_err:
            best_q, best_err = q, err
    return best_q


_STD_LUMA = np.array(
    [  # ITU T.81 Annex K luminance table, row-major (Pillow's order)
        16,
        11,
        10,
        16,
        24,
        40,
        51,
        61,
        12,
        12,
        14,
        19,
        26,
        58,
        60,
        55,
        14,
        13,
        16,
        24,
        40,
        57,
        69,
        56,
        14,
        17,
        22,
        29,
        51,
        87,
        80,
        62,
        18,
        22,
        37,
        56,
        68,
        109,
        103,
        77,
        24,
        35,
        55,
        64,
        81,
        104,
        113,
        92,
        49,
        64,
        78,
        87,
        103,
        121,
        120,
        101,
        72,
        92,
        95,
        98,
        112,
        100,
        103,
        99,
    ],
    dtype=np.float64,
)


def _ijg_table(quality: int) -> np.ndarray:
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    return np.clip(np.floor((_STD_LUMA * scale + 50.0) / 100.0), 1, 255)
