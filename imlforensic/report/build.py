"""Assemble a report: plan the pages, draw them into one PDF (written atomically), export figures."""

from __future__ import annotations

import datetime as _dt
import functools
import io
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import matplotlib
from matplotlib.backends.backend_pdf import PdfPages

from imlforensic import __version__
from imlforensic.io.atomic import atomic_path
from imlforensic.io.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from imlforensic.report.appendix import appendix_blocks
from imlforensic.report.collect import Collection, ReportItem
from imlforensic.report.compare import compare_page, comparison_groups
from imlforensic.report.cover import cover_blocks
from imlforensic.report.evidence import evidence_notes
from imlforensic.report.figures import export_figures
from imlforensic.report.image_page import PageImages, image_page
from imlforensic.report.layout import PAPERS, Canvas, FlowPage, paginate
from imlforensic.report.metadata import find_original
from imlforensic.report.panels import heatmap_values, prepare, read_png, target_width
from imlforensic.report.pdfimages import embed
from imlforensic.report.style import ItemInfo, ReportMeta, card_line, draw_footer

DEFAULT_TITLE = "Image analysis report"
DEFAULT_PPI = 200.0
LARGE_FACTOR = 2.0  # images reduced by at least this much on the page get a note

RC: dict[str, Any] = {
    "pdf.fonttype": 42,  # embed TrueType: real, selectable, searchable text
    "pdf.compression": 6,
    "axes.unicode_minus": False,
}


@dataclass
class ReportOptions:
    title: str = DEFAULT_TITLE
    case: str = ""
    analyst: str = ""
    date: str | None = None  # default: now
    paper: str = "a4"  # "a4" | "letter"
    ppi: float = DEFAULT_PPI  # resolution of the pictures on the pages
    figures: Path | None = None
    figure_width_mm: float = 160.0
    max_pixels: int = DEFAULT_MAX_PIXELS
    lossless: bool = False  # Flate instead of JPEG for the pictures in the PDFs


@dataclass
class ReportResult:
    path: Path
    pages: int
    images: int  # pages of images
    failed: list[ReportItem] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0


def _now() -> str:
    return _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()


def plan_item(item: ReportItem, meta: ReportMeta, decode_check: bool = True) -> ItemInfo:
    assert item.record is not None
    record = item.record
    original = find_original(record, decode=False)
    width, height = record.input.width or 0, record.input.height or 0
    if not (width and height):
        for path in item.files.values():
            array = read_png(path)
            if array is not None:
                height, width = array.shape[:2]
                break
    info = ItemInfo(item=item, original=original, width=width, height=height)
    notes, tags = evidence_notes(record), []
    if record.verdict_reason:
        tags.append("verdict from the file's declaration")
    if item.status == "incomplete" and item.error:
        notes.append(f"Incomplete results: {item.error}.")
        tags.append("outputs incomplete")
    if original.status != "ok":
        notes.append(original.message)
        tags.append(
            {"missing": "original missing", "changed": "original changed"}.get(original.status, "original unreadable")
        )
    if original.metadata is not None:
        notes += [n for n in original.metadata.notes if n not in notes]
        if original.metadata.editors:
            tags.append("editing software: " + ", ".join(original.metadata.editors))
        elif original.metadata.photoshop_irb:
            tags.append("Photoshop resource block")
        if original.metadata.generators or original.metadata.generation_parameters:
            tags.append("generator in metadata")
    reliability = record.reliability
    if reliability is not None and reliability.notes:
        outside = "Outside what the method was made for (photographs): " + "; ".join(reliability.notes) + "."
        if reliability.conservative_threshold is not None:
            outside += (
                f" The decision was made more conservative: a score of {reliability.conservative_threshold:.2f} "
                "was needed to call it manipulated."
            )
        notes.append(outside)
        tags.extend(f"outside domain: {flag}" for flag in reliability.flags if flag != "huge")
    if record.verdict == "generated":
        notes.append(
            "Judged fully generated: the whole picture is likely synthetic, a whole-image finding; no region is "
            "outlined, and the map is not an outline of an edited region."
        )
    if item.refined:
        tags.append("refined")
    col_w = (meta.paper.content_width - 14) / 2
    factor = width / target_width(col_w, meta.ppi) if width else 1.0
    if factor >= LARGE_FACTOR:
        notes.append(
            f"Large image ({width:,} × {height:,} px): the pictures on this page are downscaled about {factor:.0f}× "
            "to fit it; small edits may not be visible at this scale. The full-resolution maps are in the results folder."
        )
        tags.append(f"downscaled {factor:.0f}×")
    info.notes, info.tags = notes, tags
    return info


