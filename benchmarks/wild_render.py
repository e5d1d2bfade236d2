"""Authentic pictures that the wild benchmark renders itself (benchmarks/wild_corpus.py):
screenshots of text and of interfaces, charts, logos and scanned-looking documents.

None of them is edited, and all of them are material an analyst meets (a screenshot of a post,
a chart from a report, a scanned letter) on which a photo-forensic model is outside what it was
made for: flat colours, sharp antialiased edges, text, no camera noise. Fonts are the DejaVu
fonts bundled with matplotlib, so the pictures are the same on every machine with the same
library versions. Every function takes a numpy random generator and returns H x W x 3 uint8 RGB.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # after choosing the non-interactive backend

WORDS = (
    "the of and to in is that for it as with was on be by at this are from or have an they which one you "
    "were all we when there can more if no out so said what up its about into than them only could new "
    "time some these two may first then do any like my now over such our man me even most made after also "
    "did many before must through back years where much your way well down should because each just those "
    "people how too little state good very make world still own see men work long get here between both "
    "life being under never day same another know while last might us great old year off come since against "
    "go came right used take three report data system value image sample result method analysis figure "
    "table model network camera photo light colour region detail review policy account payment invoice "
    "meeting project budget schedule service customer update release version notice"
).split()
SCREEN_SIZES = ((800, 600), (1024, 768), (1280, 800), (1366, 768), (1440, 900), (1920, 1080))
PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (23, 190, 207),
    (188, 189, 34),
    (227, 119, 194),
)
CODE = (
    "def {w}({v}):",
    "    return {v} + {n}",
    "for {v} in range({n}):",
    "    {v}.append({w}({v}))",
    "if {v} is None:",
    "    raise ValueError('{w} {w}')",
    "import {w}",
    "class {W}({W}):",
    "    {v} = {{'{w}': {n}}}",
    "# {w} {w} {w}",
    "print(f'{w}: {{{v}}}')",
    "",
)


@cache
def font(size: int, mono: bool = False, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans" + ("Mono" if mono else "") + ("-Bold" if bold else "") + ".ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def words(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(WORDS, n))


def sentence(rng: np.random.Generator) -> str:
    text = words(rng, int(rng.integers(5, 16)))
    return text[0].upper() + text[1:] + "."


def colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return PALETTE[int(rng.integers(len(PALETTE)))]


def wrap(text: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels."""
    lines, line = [], ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if line and face.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    return lines + ([line] if line else [])


