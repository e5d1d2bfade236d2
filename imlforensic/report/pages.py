"""The report's pages: cover with summary table, one page per image, appendix.

Each builder draws on a :class:`~imlforensic.report.layout.Canvas`; flowing parts (cover,
summary continuation, appendix) are lists of :class:`~imlforensic.report.layout.Block` that
:func:`~imlforensic.report.layout.paginate` spreads over pages, so their page count is known
before anything is drawn (the summary table can then cite page numbers).
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from imlforensic.report.collect import ReportItem
from imlforensic.report.layout import GREY, LIGHT, MM, RULE, Block, Canvas, Paper, fit, spacer, text_blocks
from imlforensic.report.metadata import Metadata, Original
from imlforensic.report.methods import describe
from imlforensic.report.panels import HEATMAP_CMAP, Prepared, mask_for_print
from imlforensic.report.text import Style, ellipsize, missing_glyphs

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
    "failed": ("#333333", "#E4E4E4"),
    "missing": ("#333333", "#E4E4E4"),
}


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
    def record(self) -> dict[str, Any]:
        return self.item.record or {}

    @property
    def aspect(self) -> float:
        return self.width / self.height if self.width and self.height else 1.5


# ---------------------------------------------------------------------------------------
# small formatting helpers

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


def card_line(card: dict[str, Any] | None) -> str:
    if not card:
        return "none"
    return " ".join(str(p) for p in (card.get("name"), card.get("version")) if p)


def verdict_of(info_or_item: ItemInfo | ReportItem) -> str:
    item = info_or_item.item if isinstance(info_or_item, ItemInfo) else info_or_item
    if not item.analysed:
        return item.status
    return str((item.record or {}).get("verdict") or "?")


# ---------------------------------------------------------------------------------------
# page furniture

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


def kv_rows(c: Canvas | None, x: float, y: float, width: float, rows: list[tuple[str, str]],
            key_width: float = 62, value_style: Style = VALUE, mono_keys: tuple[str, ...] = ()) -> float:
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


# ---------------------------------------------------------------------------------------
# cover and summary (flowing)

def distinct_cards(infos: list[ItemInfo]) -> list[tuple[str, dict[str, Any], int]]:
    """Every (role, model card) used, with the number of images that used it."""
    counts: Counter = Counter()
    cards: dict[tuple, dict[str, Any]] = {}
    for info in infos:
        for role in ("method", "refiner"):
            card = info.record.get(role)
            if isinstance(card, dict) and card.get("name"):
                key = (role, card.get("name"), card.get("version"), card.get("weights_sha256"))
                cards.setdefault(key, card)
                counts[key] += 1
    return [(key[0], cards[key], counts[key]) for key in cards]


def _values(infos: list[ItemInfo], get: Callable[[dict[str, Any]], Any], fmt: Callable[[Any], str] = str) -> str:
    counts = Counter(get(info.record) for info in infos)
    counts.pop(None, None)
    if not counts:
        return "—"
    if len(counts) == 1:
        return fmt(next(iter(counts)))
    return "; ".join(f"{fmt(v)} ({n} image{'s' if n != 1 else ''})" for v, n in counts.most_common())


def summary_counts(items: list[ReportItem]) -> str:
    verdicts = Counter(verdict_of(i) for i in items)
    total = len(items)
    parts = [f"{verdicts[v]} {v}" for v in ("manipulated", "generated", "authentic") if verdicts[v]]
    others = [f"{verdicts[v]} {v}" for v in verdicts if v not in ("manipulated", "generated", "authentic", "failed", "missing")]
    bad = [f"{verdicts[v]} {v}" for v in ("failed", "missing") if verdicts[v]]
    text = f"{total} image{'s' if total != 1 else ''}: " + (", ".join(parts + others) or "none analysed")
    if bad:
        text += "; " + " and ".join(bad) + " (listed below the table)"
    return text + "."


def cover_blocks(meta: ReportMeta, infos: list[ItemInfo], all_items: list[ReportItem], analysed_infos: dict[int, ItemInfo],
                 warnings: list[str]) -> list[Block]:
    paper = meta.paper
    x = paper.margin_x
    W = paper.content_width
    blocks: list[Block] = []

    title_lines = TITLE.wrap(meta.title, W)[:4]
    blocks.append(Block(height=len(title_lines) * TITLE.line_height + 2,
                        draw=lambda c, y: c.lines(x, y, title_lines, TITLE)))
    blocks.append(Block(height=SUBTITLE.line_height + 8,
                        draw=lambda c, y: (c.lines(x, y, ["Image manipulation analysis report"], SUBTITLE),
                                           c.hline(x, x + W, y + SUBTITLE.line_height + 5, color="#333333", lw=0.8))))

    analysed = [i for i in infos]
    created = sorted(str(i.record.get("created")) for i in analysed if i.record.get("created"))
    tool_versions = sorted({str((i.record.get("tool") or {}).get("version")) for i in analysed if i.record.get("tool")})
    if created:
        span = fmt_time(created[0]) if fmt_time(created[0]) == fmt_time(created[-1]) else f"{fmt_time(created[0])} to {fmt_time(created[-1])}"
        analyses = f"{span}, with imlforensic {', '.join(tool_versions) or '?'}"
    else:
        analyses = "—"
    info_rows = [
        ("Case / reference", meta.case or "—"),
        ("Analyst", meta.analyst or "—"),
        ("Report date", meta.date),
        ("Report tool", f"imlforensic {meta.tool_version}"),
        ("Analyses made", analyses),
        ("Results folder", "; ".join(meta.results) or "—"),
    ]
    height = kv_rows(None, x, 0, W, info_rows, key_width=92, value_style=BODY)
    blocks.append(Block(height=height + 6, draw=lambda c, y: kv_rows(c, x, y, W, info_rows, key_width=92, value_style=BODY),
                        space_before=4))

    # models --------------------------------------------------------------------------
    blocks.append(_heading("Models", H2, x, W, space_before=8))
    cards = distinct_cards(analysed)
    if not cards:
        blocks += text_blocks("No image was analysed.", BODY, W, x)
    for role, card, count in cards:
        head = f"{'Method' if role == 'method' else 'Refiner'}: {card_line(card)}"
        if card.get("task"):
            head += f" ({card['task']})"
        if len(analysed) > 1:
            head += f" — used for {count} of {len(analysed)} images"
        sha = card.get("weights_sha256")
        rows = [("Weights sha256", sha if sha else "none: this model uses no trained weights")]
        if card.get("reference"):
            rows.append(("Reference", str(card["reference"])))
        mono = ("Weights sha256",) if sha else ()
        h_rows = kv_rows(None, x + 8, 0, W - 8, rows, key_width=84, mono_keys=mono)
        blocks.append(Block(
            height=H3.line_height + h_rows + 4,
            draw=lambda c, y, head=head, rows=rows, mono=mono: (
                c.lines(x, y, [head], H3),
                kv_rows(c, x + 8, y + H3.line_height + 1, W - 8, rows, key_width=84, mono_keys=mono)),
            space_before=2,
        ))

    # settings ------------------------------------------------------------------------
    blocks.append(_heading("Settings", H2, x, W, space_before=8))
    settings_rows = [
        ("Threshold", _values(analysed, lambda r: r.get("threshold"), lambda v: f"{float(v):.2f}")),
        ("Device", _values(analysed, lambda r: (r.get("settings") or {}).get("device"))),
        ("Command", _values(analysed, lambda r: (r.get("settings") or {}).get("command"))),
        ("Max pixels", _values(analysed, lambda r: (r.get("settings") or {}).get("max_pixels"), lambda v: f"{int(v):,}")),
    ]
    h_set = kv_rows(None, x, 0, W, settings_rows, key_width=92)
    blocks.append(Block(height=h_set + 2, draw=lambda c, y: kv_rows(c, x, y, W, settings_rows, key_width=92)))

    # summary table ---------------------------------------------------------------------
    blocks.append(_heading("Summary", H2, x, W, space_before=8, keep=3))
    blocks += text_blocks(
        summary_counts(all_items) + " The score is the method's image-level probability of an edit; the verdict is "
        "'manipulated' when it reaches the threshold. Appendix B explains how to read the maps and their limits.",
        BODY, W, x,
    )
    blocks.append(spacer(5))
    blocks += summary_table(x, W, all_items, analysed_infos)

    failed = [i for i in all_items if not i.analysed]
    if failed:
        blocks.append(_heading("Failed or missing inputs", H2, x, W, space_before=10, keep=1))
        blocks += text_blocks("These inputs have no page: there is no analysis to show.", SMALL, W, x)
        for item in failed:
            reason = item.error or "no result"
            text = f"{item.name} — {item.status}: {reason}"
            if item.path != item.name and item.path not in reason:
                text += f" (input {item.path})"
            blocks += bullet_blocks(text, BODY, W, x, space_before=2)
    incomplete = [i for i in all_items if i.status == "incomplete"]
    if incomplete:
        blocks.append(_heading("Incomplete results", H2, x, W, space_before=10, keep=1))
        for item in incomplete:
            blocks += bullet_blocks(f"{item.name}: {item.error}.", BODY, W, x, space_before=2)
    if warnings:
        blocks.append(_heading("Warnings while reading the results", H2, x, W, space_before=10, keep=1))
        for warning in warnings:
            blocks += bullet_blocks(warning, BODY, W, x, space_before=2)
    return blocks


def bullet_blocks(text: str, style: Style, width: float, x: float, space_before: float = 0.0) -> list[Block]:
    """A bulleted paragraph with a hanging indent, one block per line (kept like a paragraph)."""
    blocks = text_blocks(text, style, width - 12, x + 12, space_before=space_before)
    first = blocks[0]
    draw_first = first.draw
    first.draw = lambda c, y: (c.lines(x + 2, y, ["•"], style), draw_first(c, y))
    return blocks


def _heading(text: str, style: Style, x: float, width: float, space_before: float = 6, keep: int = 1) -> Block:
    lines = style.wrap(text, width)
    return Block(height=len(lines) * style.line_height + 3, draw=lambda c, y: c.lines(x, y, lines, style),
                 keep_with_next=keep, space_before=space_before)


TABLE_COLUMNS = (  # (title, share of the width, alignment)
    ("#", 0.05, "right"),
    ("Image", 0.34, "left"),
    ("Verdict", 0.15, "left"),
    ("Score", 0.08, "right"),
    ("Flagged area", 0.11, "right"),
    ("Page", 0.07, "right"),
    ("Notes", 0.20, "left"),
)


def summary_table(x: float, W: float, items: list[ReportItem], infos: dict[int, ItemInfo]) -> list[Block]:
    pad = 4.0
    widths = [share * W for _, share, _ in TABLE_COLUMNS]
    lefts = [x + sum(widths[:i]) for i in range(len(widths))]

    def cell_x(col: int) -> tuple[float, str]:
        align = TABLE_COLUMNS[col][2]
        return (lefts[col] + widths[col] - pad, "right") if align == "right" else (lefts[col] + pad, "left")

    head_lines = [HEAD_CELL.wrap(t, widths[i] - 2 * pad) for i, (t, _, _) in enumerate(TABLE_COLUMNS)]
    head_h = max(len(l) for l in head_lines) * HEAD_CELL.line_height + 6

    def draw_head(c: Canvas, y: float) -> None:
        c.rect(x, y, W, head_h, fill="#E9E9E9")
        for col, lines in enumerate(head_lines):
            cx, ha = cell_x(col)
            c.lines(cx, y + 3, lines, HEAD_CELL, ha=ha)
        c.hline(x, x + W, y + head_h, color="#555555", lw=0.6)

    header = Block(height=head_h, draw=draw_head, keep_with_next=1)
    cont_h = H2.line_height + 4

    def draw_continued(c: Canvas, y: float) -> None:
        c.lines(x, y, ["Summary (continued)"], H2)
        draw_head(c, y + cont_h)

    continued = Block(height=cont_h + head_h, draw=draw_continued)
    blocks = [header]
    for n, item in enumerate(items, start=1):
        info = infos.get(id(item))
        record = item.record or {}
        verdict = verdict_of(item)
        cells = [
            str(n),
            item.name,
            verdict,
            fmt_score(record.get("score")) if item.analysed else "—",
            fmt_percent(record.get("flagged_fraction")) if item.analysed else "—",
            str(info.page) if info and info.page else "—",
            ", ".join(info.tags) if info else ("see below" if not item.analysed else ""),
        ]
        styles = [CELL, CELL, Style(8.5, bold=verdict in ("manipulated", "generated", "failed", "missing"),
                                    color=VERDICT_COLOURS.get(verdict, ("#111111",))[0]), CELL, CELL, CELL, Style(8, color="#333333")]
        wrapped = []
        for col, text in enumerate(cells):
            lines = styles[col].wrap(text, widths[col] - 2 * pad)
            if len(lines) > 4:
                lines = lines[:3] + [ellipsize(" ".join(lines[3:]), widths[col] - 2 * pad, styles[col].size)]
            wrapped.append(lines)
        row_h = max(len(l) * s.line_height for l, s in zip(wrapped, styles)) + 5
        shade = n % 2 == 0

        def draw_row(c: Canvas, y: float, wrapped=wrapped, styles=styles, row_h=row_h, shade=shade) -> None:
            if shade:
                c.rect(x, y, W, row_h, fill="#F5F5F5")
            for col, lines in enumerate(wrapped):
                cx, ha = cell_x(col)
                c.lines(cx, y + 2.5, lines, styles[col], ha=ha)
            c.hline(x, x + W, y + row_h, color="#D6D6D6", lw=0.4)

        blocks.append(Block(height=row_h, draw=draw_row, header=continued))
    return blocks


# ---------------------------------------------------------------------------------------
# appendix (flowing)

def appendix_blocks(meta: ReportMeta, infos: list[ItemInfo]) -> list[Block]:
    paper = meta.paper
    x, W = paper.margin_x, paper.content_width
    blocks: list[Block] = [_heading("Appendix A — Methods", H1, x, W, space_before=0, keep=2)]
    blocks += text_blocks(
        "A paragraph for each method and refiner used in this report, with the publications it builds on.",
        SMALL, W, x)
    seen: set[str] = set()
    descriptions = []
    for role, card, _count in distinct_cards(infos):
        for description in describe(card, role=role):
            if description.name in seen:
                continue
            seen.add(description.name)
            descriptions.append(description)
    if not descriptions:
        blocks += text_blocks("No image was analysed, so no method was used.", BODY, W, x, space_before=6)
    for description in descriptions:
        blocks.append(_heading(description.title, H3, x, W, space_before=10, keep=2))
        for paragraph in description.paragraphs:
            blocks += text_blocks(paragraph, BODY, W, x, space_before=3)
        if description.references:
            blocks += text_blocks("References", KEY, W, x, space_before=4, keep_with_next=1)
            for ref in description.references:
                blocks += text_blocks(ref, REF, W - 10, x + 10, space_before=1)

    thresholds = sorted({float(i.record["threshold"]) for i in infos if i.record.get("threshold") is not None})
    t_text = ", ".join(f"{t:.2f}" for t in thresholds) or "—"
    refined = any(i.item.refined for i in infos)
    has_classes = any(i.record.get("class_probs") for i in infos)
    blocks.append(_heading("Appendix B — How to read this report", H1, x, W, space_before=18, keep=2))
    for title, paragraphs in reading_guide(t_text, refined, has_classes):
        blocks.append(_heading(title, H3, x, W, space_before=9, keep=2))
        for paragraph in paragraphs:
            if paragraph.startswith("• "):
                blocks += bullet_blocks(paragraph[2:], BODY, W, x, space_before=3)
            else:
                blocks += text_blocks(paragraph, BODY, W, x, space_before=3)
    return blocks


def reading_guide(thresholds: str, refined: bool, has_classes: bool) -> list[tuple[str, list[str]]]:
    verdicts = (
        "The verdict is 'manipulated' when the score reaches the threshold and 'authentic' otherwise."
        + (" A three-class model can also answer 'generated' (a fully synthetic picture) when that class is the most "
           "probable; its class probabilities are printed on the page." if has_classes else
           " A three-class model (not used here) can also answer 'generated', for a fully synthetic picture.")
    )
    overlay = (
        "The overlay draws the mask on a slightly desaturated copy of the picture: a translucent orange fill and a "
        "double contour (white outside, black inside) that stays visible on any background, in print and in grey. "
        "The flagged area is the mask's share of the image."
    )
    if refined:
        overlay += (" When a refiner was used, the heatmap, mask and main overlay are the refined result, and the "
                    "overlay before refinement is shown beside it; refinement follows object boundaries more closely, "
                    "but it can also spread a false alarm over a whole object.")
    return [
        ("Score and verdict", [
            "Each image gets a score between 0 and 1: how strongly the method finds signs of an edit. " + verdicts,
            "A score is not the probability that someone tampered with the picture in bad faith, and 'authentic' "
            "means only that this method found no region reaching the threshold: it is not a certificate of "
            "authenticity.",
        ]),
        ("Threshold", [
            f"Threshold used in this report: {thresholds}. Lowering the threshold finds more edits and raises more "
            "false alarms; raising it does the reverse. The mask and the overlay use the same threshold as the "
            "verdict. For methods whose score is read from their map, as all built-in ones (mvcam, mvcam-net, sel, noise, classical) "
            "do, the two always agree: an image judged authentic has an empty mask, one judged manipulated has at "
            "least one flagged region. For the classical methods the default of 0.5 is calibrated so that about one "
            "authentic photograph in twenty shows a flagged region.",
        ]),
        ("Heatmap", [
            "The heatmap gives, for every pixel, the probability of an edit on the scale printed under it. Its "
            "colormap, cividis, runs from dark blue (0) to yellow (1), reads the same for colour-blind readers and "
            "stays ordered in grey print (darker = lower). The mark on the scale is the threshold. Maps are smoothed: "
            "they point at regions, not exact edges, and a bright area does not say what kind of edit it is.",
        ]),
        ("Mask and overlay", [
            "The mask is the set of pixels whose probability reaches the threshold, keeping only connected regions "
            "of at least 0.25 % of the image (and at least 16 pixels), so isolated specks are not reported. On the "
            "page it is printed dark on white.",
            overlay,
        ]),
        ("Metadata", [
            "Camera, software and dates come from the file's EXIF and XMP metadata, which any program can remove or "
            "rewrite. Editing software named there means that the file was saved by that program, possibly only to "
            "crop it or adjust its colours; its absence proves nothing. Pictures from messaging apps and social "
            "networks usually carry no metadata at all.",
        ]),
        ("Known limits", [
            "• False alarms: heavy or repeated JPEG recompression, resizing, screenshots, pictures pasted into "
            "documents, strong noise reduction or sharpening, phone HDR and 'computational photography', text and "
            "graphics overlays, and large flat, dark or saturated areas can all make a region look inconsistent. "
            "Check each flagged region against the content of the picture.",
            "• Missed edits: edits smaller than the minimum region, edits followed by a strong recompression of the "
            "whole picture, copy-moves within the same picture (same camera noise and compression history) and "
            "fully regenerated pictures can go undetected.",
            "• Maps are coarse: boundaries are approximate and small or thin edits can merge with their surroundings. "
            "Large images are shown downscaled on the pages (each page says so); the full-resolution maps are in the "
            "results folder.",
            "• A result is one piece of evidence, to be weighed with others (the source and context of the picture, "
            "other copies of it); it is not proof on its own.",
        ]),
        ("Evidence integrity", [
            "Inputs are never modified. Each page gives the sha256 of the analysed file; the report checks that the "
            "original it shows still has that sha256 and says so when it has changed or cannot be found. The pictures "
            "on the pages are copies resampled for display; the maps, masks and JSON records in the results folder "
            "are the reference outputs.",
        ]),
    ]


# ---------------------------------------------------------------------------------------
# one page per image

@dataclass
class Panel:
    title: str
    prepared: Prepared | None  # None: placeholder
    cmap: str | None = None
    caption: list[str] = field(default_factory=list)
    placeholder: str = ""
    colorbar: bool = False


@dataclass
class PageImages:
    """Decoded pictures of one item, ready to prepare for a box size."""

    original: np.ndarray | None = None
    heatmap: np.ndarray | None = None  # float probabilities
    heatmap_rgb: np.ndarray | None = None  # when only NAME.heatmap-color.png exists
    overlay: np.ndarray | None = None
    coarse_overlay: np.ndarray | None = None
    mask: np.ndarray | None = None
    problems: list[str] = field(default_factory=list)


def facts(info: ItemInfo, meta: ReportMeta) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(result rows, input rows, full-width rows) of an image page."""
    record = info.record
    inp = record.get("input") or {}
    method = record.get("method") or {}
    refiner = record.get("refiner")
    settings = record.get("settings") or {}
    threshold = record.get("threshold")
    result = [
        ("Verdict", str(record.get("verdict") or "?")),
        ("Score", f"{fmt_score(record.get('score'))} (threshold {fmt_t(threshold)})"),
    ]
    probs = record.get("class_probs")
    if isinstance(probs, dict) and probs:
        result.append(("Classes", " · ".join(f"{k} {float(v):.3f}" for k, v in probs.items())))
    flagged = record.get("flagged_fraction")
    if flagged is not None and info.width and info.height:
        pixels = int(round(float(flagged) * info.width * info.height))
        result.append(("Flagged area", f"{fmt_percent(flagged)} of the image ({pixels:,} px)"))
    else:
        result.append(("Flagged area", fmt_percent(flagged)))
    result.append(("Method", card_line(method) + (f" ({method.get('task')})" if method.get("task") else "")))
    result.append(("Refiner", card_line(refiner) if refiner else "none"))
    result.append(("Device", str(settings.get("device") or "—")))
    tool = (record.get("tool") or {}).get("version")
    result.append(("Analysed", fmt_time(record.get("created"))))
    if tool:
        result.append(("Tool", f"imlforensic {tool}"))

    fmt = str(inp.get("format") or "?")
    if inp.get("jpeg_quality"):
        fmt += f", quality ≈ {inp['jpeg_quality']}"
    if inp.get("mode"):
        fmt += f", {inp['mode']}"
    rows = [
        ("Format", fmt),
        ("Size", f"{info.width} × {info.height} px" if info.width else "—"),
        ("File size", fmt_bytes(inp.get("bytes"))),
    ]
    conversions = inp.get("conversions") or []
    if conversions:
        rows.append(("Conversions", "; ".join(str(c) for c in conversions)))
    metadata: Metadata | None = info.original.metadata
    if metadata is None:
        rows.append(("Metadata", "not read (original not available)"))
    elif metadata.error:
        rows.append(("Metadata", metadata.error))
    elif not metadata.has_exif and not metadata.software:
        rows.append(("EXIF", "none in the file"))
    else:
        rows.append(("Camera", metadata.camera or "—"))
        if metadata.lens:
            rows.append(("Lens", metadata.lens))
        rows.append(("Software", "; ".join(metadata.software) or "—"))
        rows.append(("Taken", metadata.date_original or "—"))
        if metadata.date_digitized and metadata.date_digitized != metadata.date_original:
            rows.append(("Digitised", metadata.date_digitized))
        rows.append(("Modified", metadata.date_modified or "—"))
    wide = [("SHA-256", str(inp.get("sha256") or "—"))]
    if info.original.status == "ok":
        wide.append(("Original", f"{info.original.path} (sha256 verified)"))
    else:
        wide.append(("Original", {"missing": "not found", "changed": "changed since the analysis",
                                  "unreadable": "unreadable"}.get(info.original.status, info.original.status)))
    if info.item.folder is not None:
        base = info.item.key.replace("\\", "/").split("/")[-1] if info.item.key else ""
        wide.append(("Outputs", str(info.item.folder.resolve() / base) + ".*"))
    return result, rows, wide


