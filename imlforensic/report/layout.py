"""A small drawing layer over a matplotlib :class:`~matplotlib.figure.Figure`.

Positions are in points (1/72 inch) from the page's **top-left** corner, y growing downwards,
which makes top-to-bottom page layout straightforward. Text is drawn line by line at computed
baselines (widths come from :mod:`imlforensic.report.text`), images are placed in boxes of
exactly their aspect ratio and embedded unresampled (``interpolation="none"``), so the PDF
holds the pixels the report prepared (see :mod:`imlforensic.report.panels`).

:class:`Flow` paginates a sequence of blocks (lines, table rows, headings) over pages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from imlforensic.report.text import Style, family

MM = 72.0 / 25.4  # points per millimetre


@dataclass(frozen=True)
class Paper:
    name: str
    width: float  # points
    height: float
    margin_x: float = 15 * MM
    margin_top: float = 14 * MM
    margin_bottom: float = 16 * MM

    @property
    def content_width(self) -> float:
        return self.width - 2 * self.margin_x

    @property
    def bottom(self) -> float:  # lowest y that content may reach
        return self.height - self.margin_bottom


PAPERS = {
    "a4": Paper("A4", 595.276, 841.890),
    "letter": Paper("Letter", 612.0, 792.0),
}

GREY = "#555555"
LIGHT = "#9a9a9a"
RULE = "#b8b8b8"


def apply_cmap(values: np.ndarray, cmap: str) -> np.ndarray:
    """Probabilities in [0, 1] to RGB uint8 through a matplotlib colormap (256 levels)."""
    import matplotlib

    lut = np.rint(matplotlib.colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)
    index = np.clip(np.rint(np.asarray(values, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
    return lut[index]


class Canvas:
    """One page (or one figure) to draw on, in points from the top-left corner.

    With ``defer_images`` (report pages), pictures are not given to matplotlib: they are
    encoded and collected in :attr:`placed`, to be painted under the page by
    :func:`imlforensic.report.pdfimages.embed`; the page background is left transparent.
    """

    def __init__(self, width: float, height: float, defer_images: bool = False, lossless: bool = False) -> None:
        self.width = width
        self.height = height
        self.defer_images = defer_images
        self.lossless = lossless
        self.placed: list = []  # PlacedImage
        self.fig = Figure(figsize=(width / 72.0, height / 72.0), dpi=72)
        self.fig.patch.set_facecolor("none" if defer_images else "white")

    # coordinates -------------------------------------------------------------------------
    def _fx(self, x: float) -> float:
        return x / self.width

    def _fy(self, y: float) -> float:
        return 1.0 - y / self.height

    # text --------------------------------------------------------------------------------
    def text(self, x: float, baseline: float, s: str, style: Style, ha: str = "left") -> None:
        if not s:
            return
        self.fig.text(
            self._fx(x),
            self._fy(baseline),
            s,
            ha=ha,
            va="baseline",
            fontsize=style.size,
            fontfamily=family(style.mono),
            fontweight="bold" if style.bold else "normal",
            fontstyle="italic" if style.italic else "normal",
            color=style.color,
        )

    def lines(self, x: float, top: float, lines: list[str], style: Style, ha: str = "left") -> float:
        """Draw ``lines`` from ``top`` (the top of the first line's box); return the y below them."""
        y = top
        for line in lines:
            self.text(x, y + style.size * 0.95, line, style, ha=ha)
            y += style.line_height
        return y

    def paragraph(self, x: float, top: float, width: float, text: str, style: Style) -> float:
        return self.lines(x, top, style.wrap(text, width), style)

    # shapes ------------------------------------------------------------------------------
    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        fill: str | None = None,
        edge: str | None = None,
        lw: float = 0.5,
        zorder: float = 0.0,
    ) -> None:
        self.fig.patches.append(
            Rectangle(
                (self._fx(x), self._fy(y + h)),
                w / self.width,
                h / self.height,
                transform=self.fig.transFigure,
                facecolor=fill or "none",
                edgecolor=edge or "none",
                linewidth=lw if edge else 0,
                zorder=zorder,
            )
        )

    def hline(self, x0: float, x1: float, y: float, color: str = RULE, lw: float = 0.5) -> None:
        self.rect(x0, y - lw / 2, x1 - x0, lw, fill=color)

    # images ------------------------------------------------------------------------------
    def image(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        array: np.ndarray,
        cmap: str | None = None,
        border: str | None = RULE,
    ) -> None:
        """Place ``array`` (RGB / grey uint8, or probabilities with ``cmap``) to fill the box exactly."""
        if array.ndim == 2 and cmap is not None:
            array = apply_cmap(array, cmap)
        if self.defer_images:
            from imlforensic.report.pdfimages import encode

            self.placed.append(encode(array, x, y, w, h, lossless=self.lossless))
        else:
            ax = self.fig.add_axes((self._fx(x), self._fy(y + h), w / self.width, h / self.height))
            ax.set_axis_off()
            ax.imshow(
                array,
                cmap="gray" if array.ndim == 2 else None,
                vmin=0,
                vmax=255,
                interpolation="none",
                aspect="auto",
                resample=False,
            )
            ax.set_xlim(-0.5, array.shape[1] - 0.5)
            ax.set_ylim(array.shape[0] - 0.5, -0.5)
        if border:
            self.rect(x - 0.25, y - 0.25, w + 0.5, h + 0.5, edge=border, lw=0.5, zorder=5)

    def save_pdf(self, pages) -> None:  # pages: matplotlib PdfPages
        pages.savefig(self.fig)

    def close(self) -> None:
        self.fig.clear()


