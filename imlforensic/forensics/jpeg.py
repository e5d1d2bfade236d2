"""JPEG structure as evidence: quantisation tables, estimated quality, table family, double compression.

Table family (how each is recognised, in this order)
----------------------------------------------------
``IJG/libjpeg``
    every table equals the standard tables of ITU T.81 Annex K scaled by libjpeg's quality
    formula at one quality 1..100 (luminance, and chrominance when present). libjpeg and the
    encoders built on it (Pillow, GIMP, ImageMagick, browsers, many web services and phones) write
    these; a few cameras do too, so the family names the encoder's tables, not the program.
``Photoshop``
    the tables equal one of the nine Photoshop settings that Pillow ships (``PIL.JpegPresets``:
    Save for Web 10/30/60/80/100, Save As 3/5/8/10), or the sums of the luminance and chrominance
    tables equal those of a Photoshop CS2 "Save As" (0-12) or "Save for Web" (10-100) setting as
    listed by GIMP's ``jpegqual.c``. Matching by the sums alone is weaker evidence; the result says
    which of the two matched. Photoshop never uses the IJG tables, so the two cannot be confused.
``camera / custom``
    anything else: camera firmware, phone encoders with their own tables, other editors. The
    nearest IJG quality is still given (the same estimate as the record's ``input.jpeg_quality``).

Double compression
------------------
Aligned double quantisation (see :mod:`imlforensic.views.double_jpeg`, which fits the model per
DCT frequency): a picture saved as JPEG, then decoded and saved again on the same 8 x 8 grid,
keeps a periodic pattern in the histograms of its DCT coefficients. The estimate says
``double`` when at least :data:`MIN_DOUBLE_FREQUENCIES` of the 15 lowest AC frequencies show it,
and estimates the first save's quality as the IJG quality whose table is closest to the fitted
primary steps. On scikit-image's sample photos a single save at quality 75, 90 or 95 showed the
pattern at 0 frequencies; saves 70 -> 90, 50 -> 85, 80 -> 95 and 60 -> 75 at 9 to 15, with the
first quality estimated within 1; a second save at a *lower* quality than the first (90 -> 70,
95 -> 80) or at the same one leaves no trace that this test sees (0 or 1 frequency): "no evidence"
is not proof of a single save. A crop or resize between the saves also erases the pattern. The
estimate reads at most a 2048 x 2048 area in the middle of the picture, on the file's grid.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from imlforensic.io.images import _STD_LUMA, estimate_jpeg_quality

MIN_DOUBLE_FREQUENCIES = 3
MAX_AREA_SIDE = 2048

_STD_CHROMA = np.array(
    [  # ITU T.81 Annex K chrominance table, row-major (Pillow's order)
        17,
        18,
        24,
        47,
        99,
        99,
        99,
        99,
        18,
        21,
        26,
        66,
        99,
        99,
        99,
        99,
        24,
        26,
        56,
        99,
        99,
        99,
        99,
        99,
        47,
        66,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
        99,
    ],
    dtype=np.float64,
)

# Sums of the (luminance, chrominance) tables of Photoshop CS2's settings, from GIMP's
# plug-ins/file-jpeg/jpegqual.c (quant_info). Keys: (luma sum, chroma sum).
_PHOTOSHOP_SUMS: dict[tuple[int, int], str] = {
    (95, 166): "Save As 12",
    (232, 443): "Save As 11",
    (406, 722): "Save As 10",
    (539, 801): "Save As 9",
    (649, 853): "Save As 8",
    (786, 926): "Save As 7",
    (717, 782): "Save As 6",
    (844, 849): "Save As 5",
    (962, 892): "Save As 4",
    (1068, 941): "Save As 3",
    (1281, 998): "Save As 2",
    (1484, 1083): "Save As 1",
    (1582, 1108): "Save As 0",
    (95, 168): "Save for Web 100",
    (234, 445): "Save for Web 90",
    (406, 724): "Save for Web 80",
    (646, 1149): "Save for Web 70",
    (974, 1769): "Save for Web 60",
    (1221, 1348): "Save for Web 50",
    (1821, 1997): "Save for Web 40",
    (2223, 2464): "Save for Web 30",
    (2575, 2903): "Save for Web 20",
    (3514, 3738): "Save for Web 10",
}
_SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def ijg_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """libjpeg's (luminance, chrominance) tables at ``quality`` 1..100, as ``jpeg_set_quality``
    makes them for baseline files: integer arithmetic (``5000 / quality`` is an integer
    division), values clipped to 1..255.

    ``imlforensic.io.images._ijg_table`` divides in floating point, which gives other tables at 34
    qualities below 50; its nearest-table estimate (``estimate_jpeg_quality``) still finds the
    right quality for all 100 of libjpeg's, but exact recognition needs libjpeg's arithmetic."""
    quality = min(max(int(quality), 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    luma, chroma = ((np.asarray(base, dtype=np.int64) * scale + 50) // 100 for base in (_STD_LUMA, _STD_CHROMA))
    return np.clip(luma, 1, 255).astype(np.float64), np.clip(chroma, 1, 255).astype(np.float64)


@dataclass
class TableFamily:
    """Which known family the quantisation tables belong to (see the module docstring)."""

    family: str  # "IJG/libjpeg" | "Photoshop" | "camera / custom"
    setting: str = ""  # "quality 75", "Save for Web 60", "Save As 8"; empty for camera / custom
    matched_by: str = ""  # "exact tables" | "table sums" | "" (camera / custom)
    nearest_ijg_quality: int | None = None
    mean_difference_to_ijg: float = 0.0  # mean |table - IJG table| at that quality (luminance)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["mean_difference_to_ijg"] = round(float(self.mean_difference_to_ijg), 3)
        return out


@dataclass
class DoubleCompression:
    status: str  # "double" | "no evidence" | "not applicable"
    frequencies_tested: int = 0
    frequencies_double: int = 0
    primary_quality: int | None = None  # IJG-scale quality of the first save, when "double"
    primary_steps: list[dict[str, Any]] = field(default_factory=list)  # per frequency: row, column, q2, q1
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class JpegForensics:
    """What the JPEG structure of a file says; ``is_jpeg`` False for other formats."""

    is_jpeg: bool
    tables: dict[int, list[int]] = field(default_factory=dict)  # table id -> 64 values, row-major
    subsampling: str = ""  # "4:4:4" | "4:2:2" | "4:2:0" | "other"
    progressive: bool = False
    quality: int | None = None  # estimated IJG quality (the record's input.jpeg_quality)
    family: TableFamily | None = None
    double_compression: DoubleCompression | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "is_jpeg": self.is_jpeg,
            "tables": {str(k): v for k, v in self.tables.items()},
            "subsampling": self.subsampling,
            "progressive": self.progressive,
            "quality": self.quality,
            "family": None if self.family is None else self.family.to_json(),
            "double_compression": None if self.double_compression is None else self.double_compression.to_json(),
            "error": self.error,
        }


def analyse_jpeg(path: Path | str | bytes, double_compression: bool = True) -> JpegForensics:
    """Tables, quality, family and (``double_compression``) the double-compression estimate of
    the file at ``path`` (or of these bytes); never raises (problems are in ``error``)."""
    from PIL import Image, JpegImagePlugin

    try:
        data = path if isinstance(path, bytes) else Path(path).read_bytes()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                if image.format != "JPEG":
                    return JpegForensics(is_jpeg=False)
                tables = {int(k): [int(v) for v in values] for k, values in (image.quantization or {}).items()}
                result = JpegForensics(
                    is_jpeg=True,
                    tables=tables,
                    subsampling=_SUBSAMPLING.get(JpegImagePlugin.get_sampling(image), "other"),
                    progressive=bool(image.info.get("progressive") or image.info.get("progression")),
                    quality=estimate_jpeg_quality(image),
                )
                result.family = table_family(tables)
                if double_compression:
                    result.double_compression = estimate_double_compression(image, tables)
                return result
    except Exception as exc:  # unreadable, truncated: say so, never fail the batch
        return JpegForensics(is_jpeg=False, error=f"JPEG structure not readable ({type(exc).__name__}: {exc})")


def table_family(tables: dict[int, list[int]]) -> TableFamily:
    """Recognise the tables' family (see the module docstring for the rules)."""
    if 0 not in tables or len(tables[0]) != 64:
        return TableFamily(family="camera / custom")
    luma = np.asarray(tables[0], dtype=np.float64)
    chroma = np.asarray(tables[1], dtype=np.float64) if len(tables.get(1, [])) == 64 else None
    nearest, difference = 0, np.inf
    for quality in range(1, 101):
        ijg_luma, ijg_chroma = ijg_tables(quality)
        error = float(np.abs(ijg_luma - luma).mean())
        if error < difference:
            nearest, difference = quality, error
        if error == 0 and (chroma is None or np.array_equal(ijg_chroma, chroma)):
            return TableFamily("IJG/libjpeg", f"quality {quality}", "exact tables", quality, 0.0)
    ps = _photoshop_setting(tables)
    if ps is not None:
        return TableFamily("Photoshop", ps[0], ps[1], nearest, difference)
    return TableFamily("camera / custom", "", "", nearest, difference)