def image_page(c: Canvas | None, info: ItemInfo, meta: ReportMeta, total_images: int,
               images: PageImages | None, prepare_fn: Callable[..., Prepared]) -> float:
    """Draw the page of one image (``c=None`` measures only). Returns the y reached."""
    paper = meta.paper
    x, W = paper.margin_x, paper.content_width
    record = info.record
    y = paper.margin_top
    if c is not None:
        c.text(x, y + 7, f"Image {info.index} of {total_images}", SMALL)
        if meta.case:
            c.text(x + W, y + 7, ellipsize(meta.case, W * 0.6, SMALL.size), SMALL, ha="right")
    y += 13

    name = info.item.name
    name_style = Style(13, bold=True)
    name_lines = name_style.wrap(name, W)
    if len(name_lines) > 3:
        name_style = Style(10, bold=True)
        name_lines = name_style.wrap(name, W)
    if c is not None:
        c.lines(x, y, name_lines, name_style)
    y += len(name_lines) * name_style.line_height
    missing = missing_glyphs(name)
    sub = []
    if info.item.path != name:
        sub.append(f"Input: {info.item.path}")
    if missing:
        sub.append("Characters not in the installed fonts (drawn as boxes): " + " ".join(missing))
    sub_lines = [line for s in sub for line in SMALL.wrap(s, W)][:5]
    if c is not None:
        c.lines(x, y, sub_lines, SMALL)
    y += len(sub_lines) * SMALL.line_height + 4

    # verdict banner ----------------------------------------------------------------------
    verdict = str(record.get("verdict") or "?")
    fg, bg = VERDICT_COLOURS.get(verdict, ("#111111", "#EEEEEE"))
    banner_h = 24
    if c is not None:
        c.rect(x, y, W, banner_h, fill=bg)
        c.rect(x, y, 4, banner_h, fill=fg)
        big = Style(12, bold=True, color=fg)
        label = verdict.upper()
        c.text(x + 12, y + 16.5, label, big)
        details = f"score {fmt_score(record.get('score'))}   ·   threshold {fmt_t(record.get('threshold'))}   ·   flagged area {fmt_percent(record.get('flagged_fraction'))}"
        detail_style = Style(9.5, color="#222222")
        detail_x = x + 12 + big.width(label) + 14
        c.text(detail_x, y + 16, details, detail_style)
        method = card_line(record.get("method"))
        if record.get("refiner"):
            method += " + " + card_line(record.get("refiner"))
        room = x + W - 8 - (detail_x + detail_style.width(details) + 16)
        if room > 40:
            c.text(x + W - 8, y + 15.5, ellipsize(method, room, 8), Style(8, color=GREY), ha="right")
    y += banner_h + 10

    # facts (measured first: the pictures get the remaining height) -----------------------
    result_rows, input_rows, wide_rows = facts(info, meta)
    notes = list(info.notes) + (images.problems if images is not None else [])
    col_gap = 14
    col_w = (W - col_gap) / 2
    key_w = max(KEY.width(k) for k, _ in result_rows + input_rows + wide_rows) + 8

    def draw_facts(canvas: Canvas | None, top: float) -> float:
        yy = top
        if canvas is not None:
            canvas.lines(x, yy, ["Result"], H3)
            canvas.lines(x + col_w + col_gap, yy, ["Input file"], H3)
            canvas.hline(x, x + col_w, yy + H3.line_height + 1)
            canvas.hline(x + col_w + col_gap, x + W, yy + H3.line_height + 1)
        yy += H3.line_height + 4
        left = kv_rows(canvas, x, yy, col_w, result_rows, key_width=key_w)
        right = kv_rows(canvas, x + col_w + col_gap, yy, col_w, input_rows, key_width=key_w)
        yy = max(left, right) + 2
        yy = kv_rows(canvas, x, yy, W, wide_rows, key_width=key_w, mono_keys=("SHA-256",))
        if notes:
            yy += 3
            if canvas is not None:
                canvas.lines(x, yy, ["Notes"], H3)
            yy += H3.line_height + 1
            for note in notes:
                lines = VALUE.wrap(note, W - 12)
                if canvas is not None:
                    canvas.lines(x + 2, yy, ["•"], VALUE)
                    canvas.lines(x + 12, yy, lines, VALUE)
                yy += len(lines) * VALUE.line_height + 1.5
        return yy

    facts_h = draw_facts(None, 0) + 8  # and some air above the footer

    # panels ------------------------------------------------------------------------------
    title_h = PANEL_TITLE.line_height + 3
    cap1 = 40.0  # colour bar under the heatmap
    cap2 = 2 * CAPTION.line_height + 6
    row_gap = 8
    avail = paper.bottom - y - facts_h - 12 - 2 * title_h - cap1 - cap2 - row_gap
    box_w, box_h = fit(info.aspect, col_w, max(avail / 2, 60))
    if c is None:
        return y + 2 * (title_h + box_h) + cap1 + cap2 + row_gap + 12 + facts_h

    panels = build_panels(info, images, box_w, meta.ppi, prepare_fn)
    for k, panel in enumerate(panels):
        row, col = divmod(k, 2)
        cx = x + col * (col_w + col_gap) + (col_w - box_w) / 2
        top = y + row * (title_h + box_h + cap1 + row_gap)
        c.lines(cx, top, [ellipsize(panel.title, col_w, PANEL_TITLE.size, bold=True)], PANEL_TITLE)
        iy = top + title_h
        if panel.prepared is not None:
            c.image(cx, iy, box_w, box_h, panel.prepared.array, cmap=panel.cmap)
        else:
            c.rect(cx, iy, box_w, box_h, fill="#F2F2F2", edge=RULE)
            lines = BODY.wrap(panel.placeholder, box_w - 16)[:6]
            c.lines(cx + box_w / 2, iy + box_h / 2 - len(lines) * BODY.line_height / 2, lines, Style(9, color=GREY), ha="center")
        cy = iy + box_h + 4
        col_x = x + col * (col_w + col_gap)
        if panel.colorbar:  # at least 200 pt wide (narrow portrait maps), centred under the map, inside the column
            bar_w = min(col_w, max(box_w, 200.0))
            draw_colorbar(c, col_x + (col_w - bar_w) / 2, cy, bar_w, record.get("threshold"))
        else:  # captions may use the column's width beside a narrow picture
            cap_lines = [line for text in panel.caption for line in CAPTION.wrap(text, col_x + col_w - cx)][:3]
            c.lines(cx, cy, cap_lines, CAPTION)
    y += 2 * (title_h + box_h) + cap1 + cap2 + row_gap + 12
    return draw_facts(c, y)


