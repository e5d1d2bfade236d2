"""One page per image: the verdict banner, four panels (original, heatmap with its colour scale,
mask overlay, mask; or the overlays before and after refinement) and the facts (result, input
file, EXIF, notes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imlforensic.methods.base import is_whole_image_finding
from imlforensic.report.evidence import draw_region_labels, jpeg_rows, metadata_rows, provenance_rows, region_rows
from imlforensic.report.layout import RULE, Canvas, fit
from imlforensic.report.metadata import Metadata
from imlforensic.report.panels import HEATMAP_CMAP, Prepared, mask_for_print
from imlforensic.report.style import (
    BODY,
    CAPTION,
    FULLY_GENERATED,
    GREY,
    H3,
    KEY,
    PANEL_TITLE,
    SMALL,
    VALUE,
    VERDICT_COLOURS,
    ItemInfo,
    ReportMeta,
    card_line,
    fmt_bytes,
    fmt_percent,
    fmt_score,
    fmt_t,
    fmt_time,
    kv_rows,
    verdict_label,
)
from imlforensic.report.text import Style, ellipsize, missing_glyphs


@dataclass
class Panel:
    title: str
    prepared: Prepared | None  # None: placeholder
    cmap: str | None = None
    caption: list[str] = field(default_factory=list)
    placeholder: str = ""
    colorbar: bool = False
    regions: bool = False  # label the record's regions on it (an overlay)


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


def facts(
    info: ItemInfo, meta: ReportMeta
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(result rows, input rows, full-width rows) of an image page."""
    record = info.record
    inp = record.input
    method = record.method
    threshold = record.threshold
    result = [
        ("Verdict", FULLY_GENERATED if is_whole_image_finding(record.verdict) else record.verdict),
        ("Score", f"{fmt_score(record.score)} (threshold {fmt_t(threshold)})"),
    ]
    if record.method_verdict is not None and record.method_verdict != record.verdict:
        result.append(("Method alone", f"{record.method_verdict} (the verdict follows the file's declaration)"))
    probs = record.class_probs
    if probs and record.tells_generated:
        result.append(("Classes", " · ".join(f"{k} {float(v):.3f}" for k, v in probs.items())))
    if record.is_annotation:
        result.append(
            ("Origin", "the analyst's boxes, turned into a mask by the refiner: an annotation, not a finding")
        )
    flagged = record.flagged_fraction
    if flagged is not None and info.width and info.height:
        pixels = int(round(float(flagged) * info.width * info.height))
        result.append(("Flagged area", f"{fmt_percent(flagged)} of the image ({pixels:,} px)"))
    else:
        result.append(("Flagged area", fmt_percent(flagged)))
    result.append(("Method", card_line(method) + (f" ({method.task})" if method is not None and method.task else "")))
    result.append(("Refiner", card_line(record.refiner) if record.refiner else "none"))
    result.append(("Device", record.settings.device or "—"))
    tool = record.tool.get("version")
    result.append(("Analysed", fmt_time(record.created)))
    if tool:
        result.append(("Tool", f"imlforensic {tool}"))

    fmt = inp.format or "?"
    if inp.jpeg_quality:
        fmt += f", quality ≈ {inp.jpeg_quality}"
    if inp.mode:
        fmt += f", {inp.mode}"
    rows = [
        ("Format", fmt),
        ("Size", f"{info.width} × {info.height} px" if info.width else "—"),
        ("File size", fmt_bytes(inp.bytes)),
    ]
    conversions = inp.conversions
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
    rows += metadata_rows(record) + jpeg_rows(record)
    wide = [("SHA-256", inp.sha256 or "—"), *provenance_rows(record), *region_rows(record)]
    if info.original.status == "ok":
        wide.append(("Original", f"{info.original.path} (sha256 verified)"))
    else:
        wide.append(
            (
                "Original",
                {"missing": "not found", "changed": "changed since the analysis", "unreadable": "unreadable"}.get(
                    info.original.status, info.original.status
                ),
            )
        )
    if info.item.folder is not None:
        base = info.item.key.replace("\\", "/").split("/")[-1] if info.item.key else ""
        wide.append(("Outputs", str(info.item.folder.resolve() / base) + ".*"))
    return result, rows, wide


