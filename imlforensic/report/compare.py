"""Methods side by side: one page per image analysed by several methods (``-m A -m B``, whose
records lie in ``OUT/A/`` and ``OUT/B/``), after the images' own pages.

An image's results are grouped by the input's sha256 and path; a group with two methods or more
gets a page: the original at the top, then one row per method with its heatmap and its mask
overlay (regions boxed and numbered), headed by the method, its verdict, score and flagged area.
Each method's own page (facts, notes, mask) stays where it was; this page only compares.
"""

from __future__ import annotations

from collections.abc import Callable

from imlforensic.report.evidence import draw_region_labels
from imlforensic.report.image_page import PageImages
from imlforensic.report.layout import RULE, Canvas, fit
from imlforensic.report.panels import HEATMAP_CMAP, Prepared
from imlforensic.report.style import (
    CAPTION,
    GREY,
    H1,
    PANEL_TITLE,
    SMALL,
    VERDICT_COLOURS,
    ItemInfo,
    ReportMeta,
    card_line,
    fmt_percent,
    fmt_score,
    verdict_label,
)
from imlforensic.report.text import Style, ellipsize

MAX_METHODS = 6
"""Methods compared on one page (more would make the maps too small to read)."""


def comparison_groups(infos: list[ItemInfo]) -> list[list[ItemInfo]]:
    """The images analysed by two methods or more, each a list of its results in report order."""
    groups: dict[tuple[str, str], list[ItemInfo]] = {}
    for info in infos:
        record = info.record
        if record.method is None or record.is_annotation:
            continue
        groups.setdefault((record.input.sha256 or "", record.input.path), []).append(info)
    return [
        group[:MAX_METHODS]
        for group in groups.values()
        if len({g.record.method.name for g in group if g.record.method}) > 1
    ]


def method_heading(info: ItemInfo) -> tuple[str, str]:
    """(method, "VERDICT · score · flagged") of one result."""
    record = info.record
    method = card_line(record.method) + (f" + {card_line(record.refiner)}" if record.refiner else "")
    result = f"{verdict_label(record.verdict).upper()}   score {fmt_score(record.score)}   flagged {fmt_percent(record.flagged_fraction)}"
    if record.verdict_reason:
        result += "   (declared by the file)"
    return method, result


def compare_page(
    c: Canvas,
    group: list[ItemInfo],
    meta: ReportMeta,
    images: list[PageImages],
    prepare_fn: Callable[..., Prepared],
) -> None:
    """Draw the comparison page of one image (``images``: each result's pictures, in order)."""
    paper = meta.paper
    x, W = paper.margin_x, paper.content_width
    first = group[0]
    y = paper.margin_top
    c.text(x, y + 7, "Methods side by side", SMALL)
    y += 13
    name = first.item.name or first.item.path
    c.text(x, y + H1.size, ellipsize(name, W, H1.size, bold=True), H1)
    y += H1.line_height + 2
    sha = (first.record.input.sha256 or "?")[:16]
    c.lines(x, y, SMALL.wrap(f"{len(group)} methods on the same file (sha256 {sha}…)", W), SMALL)
    y += SMALL.line_height + 6

    col_gap, row_gap = 14.0, 6.0
    col_w = (W - col_gap) / 2
    head_h = PANEL_TITLE.line_height + CAPTION.line_height + 4
    rows = 1 + len(group)
    avail = paper.bottom - y - 10 - rows * (head_h + row_gap)
    box_w, box_h = fit(first.aspect, col_w, max(avail / rows, 40))

    original = next((i.original for i in images if i.original is not None), None)
    c.lines(x, y, ["Original"], PANEL_TITLE)
    _picture(
        c, x, y + head_h, box_w, box_h, None if original is None else prepare_fn(original, box_w, meta.ppi, "photo")
    )
    legend = [
        "Left: each method's heatmap (probability of an edit, dark blue 0 to yellow 1).",
        "Right: its mask overlay at its own threshold; yellow boxes: its regions, numbered largest first.",
        "Each method's own page has its facts and notes.",
    ]
    c.lines(x + col_w + col_gap, y + head_h, [line for text in legend for line in CAPTION.wrap(text, col_w)], CAPTION)
    y += head_h + box_h + row_gap

    for info, pictures in zip(group, images):
        method, result = method_heading(info)
        fg, _ = VERDICT_COLOURS.get(info.record.verdict, ("#111111", "#EEEEEE"))
        c.lines(x, y, [ellipsize(method, W, PANEL_TITLE.size, bold=True)], PANEL_TITLE)
        c.lines(
            x,
            y + PANEL_TITLE.line_height,
            [ellipsize(result, W, CAPTION.size)],
            Style(CAPTION.size, bold=True, color=fg),
        )
        top = y + head_h
        heat = None
        if pictures.heatmap is not None:
            heat = prepare_fn(pictures.heatmap, box_w, meta.ppi, "heatmap")
        elif pictures.heatmap_rgb is not None:
            heat = prepare_fn(pictures.heatmap_rgb, box_w, meta.ppi, "photo")
        _picture(c, x, top, box_w, box_h, heat, cmap=HEATMAP_CMAP if pictures.heatmap is not None else None)
        overlay = None if pictures.overlay is None else prepare_fn(pictures.overlay, box_w, meta.ppi, "photo")
        ox = x + col_w + col_gap
        _picture(c, ox, top, box_w, box_h, overlay)
        if overlay is not None:
            draw_region_labels(c, ox, top, box_w, box_h, info.record, info.width, info.height)
        y = top + box_h + row_gap


def _picture(
    c: Canvas, x: float, y: float, w: float, h: float, prepared: Prepared | None, cmap: str | None = None
) -> None:
    if prepared is not None:
        c.image(x, y, w, h, prepared.array, cmap=cmap)
        return
    c.rect(x, y, w, h, fill="#F2F2F2", edge=RULE)
    c.text(x + w / 2, y + h / 2, "not available", Style(8.5, color=GREY), ha="center")