def draw_colorbar(c: Canvas, x: float, y: float, width: float, threshold: Any) -> None:
    """Horizontal cividis scale 0..1 with ticks, the threshold mark and a label, ``y`` = top."""
    bar_h = 7.0
    bar_y = y + 9
    gradient = np.linspace(0.0, 1.0, 256, dtype=np.float32)[None, :]
    c.image(x, bar_y, width, bar_h, gradient, cmap=HEATMAP_CMAP, border="#777777")
    tick = Style(7.5, color="#333333")
    for value in (0.0, 0.25, 0.5, 0.75, 1.0):
        tx = x + value * width
        c.rect(tx - 0.25, bar_y + bar_h, 0.5, 2.5, fill="#333333")
        label = f"{value:g}"
        ha = "left" if value == 0 else "right" if value == 1 else "center"
        c.text(tx, bar_y + bar_h + 10, label, tick, ha=ha)
    if threshold is not None:
        t = float(threshold)
        tx = x + t * width
        c.rect(tx - 1.4, bar_y - 3, 2.8, bar_h + 6, fill="white", zorder=6)
        c.rect(tx - 0.6, bar_y - 3, 1.2, bar_h + 6, fill="black", zorder=7)
        label = f"threshold {t:.2f}"
        bold = Style(7.5, bold=True, color="#111111")
        ha = "left" if tx + 3 + bold.width(label) <= x + width else "right"
        c.text(tx + 3 if ha == "left" else tx - 3, bar_y - 2.5, label, bold, ha=ha)
    caption = Style(7.5, color=GREY)
    text = "probability of an edit (heatmap scale)"
    if caption.width(text) > width:
        text = "probability of an edit"
    c.text(x + width / 2, bar_y + bar_h + 19, text, caption, ha="center")


