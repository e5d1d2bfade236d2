"""Selected metadata of an image file, and its EXIF thumbnail compared with the picture.

Fields (read with Pillow, without decoding the pixels): camera make and model, lens, software
(EXIF ``Software`` and ``ProcessingSoftware``, XMP ``CreatorTool`` / history agents, PNG text),
capture / digitised / modification dates, artist, EXIF orientation, whether GPS data is present
(only whether: the position itself is not copied into records). Names of editing programs in
those fields are reported as a *note*: editing software in the metadata says the file passed
through that program (possibly only for a crop or a colour correction), not that its content
was manipulated; and its absence proves nothing, as metadata is easily removed or rewritten.

EXIF thumbnail check
--------------------
Cameras store a small JPEG preview in EXIF (IFD1). Many editors rewrite the picture but keep
the old preview, so a preview that shows other content, other tones or another framing than the
picture is a classic sign of editing (and one that survives a re-save). The check decodes the
thumbnail, removes the black letterbox bars that cameras add when the aspects differ, scales the
picture (as stored, before EXIF orientation, like the thumbnail) down to the thumbnail's size,
and compares grey levels:

* ``correlation`` over the whole thumbnail (content: low when the scene differs),
* ``block_difference``: the largest mean absolute difference over 8 x 8-pixel cells of the
  thumbnail after matching mean and contrast (local content: an object added or removed),
* ``mean_difference`` without matching (tones: brightness, contrast or colour edits),
* the aspect ratios (a crop after the thumbnail was written).

Thresholds (:data:`MIN_CORRELATION`, :data:`MAX_BLOCK_DIFFERENCE`, :data:`MAX_MEAN_DIFFERENCE`,
:data:`MAX_ASPECT_DIFFERENCE`) leave room for the thumbnail's own JPEG loss and resampling; a
thumbnail that matches proves nothing either way (an editor may have rewritten it). Measured on
test photographs (scikit-image's samples, 160 x 120 thumbnails at JPEG quality 80): the same
picture gives correlation >= 0.98, cells <= 12 and mean <= 4 grey levels; a grey patch over
1/36 of the picture gives cells of 34-110; brightening by 40 levels a mean of 38-41. Real camera
previews (their own sharpening and tone curve) may sit closer to the limits; these have not been
measured on camera files here.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

EDITING_SOFTWARE = (
    "Photoshop",
    "Lightroom",
    "Camera Raw",
    "GIMP",
    "Snapseed",
    "Affinity",
    "Pixelmator",
    "Paint.NET",
    "PaintShop",
    "Corel",
    "Capture One",
    "darktable",
    "RawTherapee",
    "Luminar",
    "Facetune",
    "PicsArt",
    "Canva",
    "Photopea",
    "Krita",
    "Polarr",
    "VSCO",
    "Fotor",
    "ACDSee",
    "DxO",
    "Topaz",
    "PhotoScape",
    "PhotoDirector",
    "Meitu",
    "BeautyPlus",
    "Remini",
    "Lensa",
    "Picasa",
    "Adobe Express",
    "Fireworks",
    "Paint Shop",
    "Pixlr",
    "Aperture",
    "Capture NX",
    "Darkroom",
    "FaceApp",
    "Retrica",
)
GENERATOR_SOFTWARE = (
    "DALL-E",
    "DALL·E",
    "Midjourney",
    "Stable Diffusion",
    "Firefly",
    "ComfyUI",
    "AUTOMATIC1111",
    "NovelAI",
    "Imagen",
    "Leonardo",
    "DreamStudio",
    "InvokeAI",
    "Fooocus",
    "Flux",
)
_EDITOR_RE = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in EDITING_SOFTWARE) + r")\b", re.IGNORECASE)
_GENERATOR_RE = re.compile(r"\b(?:" + "|".join(re.escape(n) for n in GENERATOR_SOFTWARE) + r")\b", re.IGNORECASE)
_XMP_TOOL_RE = re.compile(
    rb"(?:xmp:CreatorTool|stEvt:softwareAgent)\s*(?:=\s*\"([^\"]{1,200})\"|>([^<]{1,200})<)", re.IGNORECASE
)

# EXIF tags (IFD0, the Exif sub-IFD, IFD1)
_MAKE, _MODEL, _SOFTWARE, _DATETIME, _ARTIST, _PROCESSING = 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x000B
_ORIENTATION = 0x0112
_EXIF_IFD, _GPS_IFD, _IFD1 = 0x8769, 0x8825, -1  # IFD1: Pillow's ExifTags.IFD.IFD1
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED, _LENS_MODEL, _LENS_MAKE = 0x9003, 0x9004, 0xA434, 0xA433
_THUMB_OFFSET, _THUMB_LENGTH, _COMPRESSION = 0x0201, 0x0202, 0x0103

MIN_CORRELATION = 0.90
MAX_BLOCK_DIFFERENCE = 25.0  # grey levels, per 8x8 cell of the thumbnail, after tone matching
MAX_MEAN_DIFFERENCE = 24.0  # grey levels, whole thumbnail, no tone matching
MAX_ASPECT_DIFFERENCE = 0.04  # relative difference of width / height
MAX_THUMBNAIL_BYTES = 1 << 20


def clean(text: object, limit: int | None = None) -> str:
    """A one-line printable version of a metadata string (NULs, control characters removed)."""
    value = "" if text is None else str(text)
    value = "".join(ch if ch.isprintable() else " " for ch in value.replace("\x00", "")).strip()
    value = " ".join(value.split())
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return value


@dataclass
class ThumbnailCheck:
    """The EXIF thumbnail against the picture (sizes as stored, before EXIF orientation)."""

    status: str  # "matches" | "differs" | "unreadable"
    thumbnail_width: int = 0
    thumbnail_height: int = 0
    picture_width: int = 0
    picture_height: int = 0
    compared_width: int = 0  # the thumbnail without its letterbox bars
    compared_height: int = 0
    aspect_difference: float = 0.0  # relative, |a_thumb - a_picture| / a_picture
    correlation: float = 0.0
    block_difference: float = 0.0
    mean_difference: float = 0.0
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("aspect_difference", "correlation", "block_difference", "mean_difference"):
            out[key] = round(float(out[key]), 4)
        return out


@dataclass
class Metadata:
    """The main metadata fields (cleaned strings; empty when absent)."""

    camera: str = ""  # make and model, the make not repeated
    make: str = ""
    model: str = ""
    lens: str = ""
    software: list[str] = field(default_factory=list)  # Software, ProcessingSoftware, XMP tools, PNG Software
    date_original: str = ""
    date_digitized: str = ""
    date_modified: str = ""
    artist: str = ""
    orientation: int = 0  # EXIF orientation, 0 when absent
    gps: bool = False  # GPS data present (the position is not copied)
    has_exif: bool = False
    editors: list[str] = field(default_factory=list)  # editing programs named in the metadata
    generators: list[str] = field(default_factory=list)  # image generators named in the metadata
    generation_parameters: bool = False  # PNG text chunks with generation prompts/parameters
    photoshop_irb: bool = False  # a Photoshop image resource block (APP13) is present
    thumbnail: ThumbnailCheck | None = None  # None when the file has no EXIF thumbnail
    error: str = ""

    @property
    def notes(self) -> list[str]:
        notes = []
        if self.editors:
            notes.append(
                "Metadata names editing software (" + ", ".join(self.editors) + "): the file was saved by it. "
                "This does not by itself mean the content was manipulated."
            )
        elif self.photoshop_irb:
            notes.append("The file carries a Photoshop resource block (APP13), as files saved by Adobe software do.")
        if self.generators or self.generation_parameters:
            what = ", ".join(self.generators) if self.generators else "generation parameters in PNG text"
            notes.append(f"Metadata points to an image generator ({what}).")
        if self.thumbnail is not None and self.thumbnail.status == "differs":
            notes.append(self.thumbnail.message)
        return notes

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["thumbnail"] = None if self.thumbnail is None else self.thumbnail.to_json()
        out["notes"] = self.notes
        return out


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return clean(value, limit=100)


def _ifd(exif: Any, tag: int) -> dict[int, Any]:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:  # malformed sub-IFD
        return {}


def read_metadata(path: Path | str | bytes, thumbnail: bool = True) -> Metadata:
    """EXIF, XMP and PNG-text metadata of an image file, or of its bytes (never raises).

    ``thumbnail``: also compare the EXIF thumbnail, when there is one, with the picture (this
    decodes the picture at reduced size).
    """
    from PIL import Image

    source = io.BytesIO(path) if isinstance(path, bytes) else Path(path)
    meta = Metadata()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(source) as image:
                exif = image.getexif()
                info = dict(image.info)
                sub, gps, ifd1 = _ifd(exif, _EXIF_IFD), _ifd(exif, _GPS_IFD), _ifd(exif, _IFD1)
                raw_exif = info.get("exif") if isinstance(info.get("exif"), bytes) else None
                if thumbnail and ifd1.get(_THUMB_OFFSET) is not None:
                    meta.thumbnail = compare_thumbnail(image, raw_exif, ifd1)
    except Exception as exc:
        meta.error = f"metadata not readable ({type(exc).__name__})"
        return meta
    meta.has_exif = bool(len(exif) or sub)
    meta.make, meta.model = _as_text(exif.get(_MAKE)), _as_text(exif.get(_MODEL))
    make, model = meta.make, meta.model
    meta.camera = (
        model if make and model.lower().startswith(make.lower().split()[0]) else " ".join(p for p in (make, model) if p)
    )
    meta.lens = _as_text(sub.get(_LENS_MODEL))
    meta.artist = _as_text(exif.get(_ARTIST))
    meta.date_original = _as_text(sub.get(_DATETIME_ORIGINAL))
    meta.date_digitized = _as_text(sub.get(_DATETIME_DIGITIZED))
    meta.date_modified = _as_text(exif.get(_DATETIME))
    try:
        # pillow-heif has applied a HEIF picture's rotation and reset EXIF to 1; the file's value is kept aside
        heif_orientation = info.get("original_orientation") if image.format == "HEIF" else None
        meta.orientation = int(heif_orientation or exif.get(_ORIENTATION) or 0)
    except (TypeError, ValueError):
        meta.orientation = 0
    meta.gps = bool(gps)
    software = [_as_text(exif.get(_SOFTWARE)), _as_text(exif.get(_PROCESSING))]
    for match in _XMP_TOOL_RE.finditer(xmp_packet(info)[:2_000_000]):
        software.append(_as_text(match.group(1) or match.group(2)))
    for key in ("Software", "software"):  # PNG / GIF text chunks
        value = info.get(key)
        if isinstance(value, (str, bytes)):
            software.append(_as_text(value))
    meta.software = list(dict.fromkeys(s for s in software if s))
    meta.photoshop_irb = "photoshop" in info and bool(info.get("photoshop"))
    meta.generation_parameters = any(k in info for k in ("parameters", "prompt", "workflow", "Dream", "sd-metadata"))
    texts = meta.software + [_as_text(info.get("Comment") or info.get("comment") or "")]
    editors, generators = [], []
    for text in texts:
        editors += [m.group(0) for m in _EDITOR_RE.finditer(text)]
        generators += [m.group(0) for m in _GENERATOR_RE.finditer(text)]
    meta.editors = _dedupe(editors)
    meta.generators = _dedupe(generators)
    return meta


def xmp_packet(info: dict[str, Any]) -> bytes:
    """The raw XMP packet Pillow found in a file's ``info`` (JPEG APP1, PNG iTXt, WebP, TIFF, HEIF)."""
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8", errors="replace")
    return xmp if isinstance(xmp, bytes) else b""


