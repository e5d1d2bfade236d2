"""What every report page shares: text styles, verdict colours, formatting of values, the facts
known about an item before it is drawn, key/value rows, headings, bullets and the footer."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from imlforensic.methods.base import is_whole_image_finding
from imlforensic.pipeline.records import ResultRecord
from imlforensic.registry.cards import ModelCard
from imlforensic.report.collect import ReportItem
from imlforensic.report.layout import GREY, LIGHT, MM, RULE, Block, Canvas, Paper, text_blocks
from imlforensic.report.metadata import Original
from imlforensic.report.text import Style, ellipsize

TITLE = Style(20, bold=True)
SUBTITLE = Style(11, color=GREY)
H1 = Style(14, bold=True)
H2 = Style(10.5, bold=True)
H3 = Style(9.5, bold=True)
BODY = Style(9)
SMALL = Style(8.5, color=GREY)
KEY = Style(8.5, bold=True, color=GREY)
VALUE = Style(9)
MONO = Style(8.5, mono=True)
MONO_SMALL = Style(7.2, mono=True)
FOOT = Style(8, color=GREY)
CELL = Style(8.5)
CELL_BOLD = Style(8.5, bold=True)
HEAD_CELL = Style(8.5, bold=True, color="#222222")
CAPTION = Style(8, color=GREY)
PANEL_TITLE = Style(9, bold=True)
REF = Style(8.5, color="#333333", italic=True)

# (text colour, banner fill): Okabe-Ito hues, darkened for text; words carry the meaning, not colour
VERDICT_COLOURS = {
    "manipulated": ("#A33A00", "#FBE5D8"),
    "generated": ("#7A2E6E", "#F3E3F1"),
    "authentic": ("#1F4E79", "#E1EBF5"),
    "annotated": ("#3B5B2A", "#E6EFDF"),  # an analyst's boxes turned into a mask, not a finding
    "failed": ("#333333", "#E4E4E4"),
    "missing": ("#333333", "#E4E4E4"),
}
FULLY_GENERATED = "fully generated (a whole-image finding: no region is outlined)"
"""The verdict line of a picture judged ``generated``: the finding is the whole picture."""


def verdict_label(verdict: str) -> str:
    """The verdict as pages show it: ``generated`` is said as "fully generated"."""
    return "fully generated" if is_whole_image_finding(verdict) else verdict


@dataclass
class ReportMeta:
    title: str
    case: str
    analyst: str
    date: str
    paper: Paper
    tool_version: str
    ppi: float
    results: list[str] = field(default_factory=list)  # results folder(s), as text


@dataclass
class ItemInfo:
    """What the report knows about an image before drawing it (cheap to compute for 100s of images)."""

    item: ReportItem
    original: Original
    width: int
    height: int
    index: int = 0  # 1-based among analysed images
    page: int | None = None
    notes: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # short notes for the summary table

    @property
    def record(self) -> ResultRecord:
        """The item's record (an :class:`ItemInfo` is only made for analysed items)."""
        assert self.item.record is not None
        return self.item.record

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.width and self.height else 1.5


def fmt_score(value: Any) -> str:
    return "—" if value is None else f"{float(value):.3f}"


def fmt_percent(fraction: Any) -> str:
    if fraction is None:
        return "—"
    pct = 100.0 * float(fraction)
    if 0 < pct < 0.1:
        return "< 0.1 %"
    return f"{pct:.1f} %"


def fmt_t(value: Any) -> str:
    """A threshold, two decimals."""
    return "—" if value is None else f"{float(value):.2f}"


def fmt_time(iso: Any) -> str:
    """ISO timestamp to 'YYYY-MM-DD HH:MM UTC' (as given when it cannot be parsed)."""
    if not iso:
        return "—"
    try:
        moment = _dt.datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M")


def fmt_bytes(n: Any) -> str:
    if n is None:
        return "—"
    n = int(n)
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n:,} bytes ({n / size:.1f} {unit})"
    return f"{n:,} bytes"


def card_line(card: ModelCard | None) -> str:
    return card.line if card is not None else "none"


def verdict_of(info_or_item: ItemInfo | ReportItem) -> str:
    item = info_or_item.item if isinstance(info_or_item, ItemInfo) else info_or_item
    if not item.analysed:
        return item.status
    return item.record.verdict if item.record is not None else "?"


def draw_footer(c: Canvas, meta: ReportMeta, page: int, total: int) -> None:
    paper = meta.paper
    y = paper.height - paper.margin_bottom + 6 * MM
    c.hline(paper.margin_x, paper.width - paper.margin_x, y - 10, color=RULE, lw=0.4)
    right = f"Page {page} of {total}"
    left_width = paper.content_width - FOOT.width(right) - 24
    left = " · ".join(p for p in (meta.title, meta.case) if p)
    c.text(paper.margin_x, y, ellipsize(left, left_width, FOOT.size), FOOT)
    c.text(paper.width - paper.margin_x, y, right, FOOT, ha="right")
    c.text(paper.margin_x, y + 9, f"imlforensic {meta.tool_version}", Style(7, color=LIGHT))


def kv_rows(
    c: Canvas | None,
    x: float,
    y: float,
    width: float,
    rows: list[tuple[str, str]],
    key_width: float = 62,
    value_style: Style = VALUE,
    mono_keys: tuple[str, ...] = (),
) -> float:
    """Key/value rows (values wrapped); returns the y below them. ``c=None`` only measures.

    The key column is ``key_width`` wide, or wider when a key needs it.
    """
    if rows:
        key_width = max(key_width, max(KEY.width(key) for key, _ in rows) + 8)
    for key, value in rows:
        style = MONO if key in mono_keys else value_style
        lines = style.wrap(value, width - key_width)
        if c is not None:
            c.lines(x, y, [key], KEY)
            c.lines(x + key_width, y, lines, style)
        y += max(1, len(lines)) * style.line_height + 1.5
    return y


def bullet_blocks(text: str, style: Style, width: float, x: float, space_before: float = 0.0) -> list[Block]:
    """A bulleted paragraph with a hanging indent, one block per line (kept like a paragraph)."""
    blocks = text_blocks(text, style, width - 12, x + 12, space_before=space_before)
    first = blocks[0]
    draw_first = first.draw
    first.draw = lambda c, y: (c.lines(x + 2, y, ["•"], style), draw_first(c, y))
    return blocks


def heading(text: str, style: Style, x: float, width: float, space_before: float = 6, keep: int = 1) -> Block:
    lines = style.wrap(text, width)
    return Block(
        height=len(lines) * style.line_height + 3,
        draw=lambda c, y: c.lines(x, y, lines, style),
        keep_with_next=keep,
        space_before=space_before,
    )
