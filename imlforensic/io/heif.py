"""HEIC/HEIF and AVIF decoding for Pillow: what :mod:`imlforensic.io.images` needs to read them.

* **HEIC/HEIF** (every iPhone photo since 2017) through ``pillow-heif`` (libheif + libde265).
* **AVIF** through Pillow's own plugin (Pillow 11.2 and later, libavif); with an older Pillow,
  through ``pillow-heif``'s AVIF opener where that version still has one.

Orientation. In HEIF and AVIF the rotation / mirroring of the picture is stored as
transformative properties (``irot``, ``imir``), and EXIF ``Orientation`` only repeats it. The two
plugins hand that over differently, and both end with the picture upright after what
``io.images`` already does for JPEG (``ImageOps.exif_transpose`` when the EXIF orientation is not 1):

* pillow-heif: libheif applies ``irot`` / ``imir`` while decoding; the EXIF orientation is then
  reset to 1 (so nothing rotates it twice) and the file's value kept in
  ``image.info["original_orientation"]``: :func:`decoder_orientation` returns it, for the record.
* Pillow's AVIF: the pixels come as stored and the EXIF orientation is set from ``irot`` /
  ``imir``, so ``exif_transpose`` turns them upright exactly as for a JPEG.
"""

from __future__ import annotations

from typing import Any

HEIF_SUFFIXES = (".heic", ".heif", ".hif")
AVIF_SUFFIXES = (".avif",)

_registered: tuple[str, ...] | None = None
_problems: list[str] = []


def register() -> tuple[str, ...]:
    """Make Pillow open HEIC/HEIF and AVIF files where the plug-ins are installed (idempotent).

    Returns the file suffixes that can now be read (lower case, with the dot); an empty tuple
    when neither plug-in is available (:func:`problems` says why).
    """
    global _registered
    if _registered is not None:
        return _registered
    suffixes: list[str] = []
    heif_plugin: Any = None
    try:
        import pillow_heif

        # The primary picture only: thumbnails, depth maps and auxiliary images are not analysed.
        pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
        heif_plugin = pillow_heif
        suffixes += HEIF_SUFFIXES
    except ImportError:
        _problems.append("HEIC/HEIF: the pillow-heif package is not installed")
    except Exception as exc:  # a broken native library must not stop JPEG/PNG decoding
        _problems.append(f"HEIC/HEIF: pillow-heif could not be loaded ({type(exc).__name__}: {exc})")
    if _pillow_reads_avif():
        suffixes += AVIF_SUFFIXES
    elif heif_plugin is not None and hasattr(heif_plugin, "register_avif_opener"):
        heif_plugin.register_avif_opener()
        suffixes += AVIF_SUFFIXES
    else:
        _problems.append("AVIF: this Pillow has no AVIF support (Pillow 11.2 or later has it)")
    _registered = tuple(suffixes)
    return _registered


def suffixes() -> tuple[str, ...]:
    """The suffixes readable after :func:`register` (registers on first call)."""
    return register()


def problems() -> list[str]:
    """Why a format is not available (one line each; empty when both are)."""
    register()
    return list(_problems)


def decoder_orientation(image: Any) -> int:
    """The EXIF orientation (1..8) that the decoder has already applied to ``image``'s pixels:
    the file's own value for pictures opened by pillow-heif, 1 for every other format (whose
    orientation ``ImageOps.exif_transpose`` applies)."""
    try:
        value = int((getattr(image, "info", None) or {}).get("original_orientation") or 1)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def _pillow_reads_avif() -> bool:
    try:
        from PIL import features

        return bool(features.check("avif"))
    except Exception:  # an unknown feature name in older Pillow versions
        return False
