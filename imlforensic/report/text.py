"""Fonts, text measurement and line wrapping for the report pages.

The report draws every line of text itself (matplotlib's own wrapping is approximate), so it
must know how wide a string is: widths come from the TrueType fonts' advance widths, the same
fonts the PDF embeds (type 42, so the text stays selectable and searchable).

Fonts: DejaVu Sans / DejaVu Sans Mono (shipped with matplotlib; Latin, Greek, Cyrillic and
many symbols), followed by any installed CJK or other wide-coverage font that matplotlib
knows (see :data:`FALLBACK_FAMILIES`). Characters that no available font has are drawn by
matplotlib's last-resort font as boxes; the PDF text still holds the real characters, and
:func:`missing_glyphs` lets a page say which code points could not be drawn.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

from imlforensic.forensics.metadata import clean  # noqa: F401  (moved there; importable here as before)

SANS = "DejaVu Sans"
MONO = "DejaVu Sans Mono"

FALLBACK_FAMILIES = (
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Noto Sans CJK TC",
    "Noto Sans CJK KR",
    "Noto Sans JP",
    "Noto Sans SC",
    "Noto Sans TC",
    "Noto Sans KR",
    "Source Han Sans",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Droid Sans Fallback",
    "AR PL UMing CN",
    "IPAGothic",
    "IPAexGothic",
    "TakaoGothic",
    "Nanum Gothic",
    "NanumGothic",
    "Noto Sans Arabic",
    "Noto Sans Hebrew",
    "Noto Sans Devanagari",
    "Noto Sans Thai",
    "Arial Unicode MS",
    "Microsoft YaHei",
    "SimHei",
    "MS Gothic",
    "Malgun Gothic",
    "PingFang SC",
    "Hiragino Sans",
    "Apple SD Gothic Neo",
)


@functools.cache
def _available_fallbacks() -> tuple[str, ...]:
    from matplotlib import font_manager

    known = {entry.name for entry in font_manager.fontManager.ttflist}
    return tuple(name for name in FALLBACK_FAMILIES if name in known)


def family(mono: bool = False) -> str | list[str]:
    """Font family for matplotlib: the main font, then installed fallbacks (a plain name when
    there are none: matplotlib lays such text out faster)."""
    fallbacks = _available_fallbacks()
    main = MONO if mono else SANS
    return [main, *fallbacks] if fallbacks else main


def _families(mono: bool = False) -> list[str]:
    return [MONO if mono else SANS, *_available_fallbacks()]


@functools.cache
def _font(name: str, bold: bool):
    from matplotlib import font_manager

    props = font_manager.FontProperties(family=name, weight="bold" if bold else "normal")
    path = font_manager.findfont(props, fallback_to_default=False)
    return font_manager.get_font(path)


@functools.cache
def _covers(name: str, char: str) -> bool:
    return _font(name, False).get_char_index(ord(char)) != 0


@functools.lru_cache(maxsize=65536)
def _advance(char: str, mono: bool, bold: bool) -> float:
    """Advance width of ``char`` in em (points at 1 pt)."""
    names = _families(mono)
    for name in names:
        if _covers(name, char):
            font = _font(name, bold if name in (SANS, MONO) else False)
            font.set_size(100.0, 72)
            glyph = font.load_char(ord(char))
            return glyph.linearHoriAdvance / 65536.0 / 100.0
    # Not in any font: matplotlib draws a last-resort box; wide scripts are about 1 em wide.
    return 1.0 if unicodedata.east_asian_width(char) in ("W", "F") else 0.75


def text_width(text: str, size: float, mono: bool = False, bold: bool = False) -> float:
    """Width of ``text`` in points at font ``size`` (no kerning; within about 2 %)."""
    return size * sum(_advance(ch, mono, bold) for ch in text)


def missing_glyphs(text: str) -> list[str]:
    """Characters of ``text`` that no available font can draw (as ``U+XXXX``)."""
    names = _families()
    missing = []
    for ch in dict.fromkeys(text):
        if ch.isprintable() and not any(_covers(name, ch) for name in names):
            missing.append(f"U+{ord(ch):04X}")
    return missing


_BREAK_AFTER = set("/\\_-.,;:)]}+=&@ ")


def _split_long(
    word: str, width: float, size: float, mono: bool, bold: bool, first_width: float | None = None
) -> list[str]:
    """Break a word that does not fit ``width`` (the first piece: ``first_width``), preferably
    after a separator (file names, paths)."""
    pieces: list[str] = []
    rest = word
    while rest and text_width(rest, size, mono, bold) > (
        first_width if first_width is not None and not pieces else width
    ):
        line_width = first_width if first_width is not None and not pieces else width
        used = 0.0
        cut = 0
        last_break = 0
        for i, ch in enumerate(rest):
            w = size * _advance(ch, mono, bold)
            if used + w > line_width and i > 0:
                break
            used += w
            cut = i + 1
            if ch in _BREAK_AFTER:
                last_break = i + 1
        if last_break >= max(1, cut // 2):  # a separator in the second half of the line
            cut = last_break
        pieces.append(rest[:cut])
        rest = rest[cut:]
    if rest:
        pieces.append(rest)
    return pieces


def wrap(text: str, width: float, size: float, mono: bool = False, bold: bool = False) -> list[str]:
    """Greedy word wrap to ``width`` points; words longer than a line are broken (see above).

    Explicit newlines start new lines. Returns at least one (possibly empty) line.
    """
    lines: list[str] = []
    space = size * _advance(" ", mono, bold)
    for paragraph in str(text).split("\n"):
        current = ""
        current_w = 0.0
        for word in paragraph.split(" "):
            if not word:
                continue
            word_w = text_width(word, size, mono, bold)
            if current and current_w + space + word_w <= width:
                current += " " + word
                current_w += space + word_w
                continue
            if word_w > width and current and width - current_w - space > width / 4:
                # a word that must be broken anyway starts on the current line
                pieces = _split_long(word, width, size, mono, bold, first_width=width - current_w - space)
                lines.append(current + " " + pieces[0])
                lines.extend(pieces[1:-1])
                current = pieces[-1] if len(pieces) > 1 else ""
                current_w = text_width(current, size, mono, bold)
                continue
            if current:
                lines.append(current)
            if word_w <= width:
                current, current_w = word, word_w
            else:
                pieces = _split_long(word, width, size, mono, bold)
                lines.extend(pieces[:-1])
                current = pieces[-1]
                current_w = text_width(current, size, mono, bold)
        lines.append(current)
    return lines or [""]


def ellipsize(text: str, width: float, size: float, mono: bool = False, bold: bool = False) -> str:
    """``text`` shortened in the middle with an ellipsis so it fits ``width`` points."""
    if text_width(text, size, mono, bold) <= width:
        return text
    keep_end = max(4, len(text) // 3)
    head, tail = text[: len(text) - keep_end], text[len(text) - keep_end :]
    while head and text_width(head + "…" + tail, size, mono, bold) > width:
        head = head[:-1]
        if len(head) < len(tail) and len(tail) > 4:
            tail = tail[1:]
    return head + "…" + tail


@dataclass(frozen=True)
class Style:
    """A text style: size in points, weight, monospace, colour."""

    size: float = 9.0
    bold: bool = False
    mono: bool = False
    color: str = "#111111"
    italic: bool = False

    @property
    def line_height(self) -> float:  # points between baselines
        return self.size * 1.28

    def width(self, text: str) -> float:
        return text_width(text, self.size, self.mono, self.bold)

    def wrap(self, text: str, width: float) -> list[str]:
        return wrap(text, width, self.size, self.mono, self.bold)