def fit(aspect: float, max_w: float, max_h: float) -> tuple[float, float]:
    """Largest (w, h) with ``w / h == aspect`` inside ``max_w`` x ``max_h``."""
    w = min(max_w, max_h * aspect)
    return w, w / aspect


# flow layout ----------------------------------------------------------------------------


@dataclass
class Block:
    """A piece of a flowing page: its height and how to draw it at a given top y."""

    height: float
    draw: Callable[[Canvas, float], object]  # what it returns is ignored
    keep_with_next: int = 0  # blocks after this one that must be on the same page (headings)
    header: Block | None = None  # repeated at the top of a page this block starts (table headers)
    space_before: float = 0.0  # dropped at the top of a page


@dataclass
class FlowPage:
    placed: list[tuple[Block, float]] = field(default_factory=list)


def paginate(blocks: list[Block], first_top: float, top: float, bottom: float) -> list[FlowPage]:
    """Distribute blocks over pages: the first page's content starts at ``first_top``, the others at ``top``."""
    pages = [FlowPage()]
    y = first_top
    i = 0
    while i < len(blocks):
        block = blocks[i]
        end = i  # the last block that must share this block's page (keeps chain)
        j = i
        while j <= end and j < len(blocks):
            end = max(end, j + blocks[j].keep_with_next)
            j += 1
        group = blocks[i : end + 1]
        needed = (block.space_before if pages[-1].placed else 0.0) + sum(
            b.height + (b.space_before if k else 0.0) for k, b in enumerate(group)
        )
        if y + needed > bottom and pages[-1].placed:
            pages.append(FlowPage())
            y = top
            if block.header is not None and block.header is not block:
                pages[-1].placed.append((block.header, y))
                y += block.header.height
        if pages[-1].placed:
            y += block.space_before
        pages[-1].placed.append((block, y))
        y += block.height
        i += 1
    return pages


def _draw_line(c: Canvas, y: float, x: float, line: str, style: Style) -> float:
    return c.lines(x, y, [line], style)


def text_blocks(
    text: str, style: Style, width: float, x: float, space_before: float = 0.0, keep_with_next: int = 0
) -> list[Block]:
    """One block per wrapped line, so paragraphs can break across pages, but never leaving a
    paragraph's first or last line alone on a page."""
    lines = style.wrap(text, width)
    blocks = []
    for k, line in enumerate(lines):
        keep = 0
        if k == 0:
            keep = max(keep_with_next, 1 if len(lines) > 1 else 0)
        elif k == len(lines) - 2:
            keep = 1
        blocks.append(
            Block(
                height=style.line_height,
                draw=functools.partial(_draw_line, x=x, line=line, style=style),
                space_before=space_before if k == 0 else 0.0,
                keep_with_next=keep,
            )
        )
    return blocks


def spacer(height: float) -> Block:
    return Block(height=height, draw=lambda c, y: None)