def _dedupe(names: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return list(seen.values())


# --- EXIF thumbnail ------------------------------------------------------------------------


def compare_thumbnail(image: Any, raw_exif: bytes | None, ifd1: dict[int, Any]) -> ThumbnailCheck:
    """Compare the JPEG thumbnail named by IFD1 with ``image`` (an open, not yet decoded PIL image)."""
    from PIL import Image

    width, height = image.size
    check = ThumbnailCheck(status="unreadable", picture_width=width, picture_height=height)
    if ifd1.get(_COMPRESSION) not in (None, 6, 7):
        check.message = "The EXIF thumbnail is not JPEG-compressed; it was not compared."
        return check
    tiff = raw_exif[6:] if raw_exif and raw_exif.startswith(b"Exif\x00\x00") else raw_exif
    try:
        offset, length = int(ifd1[_THUMB_OFFSET]), int(ifd1.get(_THUMB_LENGTH) or 0)
    except (TypeError, ValueError):
        offset, length = -1, 0
    if not tiff or offset <= 0 or not 0 < length <= MAX_THUMBNAIL_BYTES or offset + length > len(tiff):
        check.message = "The EXIF thumbnail's offset or length is invalid; it was not compared."
        return check
    try:
        with Image.open(io.BytesIO(tiff[offset : offset + length])) as thumb_file:
            thumb = np.asarray(thumb_file.convert("L"), dtype=np.float64)
    except Exception:
        check.message = "The EXIF thumbnail cannot be decoded."
        return check
    check.thumbnail_height, check.thumbnail_width = thumb.shape
    top, bottom, left, right = _content_box(thumb)
    # Drop the bars only when that brings the thumbnail closer to the picture's aspect (a picture
    # whose own border is black keeps it in the thumbnail too).
    full_aspect, cropped_aspect, aspect = (
        thumb.shape[1] / thumb.shape[0],
        (right - left) / (bottom - top),
        width / height,
    )
    if abs(cropped_aspect / aspect - 1.0) < abs(full_aspect / aspect - 1.0):
        thumb = thumb[top:bottom, left:right]
    th, tw = thumb.shape
    check.compared_width, check.compared_height = tw, th
    if min(th, tw) < 8 or min(width, height) < 8:
        check.message = "The EXIF thumbnail is too small to compare."
        return check
    try:
        if getattr(image, "format", None) == "JPEG":
            image.draft("RGB", (tw * 2, th * 2))  # decode at 1/2..1/8 scale: enough for a thumbnail
        picture = np.asarray(image.convert("L").resize((tw, th), Image.Resampling.BOX), dtype=np.float64)
    except Exception:
        check.message = "The picture cannot be decoded to compare it with its EXIF thumbnail."
        return check
    check.aspect_difference = abs((tw / th) / (width / height) - 1.0)
    check.mean_difference = float(np.abs(thumb - picture).mean())
    a, b = thumb - thumb.mean(), picture - picture.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    check.correlation = float((a * b).sum() / denominator) if denominator > 0 else (1.0 if np.allclose(a, b) else 0.0)
    matched = picture.mean() + a * (b.std() / a.std() if a.std() > 0 else 1.0)  # thumbnail in the picture's tones
    cells = np.abs(matched - picture)[: th // 8 * 8, : tw // 8 * 8].reshape(th // 8, 8, tw // 8, 8).mean(axis=(1, 3))
    check.block_difference = float(cells.max()) if cells.size else 0.0

    reasons = []
    if check.aspect_difference > MAX_ASPECT_DIFFERENCE:
        reasons.append(
            f"another aspect ratio ({tw}x{th} against {width}x{height}: cropped after the thumbnail was made?)"
        )
    if check.correlation < MIN_CORRELATION:
        reasons.append(f"other content (correlation {check.correlation:.2f})")
    elif check.block_difference > MAX_BLOCK_DIFFERENCE:
        reasons.append(f"a local difference (up to {check.block_difference:.0f} grey levels in one area)")
    if check.mean_difference > MAX_MEAN_DIFFERENCE:
        reasons.append(f"other tones (mean difference {check.mean_difference:.0f} grey levels)")
    if reasons:
        check.status = "differs"
        check.message = (
            "The EXIF thumbnail differs from the picture: " + "; ".join(reasons) + ". "
            "The picture was probably changed after the thumbnail was written (editors often keep the old one)."
        )
    else:
        check.status = "matches"
        check.message = (
            "The EXIF thumbnail matches the picture (which says nothing either way: editors can rewrite it)."
        )
    return check


def _content_box(grey: np.ndarray, dark: float = 16.0) -> tuple[int, int, int, int]:
    """Rows/columns left after removing uniform black bars at the borders of a thumbnail."""
    h, w = grey.shape

    def is_bar(line: np.ndarray) -> bool:
        return float(line.mean()) < dark and float(line.std()) < 6.0

    top, bottom, left, right = 0, h, 0, w
    while top < bottom - 8 and is_bar(grey[top]):
        top += 1
    while bottom > top + 8 and is_bar(grey[bottom - 1]):
        bottom -= 1
    while left < right - 8 and is_bar(grey[top:bottom, left]):
        left += 1
    while right > left + 8 and is_bar(grey[top:bottom, right - 1]):
        right -= 1
    return top, bottom, left, right