def load_page_images(info: ItemInfo, max_pixels: int, with_original: bool = True) -> PageImages:
    """Decode what the page of ``info`` shows; problems become notes on the page, never errors."""
    images = PageImages()
    item = info.item
    if with_original and info.original.status == "ok" and info.original.path is not None:
        try:
            loaded = load_image(info.original.path, max_pixels=max(max_pixels, info.width * info.height))
        except ImageLoadError as exc:
            images.problems.append(f"The original could not be decoded: {exc}")
        else:
            if loaded.sha256 != info.record.input.sha256:  # changed since planning
                images.problems.append("The original changed while the report was made: not shown.")
            else:
                images.original = loaded.rgb
                if info.width and (loaded.width, loaded.height) != (info.width, info.height):
                    images.problems.append(
                        f"The original decodes to {loaded.width} × {loaded.height} px, the record says "
                        f"{info.width} × {info.height} px."
                    )
    files = item.files
    decoded = {
        kind: read_png(path) for kind, path in files.items() if kind in ("heatmap", "overlay", "coarse_overlay", "mask")
    }
    if decoded.get("heatmap") is None and "heatmap_color" in files:  # the colour map only as a fallback
        decoded["heatmap_color"] = read_png(files["heatmap_color"])
    for kind, array in decoded.items():
        if array is None:
            images.problems.append(f"{files[kind].name} could not be decoded.")
    grey, colour = decoded.get("heatmap"), decoded.get("heatmap_color")
    if grey is not None:
        images.heatmap = heatmap_values(grey)
    elif colour is not None:
        images.heatmap_rgb = colour
    images.overlay = decoded.get("overlay")
    images.coarse_overlay = decoded.get("coarse_overlay")
    images.mask = decoded.get("mask")
    return images


@dataclass
class Plan:
    """Everything laid out, nothing drawn: page numbers are known."""

    meta: ReportMeta
    items: list[ReportItem]
    infos: list[ItemInfo]
    cover: list[FlowPage]
    appendix: list[FlowPage]
    comparisons: list[list[ItemInfo]] = field(default_factory=list)  # images analysed by several methods

    @property
    def total(self) -> int:
        return len(self.cover) + len(self.infos) + len(self.comparisons) + len(self.appendix)


def plan_report(collection: Collection, options: ReportOptions) -> Plan:
    paper = PAPERS[options.paper.lower()]
    meta = ReportMeta(
        title=options.title or DEFAULT_TITLE,
        case=options.case,
        analyst=options.analyst,
        date=options.date or _now(),
        paper=paper,
        tool_version=__version__,
        ppi=options.ppi,
        results=[str(f.resolve()) for f in collection.folders],
    )
    items = collection.items
    infos = [plan_item(item, meta) for item in items if item.analysed]
    for index, info in enumerate(infos, start=1):
        info.index = index
    # results made with different methods or thresholds: say which on each summary row
    methods = {card_line(info.record.method) for info in infos}
    thresholds = {info.record.threshold for info in infos}
    for info in infos:
        extra = []
        if len(methods) > 1:
            extra.append(card_line(info.record.method))
        threshold = info.record.threshold
        if len(thresholds) > 1 and threshold is not None:
            extra.append(f"threshold {threshold:.2f}")
        info.tags[:0] = extra
    by_id = {id(info.item): info for info in infos}
    top, bottom = paper.margin_top, paper.bottom
    comparisons = comparison_groups(infos)
    compared = (len(infos) + 2, len(comparisons))  # a guess of the same length, for the first layout
    cover = paginate(cover_blocks(meta, infos, items, by_id, collection.warnings, compared), top, top, bottom)
    for info in infos:
        info.page = len(cover) + info.index
    # again, now that the summary table can cite page numbers (its row heights do not change)
    compared = (len(cover) + len(infos) + 1, len(comparisons))
    cover = paginate(cover_blocks(meta, infos, items, by_id, collection.warnings, compared), top, top, bottom)
    appendix = paginate(appendix_blocks(meta, infos), top, top, bottom)
    return Plan(meta=meta, items=items, infos=infos, cover=cover, appendix=appendix, comparisons=comparisons)


def _draw_flow(c: Canvas, flow_page: FlowPage) -> None:
    for block, y in flow_page.placed:
        block.draw(c, y)