def image_page(
    c: Canvas | None,
    info: ItemInfo,
    meta: ReportMeta,
    total_images: int,
    images: PageImages | None,
    prepare_fn: Callable[..., Prepared],
) -> float:
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
    verdict = record.verdict
    fg, bg = VERDICT_COLOURS.get(verdict, ("#111111", "#EEEEEE"))
    banner_h = 24
    if c is not None:
        c.rect(x, y, W, banner_h, fill=bg)
        c.rect(x, y, 4, banner_h, fill=fg)
        big = Style(12, bold=True, color=fg)
        label = verdict_label(verdict).upper()
        c.text(x + 12, y + 16.5, label, big)
        details = (
            ("whole-image finding   ·   " if is_whole_image_finding(verdict) else "")
            + f"score {fmt_score(record.score)}   ·   threshold {fmt_t(record.threshold)}   ·   flagged area {fmt_percent(record.flagged_fraction)}"
        )
        detail_style = Style(9.5, color="#222222")
        detail_x = x + 12 + big.width(label) + 14
        c.text(detail_x, y + 16, details, detail_style)
        method = card_line(record.method)
        if record.refiner:
            method += " + " + card_line(record.refiner)
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
            if panel.regions:
                draw_region_labels(c, cx, iy, box_w, box_h, record, info.width, info.height)
        else:
            c.rect(cx, iy, box_w, box_h, fill="#F2F2F2", edge=RULE)
            lines = BODY.wrap(panel.placeholder, box_w - 16)[:6]
            c.lines(
                cx + box_w / 2,
                iy + box_h / 2 - len(lines) * BODY.line_height / 2,
                lines,
                Style(9, color=GREY),
                ha="center",
            )
        cy = iy + box_h + 4
        col_x = x + col * (col_w + col_gap)
        if panel.colorbar:  # at least 200 pt wide (narrow portrait maps), centred under the map, inside the column
            bar_w = min(col_w, max(box_w, 200.0))
            draw_colorbar(c, col_x + (col_w - bar_w) / 2, cy, bar_w, record.threshold)
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


def build_panels(
    info: ItemInfo, images: PageImages | None, box_w: float, ppi: float, prepare_fn: Callable[..., Prepared]
) -> list[Panel]:
    record = info.record
    images = images or PageImages()
    threshold = record.threshold
    t_text = fmt_t(threshold) if threshold is not None else "the threshold"
    refiner_name = record.refiner.name if record.refiner else None
    refined = images.coarse_overlay is not None or info.item.refined

    panels: list[Panel] = []
    if images.original is not None:
        prepared = prepare_fn(images.original, box_w, ppi, "photo")
        panels.append(Panel("Original", prepared, caption=[prepared.describe()]))
    else:
        panels.append(Panel("Original", None, placeholder=_original_placeholder(info)))

    heat_title = "Heatmap" + (f" (refined by {refiner_name})" if refined and refiner_name else "")
    if images.heatmap is not None:
        panels.append(
            Panel(heat_title, prepare_fn(images.heatmap, box_w, ppi, "heatmap"), cmap=HEATMAP_CMAP, colorbar=True)
        )
    elif images.heatmap_rgb is not None:
        panels.append(Panel(heat_title, prepare_fn(images.heatmap_rgb, box_w, ppi, "photo"), colorbar=True))
    else:
        panels.append(Panel(heat_title, None, placeholder=_missing(info, "heatmap")))

    flagged = record.flagged_fraction
    flagged_text = (
        "Fully generated: a whole-image finding, no region is outlined"
        if is_whole_image_finding(record.verdict)
        else (
            f"Outlined: {fmt_percent(flagged)} of the image reaches p ≥ {t_text}"
            + ("; yellow boxes: its regions, numbered largest first" if (record.regions or {}).get("regions") else "")
            if flagged
            else f"No region reaches p ≥ {t_text}: nothing outlined"
        )
    )
    if refined:
        method = record.method.name if record.method else "method"
        if images.coarse_overlay is not None:
            panels.append(
                Panel(
                    f"Overlay before refinement ({method})",
                    prepare_fn(images.coarse_overlay, box_w, ppi, "photo"),
                    caption=["The method's own (coarse) result, before refinement"],
                )
            )
        else:
            panels.append(
                Panel(f"Overlay before refinement ({method})", None, placeholder=_missing(info, "coarse_overlay"))
            )
        title = "Refined overlay" + (f" ({refiner_name})" if refiner_name else "")
        if images.overlay is not None:
            panels.append(
                Panel(title, prepare_fn(images.overlay, box_w, ppi, "photo"), caption=[flagged_text], regions=True)
            )
        else:
            panels.append(Panel(title, None, placeholder=_missing(info, "overlay")))
    else:
        if images.overlay is not None:
            panels.append(
                Panel(
                    f"Mask overlay (threshold {t_text})",
                    prepare_fn(images.overlay, box_w, ppi, "photo"),
                    caption=[flagged_text],
                    regions=True,
                )
            )
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
    name = info.record.outputs.get(kind)
    what = {"heatmap": "Heatmap", "overlay": "Overlay", "coarse_overlay": "Overlay before refinement", "mask": "Mask"}[
        kind
    ]
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
