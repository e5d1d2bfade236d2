"""The cover: title, case facts, the models and settings used, and the summary table
(one row per image, continued on further pages), then failed, missing and incomplete inputs."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import Any

from imlforensic.pipeline.records import ResultRecord
from imlforensic.registry.cards import ModelCard
from imlforensic.report.collect import ReportItem
from imlforensic.report.layout import Block, Canvas, spacer, text_blocks
from imlforensic.report.style import (
    BODY,
    CELL,
    H2,
    H3,
    HEAD_CELL,
    SMALL,
    SUBTITLE,
    TITLE,
    VERDICT_COLOURS,
    ItemInfo,
    ReportMeta,
    bullet_blocks,
    card_line,
    fmt_percent,
    fmt_score,
    fmt_time,
    heading,
    kv_rows,
    verdict_of,
)
from imlforensic.report.text import Style, ellipsize


def distinct_cards(infos: list[ItemInfo]) -> list[tuple[str, ModelCard, int]]:
    """Every (role, model card) used, with the number of images that used it."""
    counts: Counter[tuple[Any, ...]] = Counter()
    cards: dict[tuple[Any, ...], ModelCard] = {}
    for info in infos:
        for role in ("method", "refiner"):
            card = info.record.method if role == "method" else info.record.refiner
            if card is not None:
                key = (role, card.name, card.version, card.weights_sha256)
                cards.setdefault(key, card)
                counts[key] += 1
    return [(key[0], cards[key], counts[key]) for key in cards]


def _values(infos: list[ItemInfo], get: Callable[[ResultRecord], Any], fmt: Callable[[Any], str] = str) -> str:
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
    others = [
        f"{verdicts[v]} {v}"
        for v in verdicts
        if v not in ("manipulated", "generated", "authentic", "failed", "missing")
    ]
    bad = [f"{verdicts[v]} {v}" for v in ("failed", "missing") if verdicts[v]]
    text = f"{total} image{'s' if total != 1 else ''}: " + (", ".join(parts + others) or "none analysed")
    if bad:
        text += "; " + " and ".join(bad) + " (listed below the table)"
    return text + "."


def _draw_card(
    c: Canvas, y: float, x: float, width: float, head: str, rows: list[tuple[str, str]], mono: tuple[str, ...]
) -> None:
    c.lines(x, y, [head], H3)
    kv_rows(c, x + 8, y + H3.line_height + 1, width - 8, rows, key_width=84, mono_keys=mono)


def cover_blocks(
    meta: ReportMeta,
    infos: list[ItemInfo],
    all_items: list[ReportItem],
    analysed_infos: dict[int, ItemInfo],
    warnings: list[str],
    comparisons: tuple[int, int] = (0, 0),  # (first page, count) of the methods-side-by-side pages
) -> list[Block]:
    paper = meta.paper
    x = paper.margin_x
    W = paper.content_width
    blocks: list[Block] = []

    title_lines = TITLE.wrap(meta.title, W)[:4]
    blocks.append(
        Block(height=len(title_lines) * TITLE.line_height + 2, draw=lambda c, y: c.lines(x, y, title_lines, TITLE))
    )

    def draw_subtitle(c: Canvas, y: float) -> None:
        c.lines(x, y, ["Image manipulation analysis report"], SUBTITLE)
        c.hline(x, x + W, y + SUBTITLE.line_height + 5, color="#333333", lw=0.8)

    blocks.append(
        Block(
            height=SUBTITLE.line_height + 8,
            draw=draw_subtitle,
        )
    )

    analysed = [i for i in infos]
    created = sorted(i.record.created for i in analysed if i.record.created)
    tool_versions = sorted({str(i.record.tool.get("version")) for i in analysed if i.record.tool})
    if created:
        span = (
            fmt_time(created[0])
            if fmt_time(created[0]) == fmt_time(created[-1])
            else f"{fmt_time(created[0])} to {fmt_time(created[-1])}"
        )
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
    blocks.append(
        Block(
            height=height + 6,
            draw=lambda c, y: kv_rows(c, x, y, W, info_rows, key_width=92, value_style=BODY),
            space_before=4,
        )
    )

    # models --------------------------------------------------------------------------
    blocks.append(heading("Models", H2, x, W, space_before=8))
    cards = distinct_cards(analysed)
    if not cards:
        blocks += text_blocks("No image was analysed.", BODY, W, x)
    for role, card, count in cards:
        head = f"{'Method' if role == 'method' else 'Refiner'}: {card_line(card)}"
        if card.task:
            head += f" ({card.task})"
        if len(analysed) > 1:
            head += f" — used for {count} of {len(analysed)} images"
        sha = card.weights_sha256
        rows = [("Weights sha256", sha if sha else "none: this model uses no trained weights")]
        if card.reference:
            rows.append(("Reference", card.reference))
        mono = ("Weights sha256",) if sha else ()
        h_rows = kv_rows(None, x + 8, 0, W - 8, rows, key_width=84, mono_keys=mono)
        blocks.append(
            Block(
                height=H3.line_height + h_rows + 4,
                draw=functools.partial(_draw_card, x=x, width=W, head=head, rows=rows, mono=mono),
                space_before=2,
            )
        )

    # settings ------------------------------------------------------------------------
    blocks.append(heading("Settings", H2, x, W, space_before=8))
    settings_rows = [
        ("Threshold", _values(analysed, lambda r: r.threshold, lambda v: f"{float(v):.2f}")),
        ("Device", _values(analysed, lambda r: r.settings.device)),
        ("Command", _values(analysed, lambda r: r.settings.command)),
        ("Max pixels", _values(analysed, lambda r: r.settings.max_pixels, lambda v: f"{int(v):,}")),
    ]
    h_set = kv_rows(None, x, 0, W, settings_rows, key_width=92)
    blocks.append(Block(height=h_set + 2, draw=lambda c, y: kv_rows(c, x, y, W, settings_rows, key_width=92)))

    # summary table ---------------------------------------------------------------------
    blocks.append(heading("Summary", H2, x, W, space_before=8, keep=3))
    blocks += text_blocks(
        summary_counts(all_items) + " The score is the method's image-level probability of an edit; the verdict is "
        "'manipulated' when it reaches the threshold. Appendix B explains how to read the maps and their limits."
        + (
            " A verdict can also follow the file's own declaration (a C2PA manifest or XMP metadata declaring AI "
            "generation or an AI edit); those pages say so and give the method's own verdict."
            if any(i.record.verdict_reason for i in infos)
            else ""
        )
        + (
            f" Page{'s' if comparisons[1] > 1 else ''} {comparisons[0]}"
            + (f"–{comparisons[0] + comparisons[1] - 1}" if comparisons[1] > 1 else "")
            + " put the methods' maps side by side, one page per image analysed by several methods."
            if comparisons[1]
            else ""
        ),
        BODY,
        W,
        x,
    )
    blocks.append(spacer(5))
    blocks += summary_table(x, W, all_items, analysed_infos)

    failed = [i for i in all_items if not i.analysed]
    if failed:
        blocks.append(heading("Failed or missing inputs", H2, x, W, space_before=10, keep=1))
        blocks += text_blocks("These inputs have no page: there is no analysis to show.", SMALL, W, x)
        for item in failed:
            reason = item.error or "no result"
            text = f"{item.name} — {item.status}: {reason}"
            if item.path != item.name and item.path not in reason:
                text += f" (input {item.path})"
            blocks += bullet_blocks(text, BODY, W, x, space_before=2)
    incomplete = [i for i in all_items if i.status == "incomplete"]
    if incomplete:
        blocks.append(heading("Incomplete results", H2, x, W, space_before=10, keep=1))
        for item in incomplete:
            blocks += bullet_blocks(f"{item.name}: {item.error}.", BODY, W, x, space_before=2)
    if warnings:
        blocks.append(heading("Warnings while reading the results", H2, x, W, space_before=10, keep=1))
        for warning in warnings:
            blocks += bullet_blocks(warning, BODY, W, x, space_before=2)
    return blocks


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
    head_h = max(len(lines) for lines in head_lines) * HEAD_CELL.line_height + 6

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
        record = item.record
        verdict = verdict_of(item)
        cells = [
            str(n),
            item.name,
            verdict,
            fmt_score(record.score) if record is not None and item.analysed else "—",
            fmt_percent(record.flagged_fraction) if record is not None and item.analysed else "—",
            str(info.page) if info and info.page else "—",
            ", ".join(info.tags) if info else ("see below" if not item.analysed else ""),
        ]
        styles = [
            CELL,
            CELL,
            Style(
                8.5,
                bold=verdict in ("manipulated", "generated", "failed", "missing"),
                color=VERDICT_COLOURS.get(verdict, ("#111111",))[0],
            ),
            CELL,
            CELL,
            CELL,
            Style(8, color="#333333"),
        ]
        wrapped = []
        for col, text in enumerate(cells):
            lines = styles[col].wrap(text, widths[col] - 2 * pad)
            if len(lines) > 4:
                lines = lines[:3] + [ellipsize(" ".join(lines[3:]), widths[col] - 2 * pad, styles[col].size)]
            wrapped.append(lines)
        row_h = max(len(lines) * s.line_height for lines, s in zip(wrapped, styles)) + 5
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