def build_panels(info: ItemInfo, images: PageImages | None, box_w: float, ppi: float,
                 prepare_fn: Callable[..., Prepared]) -> list[Panel]:
    record = info.record
    images = images or PageImages()
    threshold = record.get("threshold")
    t_text = fmt_t(threshold) if threshold is not None else "the threshold"
    refiner = record.get("refiner") or {}
    refined = images.coarse_overlay is not None or info.item.refined

    panels: list[Panel] = []
    if images.original is not None:
        prepared = prepare_fn(images.original, box_w, ppi, "photo")
        panels.append(Panel("Original", prepared, caption=[prepared.describe()]))
    else:
        panels.append(Panel("Original", None, placeholder=_original_placeholder(info)))

    heat_title = "Heatmap" + (f" (refined by {refiner.get('name')})" if refined and refiner.get("name") else "")
    if images.heatmap is not None:
        panels.append(Panel(heat_title, prepare_fn(images.heatmap, box_w, ppi, "heatmap"), cmap=HEATMAP_CMAP, colorbar=True))
    elif images.heatmap_rgb is not None:
        panels.append(Panel(heat_title, prepare_fn(images.heatmap_rgb, box_w, ppi, "photo"), colorbar=True))
    else:
        panels.append(Panel(heat_title, None, placeholder=_missing(info, "heatmap")))

    flagged = record.get("flagged_fraction")
    flagged_text = (f"Outlined: {fmt_percent(flagged)} of the image reaches p ≥ {t_text}" if flagged
                    else f"No region reaches p ≥ {t_text}: nothing outlined")
    if refined:
        method = (record.get("method") or {}).get("name", "method")
        if images.coarse_overlay is not None:
            panels.append(Panel(f"Overlay before refinement ({method})", prepare_fn(images.coarse_overlay, box_w, ppi, "photo"),
                                caption=["The method's own (coarse) result, before refinement"]))
        else:
            panels.append(Panel(f"Overlay before refinement ({method})", None, placeholder=_missing(info, "coarse_overlay")))
        title = "Refined overlay" + (f" ({refiner.get('name')})" if refiner.get("name") else "")
        if images.overlay is not None:
            panels.append(Panel(title, prepare_fn(images.overlay, box_w, ppi, "photo"), caption=[flagged_text]))
        else:
            panels.append(Panel(title, None, placeholder=_missing(info, "overlay")))
    else:
        if images.overlay is not None:
            panels.append(Panel(f"Mask overlay (threshold {t_text})", prepare_fn(images.overlay, box_w, ppi, "photo"),
                                caption=[flagged_text]))
        else:
            panels.append(Panel(f"Mask overlay (threshold {t_text})", None, placeholder=_missing(info, "overlay")))
        if images.mask is not None:
            prepared = prepare_fn(images.mask, box_w, ppi, "mask")
            prepared.array = mask_for_print(prepared.array)
            caption = "Dark: flagged pixels; white: not flagged" if flagged else "Empty: no pixel is flagged"
            panels.append(Panel("Mask", prepared, caption=[caption]))
        else:
            panels.append(Panel("Mask", None, placeholder=_missing(info, "mask")))
    return panels


def _missing(info: ItemInfo, kind: str) -> str:
    name = (info.record.get("outputs") or {}).get(kind)
    what = {"heatmap": "Heatmap", "overlay": "Overlay", "coarse_overlay": "Overlay before refinement", "mask": "Mask"}[kind]
    if name and info.item.files.get(kind) is not None:
        return f"{what} file unreadable: {name}"
    return f"{what} file missing" + (f": {name}" if name else "")


def _original_placeholder(info: ItemInfo) -> str:
    status = info.original.status
    if status == "missing":
        return "Original not found: not shown"
    if status == "changed":
        return "The original file has changed since the analysis: not shown"
    if status == "unreadable":
        return "Original cannot be read: not shown"
    return "Original not available"