def _photoshop_setting(tables: dict[int, list[int]]) -> tuple[str, str] | None:
    from PIL import JpegPresets

    luma, chroma = list(tables.get(0, [])), list(tables.get(1, []))
    for preset in JpegPresets.presets.values():
        q = cast(list[list[int]], preset["quantization"])
        if luma == list(q[0]) and chroma == list(q[1]):
            return _PHOTOSHOP_SUMS.get((sum(q[0]), sum(q[1])), "unknown setting"), "exact tables"
    setting = _PHOTOSHOP_SUMS.get((sum(luma), sum(chroma)))
    return None if setting is None else (setting, "table sums")


def estimate_double_compression(image: Any, tables: dict[int, list[int]]) -> DoubleCompression:
    """Aligned double quantisation of the luminance, from an open JPEG (see the module docstring)."""
    from imlforensic.views.double_jpeg import frequency_fits

    if 0 not in tables or len(tables[0]) != 64:
        return DoubleCompression("not applicable", message="The file has no 8x8 luminance table.")
    width, height = image.size
    # A centre area on the file's 8x8 grid (the stored pixels, before any EXIF rotation).
    w, h = min(width, MAX_AREA_SIDE), min(height, MAX_AREA_SIDE)
    left, top = (width - w) // 2 // 8 * 8, (height - h) // 2 // 8 * 8
    if min(w, h) < 64:
        return DoubleCompression("not applicable", message="The picture is too small for a histogram estimate.")
    rgb = np.asarray(image.convert("RGB").crop((left, top, left + w, top + h)))
    luma_table = np.asarray(tables[0], dtype=np.float64).reshape(8, 8)
    _, fits = frequency_fits(rgb, luma_table)
    double = [f for f in fits if f.q1 is not None]
    result = DoubleCompression(
        status="double" if len(double) >= MIN_DOUBLE_FREQUENCIES else "no evidence",
        frequencies_tested=len(fits),
        frequencies_double=len(double),
        primary_steps=[
            {"row": f.frequency[0], "column": f.frequency[1], "q2": int(f.q2), "q1": int(cast(int, f.q1))}
            for f in double
        ],
    )
    if result.status == "double":
        result.primary_quality = _quality_for_steps([(f.frequency, f.q1) for f in double])  # type: ignore[misc]
        result.message = (
            f"{len(double)} of {len(fits)} DCT frequencies show aligned double quantisation: the picture was "
            f"saved as JPEG before (first quality about {result.primary_quality}) and saved again. "
            "That happens to every edited JPEG and to many re-shared ones; it does not say what changed."
        )
    else:
        result.message = (
            f"{len(double)} of {len(fits)} DCT frequencies show double quantisation: no evidence of an "
            "earlier JPEG save on the same grid (a second save at a lower quality, a crop or a resize leaves none)."
        )
    return result


def _quality_for_steps(steps: list[tuple[tuple[int, int], int]]) -> int:
    """The IJG quality whose luminance table is closest (relative error) to the fitted primary steps."""
    best, best_error = 50, np.inf
    for quality in range(1, 101):
        table = ijg_tables(quality)[0].reshape(8, 8)
        error = float(np.mean([abs(table[f] - q1) / q1 for f, q1 in steps]))
        if error < best_error:
            best, best_error = quality, error
    return best