def _window(rng: np.random.Generator, dark: bool) -> tuple[Image.Image, ImageDraw.ImageDraw, tuple[int, int, int, int]]:
    """A desktop with one window: the canvas, its drawing context and the window's content box."""
    width, height = SCREEN_SIZES[int(rng.integers(len(SCREEN_SIZES)))]
    desktop = tuple(int(v) for v in rng.integers(40, 200, 3))
    image = Image.new("RGB", (width, height), desktop)
    draw = ImageDraw.Draw(image)
    margin = int(rng.integers(0, max(1, width // 12)))
    x0, y0, x1, y1 = margin, margin // 2, width - margin, height - margin // 2
    draw.rectangle((x0, y0, x1, y1), fill=(30, 30, 34) if dark else (250, 250, 250), outline=(90, 90, 90))
    bar = 30
    draw.rectangle((x0, y0, x1, y0 + bar), fill=(55, 55, 60) if dark else (222, 222, 226))
    for i, fill in enumerate(((237, 106, 94), (245, 191, 79), (98, 197, 84))):
        cx = x0 + 16 + 20 * i
        draw.ellipse((cx - 6, y0 + bar // 2 - 6, cx + 6, y0 + bar // 2 + 6), fill=fill)
    draw.text(
        ((x0 + x1) // 2, y0 + bar // 2),
        words(rng, 3).title(),
        font=font(13),
        anchor="mm",
        fill=(200, 200, 200) if dark else (60, 60, 60),
    )
    return image, draw, (x0, y0 + bar, x1, y1)


def screenshot_text(rng: np.random.Generator) -> np.ndarray:
    """A window of text: a code editor with line numbers, a terminal, or an article."""
    style = rng.choice(["editor", "terminal", "article"])
    dark = style == "terminal" or bool(rng.random() < 0.5)
    image, draw, (x0, y0, x1, y1) = _window(rng, dark)
    ink = (220, 220, 220) if dark else (30, 30, 30)
    size = int(rng.integers(12, 19))
    face = font(size, mono=style != "article")
    step = int(size * 1.45)
    y = y0 + 10
    if style == "article":
        draw.text((x0 + 24, y), words(rng, 5).title(), font=font(size + 10, bold=True), fill=ink)
        y += 2 * (size + 10)
        while y < y1 - step:
            for line in wrap(" ".join(sentence(rng) for _ in range(4)), face, x1 - x0 - 60):
                if y >= y1 - step:
                    break
                draw.text((x0 + 24, y), line, font=face, fill=ink)
                y += step
            y += step // 2
    else:
        number = 1
        while y < y1 - step:
            if style == "editor":
                draw.text((x0 + 8, y), f"{number:4d}", font=face, fill=(120, 120, 120))
                template = CODE[int(rng.integers(len(CODE)))]
                line = template.format(
                    w=str(rng.choice(WORDS)),
                    W=str(rng.choice(WORDS)).title(),
                    v=str(rng.choice(WORDS))[:3],
                    n=int(rng.integers(100)),
                )
                draw.text(
                    (x0 + 8 + 6 * size, y),
                    line,
                    font=face,
                    fill=colour(rng) if line.startswith(("def", "class", "#")) else ink,
                )
            else:
                prompt = "$ " if rng.random() < 0.3 else ""
                draw.text(
                    (x0 + 8, y),
                    prompt + words(rng, int(rng.integers(2, 12))),
                    font=face,
                    fill=(120, 220, 120) if prompt else ink,
                )
            y += step
            number += 1
    draw.rectangle((x1 - 12, y0, x1, y1), fill=(60, 60, 64) if dark else (235, 235, 235))
    top = int(rng.integers(y0, max(y0 + 1, y1 - 120)))
    draw.rounded_rectangle(
        (x1 - 10, top, x1 - 2, top + 100), radius=4, fill=(120, 120, 120) if dark else (190, 190, 190)
    )
    return np.asarray(image)


def screenshot_ui(rng: np.random.Generator) -> np.ndarray:
    """A dialog or settings window: sidebar, labelled text fields, check boxes, buttons, a progress bar."""
    dark = bool(rng.random() < 0.4)
    image, draw, (x0, y0, x1, y1) = _window(rng, dark)
    ink = (225, 225, 225) if dark else (35, 35, 35)
    field = (50, 50, 56) if dark else (255, 255, 255)
    accent = colour(rng)
    face = font(int(rng.integers(12, 16)))
    side = x0 + (x1 - x0) // 4
    draw.rectangle((x0, y0, side, y1), fill=(40, 40, 46) if dark else (240, 240, 243))
    for i in range(int(rng.integers(4, 12))):
        y = y0 + 16 + 34 * i
        if y > y1 - 30:
            break
        if i == 0:
            draw.rectangle((x0, y - 6, side, y + 24), fill=accent)
        draw.rounded_rectangle((x0 + 12, y, x0 + 30, y + 18), radius=4, fill=colour(rng))
        draw.text((x0 + 40, y + 9), words(rng, 2).title(), font=face, fill=ink, anchor="lm")
    y = y0 + 20
    while y < y1 - 90:
        kind = rng.choice(["field", "check", "progress", "text"])
        if kind == "field":
            draw.text((side + 24, y), words(rng, 2).title() + ":", font=face, fill=ink)
            draw.rectangle((side + 160, y - 4, x1 - 40, y + 22), fill=field, outline=(120, 120, 120))
            draw.text((side + 166, y), words(rng, int(rng.integers(1, 5))), font=face, fill=ink)
        elif kind == "check":
            checked = bool(rng.random() < 0.5)
            draw.rectangle(
                (side + 24, y, side + 40, y + 16), fill=accent if checked else field, outline=(120, 120, 120)
            )
            if checked:
                draw.line((side + 27, y + 8, side + 31, y + 13, side + 38, y + 3), fill=(255, 255, 255), width=2)
            draw.text((side + 50, y), sentence(rng)[:60], font=face, fill=ink)
        elif kind == "progress":
            draw.rounded_rectangle(
                (side + 24, y, x1 - 40, y + 12), radius=6, fill=(90, 90, 90) if dark else (220, 220, 220)
            )
            done = side + 24 + int(rng.uniform(0.05, 1) * (x1 - 64 - side))
            draw.rounded_rectangle((side + 24, y, done, y + 12), radius=6, fill=accent)
        else:
            for line in wrap(sentence(rng), face, x1 - side - 80)[:2]:
                draw.text((side + 24, y), line, font=face, fill=ink)
                y += 20
        y += 40
    for i, label in enumerate(("Cancel", "Apply", "OK")):
        bx = x1 - 40 - 100 * (3 - i)
        fill = accent if label == "OK" else field
        draw.rounded_rectangle((bx, y1 - 50, bx + 88, y1 - 20), radius=6, fill=fill, outline=(120, 120, 120))
        draw.text((bx + 44, y1 - 35), label, font=face, anchor="mm", fill=(255, 255, 255) if label == "OK" else ink)
    return np.asarray(image)


def chart(rng: np.random.Generator) -> np.ndarray:
    """A matplotlib chart (bars, lines, scatter, pie, histogram or areas) in one of its styles."""
    style = str(rng.choice(["default", "ggplot", "bmh", "seaborn-v0_8", "fivethirtyeight", "grayscale"]))
    kind = rng.choice(["bar", "line", "scatter", "pie", "hist", "area"])
    with plt.style.context(style):
        fig, ax = plt.subplots(
            figsize=(float(rng.uniform(5, 10)), float(rng.uniform(3.5, 6))), dpi=int(rng.integers(80, 140))
        )
        n = int(rng.integers(4, 12))
        labels = [str(w)[:8] for w in rng.choice(WORDS, n, replace=False)]
        if kind == "bar":
            ax.bar(
                labels,
                rng.uniform(1, 100, n),
                color=[np.array(colour(rng)) / 255 for _ in range(n)] if rng.random() < 0.3 else None,
            )
        elif kind == "line":
            for _ in range(int(rng.integers(1, 4))):
                ax.plot(
                    np.cumsum(rng.normal(0, 1, 50)), label=words(rng, 1), marker="o" if rng.random() < 0.3 else None
                )
            ax.legend()
        elif kind == "scatter":
            ax.scatter(
                rng.normal(0, 1, 200),
                rng.normal(0, 1, 200),
                c=rng.uniform(0, 1, 200),
                s=rng.uniform(5, 60, 200),
                alpha=0.7,
            )
        elif kind == "pie":
            ax.pie(rng.uniform(1, 10, min(n, 6)), labels=labels[: min(n, 6)], autopct="%1.0f%%")
        elif kind == "hist":
            ax.hist(rng.normal(0, 1, 500), bins=int(rng.integers(10, 40)))
        else:
            ax.stackplot(np.arange(30), rng.uniform(0, 5, (3, 30)).cumsum(1), labels=labels[:3])
            ax.legend(loc="upper left")
        ax.set_title(words(rng, 4).title())
        if kind != "pie":
            ax.set_xlabel(words(rng, 2))
            ax.set_ylabel(words(rng, 1))
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
    return np.asarray(Image.open(buffer).convert("RGB"))


def logo(rng: np.random.Generator) -> np.ndarray:
    """A flat logo: a shape with initials and a name, on a plain or gradient background."""
    width = int(rng.choice([256, 400, 512, 800, 1024]))
    height = width if rng.random() < 0.5 else width // 2
    light = bool(rng.random() < 0.6)
    image = Image.new("RGB", (width, height), (255, 255, 255) if light else colour(rng))
    if rng.random() < 0.3:  # vertical gradient
        top, bottom = np.array(colour(rng), float), np.array(colour(rng), float)
        ramp = np.linspace(0, 1, height)[:, None, None]
        image = Image.fromarray(
            np.broadcast_to((top * (1 - ramp) + bottom * ramp).astype(np.uint8), (height, width, 3)).copy()
        )
    draw = ImageDraw.Draw(image)
    size = int(min(width, height) * rng.uniform(0.35, 0.6))
    cx, cy = (width // 4, height // 2) if height < width else (width // 2, height // 2 - size // 6)
    box = (cx - size // 2, cy - size // 2, cx + size // 2, cy + size // 2)
    shape = rng.choice(["circle", "square", "triangle", "hexagon", "ring"])
    fill = colour(rng)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rounded_rectangle(box, radius=size // 5, fill=fill)
    elif shape == "ring":
        draw.ellipse(box, outline=fill, width=max(4, size // 8))
    else:
        draw.regular_polygon(
            (cx, cy, size // 2), 3 if shape == "triangle" else 6, rotation=float(rng.uniform(0, 60)), fill=fill
        )
    name = str(rng.choice(WORDS)).title() + str(rng.choice(WORDS))
    draw.text((cx, cy), name[:2].upper(), font=font(max(10, size // 3), bold=True), anchor="mm", fill=(255, 255, 255))
    ink = (40, 40, 40) if light else (255, 255, 255)
    if height < width:
        draw.text((width // 2, height // 2), name, font=font(max(10, height // 6), bold=True), anchor="lm", fill=ink)
    else:
        draw.text(
            (width // 2, cy + size // 2 + height // 12),
            name,
            font=font(max(10, height // 12), bold=True),
            anchor="mm",
            fill=ink,
        )
    return np.asarray(image.convert("RGB"))


def document(rng: np.random.Generator) -> np.ndarray:
    """A scanned-looking A4 page: title, paragraphs, sometimes a table; slightly rotated, on tinted
    paper with uneven light, noise and a little blur (the JPEG comes from the caller's pipeline)."""
    dpi = int(rng.choice([100, 120, 150]))
    width, height = round(8.27 * dpi), round(11.69 * dpi)
    page = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    size = max(9, round(dpi * 0.15))
    face, margin = font(size, bold=False), dpi
    y = margin
    draw.text((margin, y), words(rng, 5).title(), font=font(round(size * 1.8), bold=True), fill=(0, 0, 0))
    y += size * 4
    while y < height - margin - 4 * size:
        if rng.random() < 0.15:  # a small table
            rows, cols = int(rng.integers(3, 7)), int(rng.integers(2, 5))
            cell = (width - 2 * margin) // cols
            for r in range(rows + 1):
                draw.line((margin, y + r * 2 * size, margin + cols * cell, y + r * 2 * size), fill=(0, 0, 0))
            for c in range(cols):
                for r in range(rows):
                    text = words(rng, 1) if r == 0 else f"{rng.uniform(0, 1000):.2f}"
                    draw.text((margin + c * cell + 6, y + r * 2 * size + size // 3), text, font=face, fill=(0, 0, 0))
            y += (rows + 1) * 2 * size
            continue
        for line in wrap(" ".join(sentence(rng) for _ in range(int(rng.integers(2, 6)))), face, width - 2 * margin):
            if y > height - margin - 2 * size:
                break
            draw.text((margin, y), line, font=face, fill=(20, 20, 20))
            y += round(size * 1.5)
        y += size
    draw.text((width // 2, height - margin // 2), str(int(rng.integers(1, 30))), font=face, anchor="mm", fill=(0, 0, 0))
    rgb = np.asarray(page).astype(np.float32)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), float(rng.uniform(-2, 2)), 1.0)
    rgb = cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=(235, 235, 235))
    tint = np.array([rng.uniform(0.93, 1.0), rng.uniform(0.91, 0.99), rng.uniform(0.82, 0.96)], np.float32)
    light = np.linspace(rng.uniform(0.88, 1.0), rng.uniform(0.95, 1.03), width, dtype=np.float32)[None, :, None]
    rgb = rgb * tint * light + rng.normal(0, rng.uniform(1.5, 5), rgb.shape)
    rgb = cv2.GaussianBlur(rgb, (0, 0), float(rng.uniform(0.4, 0.9)))
    return np.clip(rgb, 0, 255).round().astype(np.uint8)


RENDERERS = {
    "screenshots_text": screenshot_text,
    "screenshots_ui": screenshot_ui,
    "charts": chart,
    "logos": logo,
    "documents": document,
}
