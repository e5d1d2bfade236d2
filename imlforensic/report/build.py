"""Assemble a report: plan the pages, draw them into one PDF (written atomically), export figures."""

from __future__ import annotations

import datetime as _dt
import io
import os
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import matplotlib
from matplotlib.backends.backend_pdf import PdfPages

from imlforensic import __version__
from imlforensic.io.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image
from imlforensic.report.collect import Collection, ReportItem
from imlforensic.report.figures import export_figures
from imlforensic.report.layout import PAPERS, Canvas, paginate
from imlforensic.report.metadata import find_original
from imlforensic.report.pages import (
    ItemInfo, PageImages, ReportMeta, appendix_blocks, cover_blocks, draw_footer, image_page,
)
from imlforensic.report.panels import heatmap_values, prepare, read_png, target_width
from imlforensic.report.pdfimages import embed

DEFAULT_TITLE = "Image analysis report"
DEFAULT_PPI = 200.0
LARGE_FACTOR = 2.0  # images reduced by at least this much on the page get a note

RC = {
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
    record = item.record or {}
    inp = record.get("input") or {}
    original = find_original(record, decode=False)
    width, height = int(inp.get("width") or 0), int(inp.get("height") or 0)
    if not (width and height):
        for path in item.files.values():
            array = read_png(path)
            if array is not None:
                height, width = array.shape[:2]
                break
    info = ItemInfo(item=item, original=original, width=width, height=height)
    notes, tags = [], []
    if item.status == "incomplete" and item.error:
        notes.append(f"Incomplete results: {item.error}.")
        tags.append("outputs incomplete")
    if original.status != "ok":
        notes.append(original.message)
        tags.append({"missing": "original missing", "changed": "original changed"}.get(original.status, "original unreadable"))
    if original.metadata is not None:
        notes += original.metadata.notes
        if original.metadata.editors:
            tags.append("editing software: " + ", ".join(original.metadata.editors))
        elif original.metadata.photoshop_irb:
            tags.append("Photoshop resource block")
        if original.metadata.generators or original.metadata.generation_parameters:
            tags.append("generator in metadata")
    if record.get("verdict") == "generated":
        notes.append("Judged generated: the whole picture is likely synthetic, so the map is not an outline of an "
                      "edited region.")
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


def load_page_images(info: ItemInfo, max_pixels: int) -> PageImages:
    images = PageImages()
    item = info.item
    if info.original.status == "ok" and info.original.path is not None:
        try:
            loaded = load_image(info.original.path, max_pixels=max(max_pixels, info.width * info.height))
        except ImageLoadError as exc:
            images.problems.append(f"The original could not be decoded: {exc}")
        else:
            if loaded.sha256 != (info.record.get("input") or {}).get("sha256"):  # changed since planning
                images.problems.append("The original changed while the report was made: not shown.")
            else:
                images.original = loaded.rgb
                if (loaded.width, loaded.height) != (info.width, info.height) and info.width:
                    images.problems.append(
                        f"The original decodes to {loaded.width} × {loaded.height} px, the record says "
                        f"{info.width} × {info.height} px."
                    )
    files = item.files
    if "heatmap" in files:
        grey = read_png(files["heatmap"])
        if grey is not None:
            images.heatmap = heatmap_values(grey)
    if images.heatmap is None and "heatmap_color" in files:
        images.heatmap_rgb = read_png(files["heatmap_color"])
    for kind in ("overlay", "coarse_overlay", "mask"):
        if kind in files:
            setattr(images, kind, read_png(files[kind]))
    for kind in ("heatmap", "overlay", "mask", "coarse_overlay"):
        if kind in files and getattr(images, kind if kind != "heatmap" else "heatmap") is None and not (kind == "heatmap" and images.heatmap_rgb is not None):
            images.problems.append(f"{files[kind].name} could not be decoded.")
    return images


def build_report(collection: Collection, output: Path, options: ReportOptions,
                 progress: Callable[[int, int], None] | None = None) -> ReportResult:
    """Write the PDF report (and figures) for ``collection`` to ``output``."""
    started = time.perf_counter()
    paper = PAPERS[options.paper.lower()]
    meta = ReportMeta(
        title=options.title or DEFAULT_TITLE, case=options.case, analyst=options.analyst,
        date=options.date or _now(), paper=paper, tool_version=__version__, ppi=options.ppi,
        results=[str(f) for f in collection.folders],
    )
    items = collection.items
    analysed = [item for item in items if item.analysed]
    infos = [plan_item(item, meta) for item in analysed]
    for index, info in enumerate(infos, start=1):
        info.index = index
    by_id = {id(info.item): info for info in infos}

    top, bottom = paper.margin_top, paper.bottom
    cover = paginate(cover_blocks(meta, infos, items, by_id, collection.warnings), top, top, bottom)
    for info in infos:
        info.page = len(cover) + info.index
    cover = paginate(cover_blocks(meta, infos, items, by_id, collection.warnings), top, top, bottom)  # with page numbers
    appendix = paginate(appendix_blocks(meta, infos), top, top, bottom)
    total = len(cover) + len(infos) + len(appendix)

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    os.close(fd)
    drawn = io.BytesIO()
    figures: list[Path] = []
    placed: list[list] = []
    page_no = 0

    def new_canvas() -> Canvas:
        return Canvas(paper.width, paper.height, defer_images=True, lossless=options.lossless)

    def finish(canvas: Canvas, pdf: PdfPages) -> None:
        draw_footer(canvas, meta, page_no, total)
        canvas.save_pdf(pdf)
        placed.append(canvas.placed)
        canvas.close()

    try:
        with matplotlib.rc_context(RC), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"Glyph .* missing from")
            metadata = {
                "Title": meta.title, "Author": meta.analyst or None, "Subject": meta.case or None,
                "Keywords": "image forensics; manipulation localization; imlforensic",
                "Creator": f"imlforensic {__version__}",
            }
            with PdfPages(drawn, metadata={k: v for k, v in metadata.items() if v}) as pdf:
                for flow_page in cover:
                    page_no += 1
                    canvas = new_canvas()
                    for block, y in flow_page.placed:
                        block.draw(canvas, y)
                    finish(canvas, pdf)
                for info in infos:
                    page_no += 1
                    images = load_page_images(info, options.max_pixels)
                    canvas = new_canvas()
                    image_page(canvas, info, meta, len(infos), images, prepare)
                    finish(canvas, pdf)
                    if options.figures is not None:
                        base = info.item.key or Path(info.item.path).stem
                        figures += export_figures(images, options.figures, base, info.record.get("threshold"),
                                                  refined=info.item.refined, width_mm=options.figure_width_mm,
                                                  lossless=options.lossless)
                    if progress is not None:
                        progress(info.index, len(infos))
                for flow_page in appendix:
                    page_no += 1
                    canvas = new_canvas()
                    for block, y in flow_page.placed:
                        block.draw(canvas, y)
                    finish(canvas, pdf)
        embed(drawn.getvalue(), placed, [paper.height] * len(placed), Path(tmp_name))
        os.replace(tmp_name, output)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return ReportResult(
        path=output, pages=total, images=len(infos), failed=[i for i in items if not i.analysed],
        figures=figures, seconds=time.perf_counter() - started,
    )