def _image_page_drawer(info: ItemInfo, meta: ReportMeta, total: int, images: PageImages) -> Callable[[Canvas], object]:
    return functools.partial(image_page, info=info, meta=meta, total_images=total, images=images, prepare_fn=prepare)


def build_report(
    collection: Collection,
    output: Path,
    options: ReportOptions,
    progress: Callable[[int, int], None] | None = None,
    sections: tuple[str, ...] = ("cover", "images", "appendix"),
) -> ReportResult:
    """Write the PDF report (and figures) for ``collection`` to ``output`` (atomically).

    ``sections`` can leave parts out (previews, tests); page numbers stay those of the whole report.
    """
    started = time.perf_counter()
    plan = plan_report(collection, options)
    meta, paper, total = plan.meta, plan.meta.paper, plan.total
    output = Path(output)
    drawn = io.BytesIO()
    figures: list[Path] = []
    placed: list[list] = []
    figure_bases: set[str] = set()

    def figure_base(info: ItemInfo) -> str:
        """The results' name of the image, made unique (two results folders may both hold "photo")."""
        base = info.item.key or Path(info.item.path).stem
        candidate, n = base, 2
        while candidate.lower() in figure_bases:
            candidate, n = f"{base}-{n}", n + 1
        figure_bases.add(candidate.lower())
        return candidate

    def page(pdf: PdfPages, number: int, draw: Callable[[Canvas], object]) -> None:
        canvas = Canvas(paper.width, paper.height, defer_images=True, lossless=options.lossless)
        draw(canvas)
        draw_footer(canvas, meta, number, total)
        canvas.save_pdf(pdf)
        placed.append(canvas.placed)
        canvas.close()

    def flow(pdf: PdfPages, pages: list[FlowPage], first_number: int) -> None:
        for k, flow_page in enumerate(pages):
            page(pdf, first_number + k, functools.partial(_draw_flow, flow_page=flow_page))

    font_log = logging.getLogger("matplotlib.font_manager")
    font_log_level = font_log.level
    font_log.setLevel(logging.ERROR)  # "Failed to find font weight bold for <fallback font>": harmless
    try:
        with matplotlib.rc_context(cast(Any, RC)), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph .* missing from")
            metadata = {
                "Title": meta.title,
                "Author": meta.analyst or None,
                "Subject": meta.case or None,
                "Keywords": "image forensics; manipulation localization; imlforensic",
                "Creator": f"imlforensic {__version__}",
            }
            with PdfPages(drawn, metadata={k: v for k, v in metadata.items() if v}) as pdf:
                if "cover" in sections:
                    flow(pdf, plan.cover, 1)
                for info in plan.infos if "images" in sections else []:
                    assert info.page is not None  # numbered by plan_report
                    try:
                        images = load_page_images(info, options.max_pixels)
                        page(pdf, info.page, _image_page_drawer(info, meta, len(plan.infos), images))
                    except (MemoryError, Exception) as exc:  # one bad result must not cost the whole report
                        images = PageImages()
                        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
                        info.notes.append(
                            f"The pictures of this page could not be prepared ({reason}); "
                            "the saved outputs are in the results folder."
                        )
                        page(pdf, info.page, _image_page_drawer(info, meta, len(plan.infos), images))
                    if options.figures is not None:
                        figures += export_figures(
                            images,
                            options.figures,
                            figure_base(info),
                            info.record.threshold,
                            refined=info.item.refined,
                            width_mm=options.figure_width_mm,
                            lossless=options.lossless,
                        )
                    if progress is not None:
                        progress(info.index, len(plan.infos))
                first_comparison = len(plan.cover) + len(plan.infos) + 1
                for k, group in enumerate(plan.comparisons if "images" in sections else []):
                    pictures = [
                        load_page_images(info, options.max_pixels, with_original=j == 0) for j, info in enumerate(group)
                    ]
                    draw = functools.partial(compare_page, group=group, meta=meta, images=pictures, prepare_fn=prepare)
                    page(pdf, first_comparison + k, draw)
                if "appendix" in sections:
                    flow(pdf, plan.appendix, first_comparison + len(plan.comparisons))
        with atomic_path(output) as tmp:
            embed(drawn.getvalue(), placed, [paper.height] * len(placed), tmp)
    finally:
        font_log.setLevel(font_log_level)
    return ReportResult(
        path=output,
        pages=total,
        images=len(plan.infos),
        failed=[i for i in plan.items if not i.analysed],
        figures=figures,
        seconds=time.perf_counter() - started,
    )
