"""The malformed corpus of the reliability benchmark (benchmarks/reliability.py): deterministic.

Every file is made from a seeded random generator; every decodable picture has content of its
own (so a result record can be matched to its input by sha256). Each :class:`Entry` says what
the tool must do with the file:

* ``good``: analysed, all outputs written;
* ``bad``: refused with exactly one ``error: PATH: reason`` line;
* ``note``: left out with exactly one ``note: PATH: ...`` line (hidden entries without
  ``--include-hidden``, symbolic links to folders);
* ``duplicate``: a second name (a link) for a file found before it: one ``note:`` line, no
  second analysis;
* ``unreached``: inside a folder that cannot be read (its folder is the error).

Kinds (one folder each): ``formats`` (every documented format and mode, EXIF orientations),
``names`` (collisions such as ``a.jpg``/``a.png``/``a.jpg.png``, spaces, ``%``, non-UTF-8 bytes,
250-byte names, control characters, deep folders), ``hidden`` (``..jpg``, ``.x.jpg``, hidden
folders), ``links`` (symbolic links inside and out of the tree, to folders, loops, dangling),
``special`` (FIFOs, links to devices), ``truncated``, ``corrupt`` (bad CRCs, markers in a JPEG
scan, cut scans, random byte damage; the last labelled by libjpeg and Pillow themselves, since
some damage decodes as valid data), ``notimage`` (empty, text, random bytes, signatures
followed by garbage), ``outside`` (PPM, TGA, ICO, QOI, ... named ``.jpg``), ``limits`` (header-only
decompression bombs, tiny pictures, files above the byte limit) and, when not running as root,
``unreadable`` (a folder without permissions).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

POSIX = os.name == "posix"
ROOT_USER = POSIX and os.geteuid() == 0
OUTSIDE_FORMATS = (("PPM", "RGB"), ("PPM", "L"), ("TGA", "RGB"), ("PCX", "RGB"), ("ICO", "RGB"), ("SGI", "RGB"),
                   ("QOI", "RGB"), ("DDS", "RGB"), ("JPEG2000", "RGB"), ("XBM", "1"), ("SPIDER", "F"), ("MSP", "1"),
                   ("EPS", "RGB"))


@dataclass(frozen=True)
class Entry:
    kind: str  # the corpus folder
    rel: str  # path below the kind's folder (may hold surrogate-escaped bytes)
    expect: str  # good | bad | note | duplicate
    what: str  # a short description, for the report


class Builder:
    """Writes one kind's files below ``root/kind`` and remembers what each one is."""

    def __init__(self, root: Path, seed: int) -> None:
        self.root = root
        self.rng = np.random.default_rng(seed)
        self.entries: list[Entry] = []
        self.kind = ""
        self._content = 0

    # --- pictures -------------------------------------------------------------------------
    def picture(self, height: int | None = None, width: int | None = None) -> np.ndarray:
        """A photo-like picture never made before (gradients, blobs, noise)."""
        self._content += 1
        rng = np.random.default_rng(self._content * 7919)
        h = height or int(rng.integers(48, 97))
        w = width or int(rng.integers(64, 129))
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([x * rng.uniform(0.5, 3), y * rng.uniform(0.5, 3), (x + y) * rng.uniform(0.3, 2)], axis=2)
        base += rng.uniform(0, 255, 3)
        for _ in range(3):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(5, 20)
            base[(y - cy) ** 2 + (x - cx) ** 2 < r * r] += rng.uniform(-80, 80, 3)
        return np.clip(base % 256 + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)

    def encoded(self, fmt: str, mode: str = "RGB", **kwargs) -> bytes:
        image = Image.fromarray(self.picture())
        image = image.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)
        buffer = io.BytesIO()
        image.save(buffer, fmt, **kwargs)
        return buffer.getvalue()

    def jpeg(self, **kwargs) -> bytes:
        return self.encoded("JPEG", quality=int(self.rng.integers(60, 96)), **kwargs)

    # --- files ----------------------------------------------------------------------------
    def folder(self) -> Path:
        return self.root / self.kind

    def add(self, rel: str, data: bytes, expect: str, what: str) -> None:
        path = self.folder() / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.entries.append(Entry(self.kind, rel, expect, what))

    def link(self, rel: str, target: str | Path, expect: str, what: str) -> None:
        path = self.folder() / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
        self.entries.append(Entry(self.kind, rel, expect, what))

    def note(self, rel: str, what: str) -> None:
        self.entries.append(Entry(self.kind, rel, "note", what))


# --- the kinds ------------------------------------------------------------------------------

def formats(b: Builder) -> None:
    for i in range(30):
        options = [{}, {"progressive": True}, {"subsampling": 0}][i % 3]
        b.add(f"jpeg/{i:02d}.jpg", b.jpeg(**options), "good", "JPEG")
    for i, mode in enumerate(["RGB", "RGBA", "L", "P", "I;16", "LA", "1"] * 3):
        b.add(f"png/{i:02d}.png", b.encoded("PNG", mode), "good", f"PNG {mode}")
    for i, (mode, compression) in enumerate([("RGB", None), ("RGB", "tiff_lzw"), ("I;16", None), ("L", "tiff_adobe_deflate"),
                                             ("CMYK", None)] * 2):
        options = {"compression": compression} if compression else {}
        b.add(f"tiff/{i:02d}.tif", b.encoded("TIFF", mode, **options), "good", f"TIFF {mode}")
    for i in range(8):
        b.add(f"webp/{i:02d}.webp", b.encoded("WEBP", lossless=bool(i % 2), quality=80), "good", "WebP")
    for i, mode in enumerate(["RGB", "P", "L", "RGB"] * 2):
        b.add(f"bmp/{i:02d}.bmp", b.encoded("BMP", mode), "good", f"BMP {mode}")
    for i in range(8):
        frames = [Image.fromarray(b.picture(64, 80)).convert("P") for _ in range(1 + i % 3)]
        buffer = io.BytesIO()
        frames[0].save(buffer, "GIF", save_all=len(frames) > 1, append_images=frames[1:])
        b.add(f"gif/{i:02d}.gif", buffer.getvalue(), "good", "GIF")
    for i in range(4):
        b.add(f"cmyk/{i:02d}.jpg", b.encoded("JPEG", "CMYK", quality=90), "good", "CMYK JPEG")
    for orientation in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 65535):
        exif = Image.Exif()
        exif[0x0112] = orientation
        b.add(f"exif/orientation-{orientation}.jpg", b.jpeg(exif=exif.tobytes()), "good", "EXIF orientation")


def names(b: Builder) -> None:
    for i in range(8):
        for name in ("a.jpg", "a.png", "a.jpg.png"):
            data = b.jpeg() if name.endswith(".jpg") else b.encoded("PNG")
            b.add(f"collide{i}/{name}", data, "good", "same stem / full-name collisions")
    plain = [" lead.jpg", "trail .jpg", "two  spaces.jpg", "100%.jpg", "%2E.jpg", "a%25.jpg", "%.jpg",
             "Ünïcödé_Ωμέγα_Москва.jpg", "日本語の写真.jpg", "emoji_📷.jpg", "a.JPG", "b.JpEg", "c.PNG",
             "tab\there.jpg", "ctrl\x01.jpg", "del\x7f.jpg", "new\nline.jpg", "rtl\u202egpj.exe.jpg", "semi;colon.jpg",
             "quote'\".jpg", "back\\slash.jpg", "star*.jpg", "q?.jpg", "[brackets].jpg", "~tilde.jpg", "-dash.jpg"]
    for name in plain:
        b.add(name, b.encoded("PNG") if name.lower().endswith(".png") else b.jpeg(), "good", "odd characters")
    if POSIX:
        for i in range(10):
            raw = bytes([0x80 + i, 0xFF - i]) + b"latin\xe9" + str(i).encode() + b".jpg"
            b.add(os.fsdecode(raw), b.jpeg(), "good", "file name not UTF-8")
    for i in range(8):
        stem = ("x" * (230 + i * 3) + str(i))[: 250 - 4]
        b.add(stem + ".jpg", b.jpeg(), "good", "250-byte name")
        b.add(f"long{i}/" + "é" * 120 + ".jpg", b.jpeg(), "good", "240-byte UTF-8 name")
    deep = "/".join(f"d{i}" for i in range(30))
    b.add(f"{deep}/deep.jpg", b.jpeg(), "good", "30 folders deep")


def hidden(b: Builder) -> None:
    for i in range(4):
        b.add(f"sub{i}/..jpg", b.jpeg(), "good", "..jpg")
        b.note(f"sub{i}/..jpg", "..jpg (hidden)")
    for i in range(6):
        b.add(f".hidden{i}.jpg", b.jpeg(), "good", "hidden file")
        b.note(f".hidden{i}.jpg", "hidden file")
    b.add("._apple-double.jpg", b.jpeg(), "good", "AppleDouble")
    b.note("._apple-double.jpg", "AppleDouble")
    for i in range(4):
        b.add(f".cache/c{i}.jpg", b.jpeg(), "good", "file in a hidden folder")
    b.note(".cache", "hidden folder")
    b.add("visible.jpg", b.jpeg(), "good", "visible file beside hidden ones")


def links(b: Builder, outside: Path) -> None:
    for i in range(6):  # found in this order (sorted): the file, then the link (a note)
        b.add(f"a-real/r{i}.jpg", b.jpeg(), "good", "link target")
        b.link(f"b-alias/l{i}.jpg", f"../a-real/r{i}.jpg", "duplicate", "link inside the tree")
    outside.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        (outside / f"o{i}.jpg").write_bytes(b.jpeg())
        b.link(f"out/o{i}.jpg", outside / f"o{i}.jpg", "good", "link out of the tree")
    b.link("folder-link", "a-real", "note", "link to a folder")
    for i in range(4):
        b.link(f"loops/self{i}.jpg", f"self{i}.jpg", "bad", "link to itself")
    for i in range(3):
        b.link(f"loops/p{i}a.jpg", f"p{i}b.jpg", "bad", "two links to each other")
        b.link(f"loops/p{i}b.jpg", f"p{i}a.jpg", "bad", "two links to each other")
    for i in range(5):
        b.link(f"dangling/d{i}.jpg", f"/nonexistent/d{i}.jpg", "bad", "dangling link")


def special(b: Builder) -> None:
    for i in range(10):
        path = b.folder() / f"fifo{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        b.entries.append(Entry(b.kind, path.name, "bad", "FIFO named .jpg"))
    for device, count in (("/dev/zero", 3), ("/dev/urandom", 2), ("/dev/null", 2)):
        for i in range(count):  # the first link to a device is refused, the others are second names for it
            b.link(f"{Path(device).name}{i}.jpg", device, "bad" if i == 0 else "duplicate", f"link to {device}")


def _scan(data: bytes) -> tuple[int, int]:
    return data.index(b"\xff\xda"), len(data) - 2


def truncated(b: Builder) -> None:
    for i in range(80):
        data = b.jpeg()
        start, end = _scan(data)
        cut = int(start + (end - start) * (0.05 + 0.9 * i / 80))
        b.add(f"jpeg/{i:02d}.jpg", data[:cut], "bad", "JPEG cut in the scan")
    for i in range(60):
        data = b.encoded("PNG")
        idat = data.index(b"IDAT")
        cut = int(idat + (len(data) - 12 - idat) * (0.05 + 0.9 * i / 60))
        b.add(f"png/{i:02d}.png", data[:cut], "bad", "PNG cut in the image data")
    for fmt, suffix, mode, count in (("WEBP", "webp", "RGB", 25), ("GIF", "gif", "P", 25), ("TIFF", "tif", "RGB", 25),
                                     ("BMP", "bmp", "RGB", 25)):
        for i in range(count):
            data = b.encoded(fmt, mode)
            cut = int(len(data) * (0.25 + 0.5 * i / count))
            b.add(f"{suffix}/{i:02d}.{suffix}", data[:cut], "bad", f"{fmt} cut in half")


def _damaged(data: bytes, rng: np.random.Generator) -> bytes:
    start, end = _scan(data)
    position = int(rng.integers(start + 20, end - 40))
    noise = rng.integers(0, 255, int(rng.integers(1, 24)), dtype=np.uint8).tobytes()  # no 0xFF: no new marker
    return data[:position] + noise + data[position + len(noise):]


def corrupt(b: Builder) -> list[str]:
    """Writes the damaged files; returns the random-damage ones, labelled later by the decoders."""
    for i in range(30):
        data = b.jpeg()
        start, end = _scan(data)
        cut = int(start + (end - start) * (0.2 + 0.6 * i / 30))
        b.add(f"cut-eoi/{i:02d}.jpg", data[:cut] + b"\xff\xd9", "bad", "JPEG scan cut, EOI kept")
    for i in range(30):
        data = b.jpeg()
        start, end = _scan(data)
        at = int(start + (end - start) * (0.2 + 0.6 * i / 30))
        b.add(f"marker/{i:02d}.jpg", data[:at] + b"\xff" + bytes([0xD0 + i % 8]) + data[at + 2:], "bad", "marker in a JPEG scan")
    for i in range(40):
        data = bytearray(b.encoded("PNG", ["RGB", "L", "RGBA", "P"][i % 4]))
        chunk = b"IDAT" if i % 4 else b"IHDR"
        at = data.index(chunk)
        length = int.from_bytes(data[at - 4:at], "big")
        data[at + 4 + length + i % 4] ^= 0x5A  # a CRC byte
        b.add(f"crc/{i:02d}.png", bytes(data), "bad", f"PNG {chunk.decode()} with a bad CRC")
    for i in range(20):
        data = bytearray(b.encoded("PNG"))
        at = data.index(b"IDAT") + 4
        data[at + 10 + i] ^= 0xFF  # compressed data damaged, CRC left as it was
        b.add(f"idat/{i:02d}.png", bytes(data), "bad", "PNG image data damaged")
    random_damage = []
    for i in range(120):
        rel = f"random/{i:03d}.jpg"
        b.add(rel, _damaged(b.jpeg(), b.rng), "label", "random bytes in a JPEG scan")
        random_damage.append(rel)
    return random_damage


def notimage(b: Builder) -> None:
    for i in range(20):
        b.add(f"empty{i}.{['jpg', 'png', 'tif', 'webp'][i % 4]}", b"", "bad", "empty file")
    for i in range(40):
        b.add(f"text{i}.jpg", f"not an image, line {i}\n".encode() * (i + 1), "bad", "text named .jpg")
    for i in range(25):
        b.add(f"random{i}.png", b.rng.integers(0, 256, int(b.rng.integers(1, 5000)), dtype=np.uint8).tobytes(), "bad",
              "random bytes")
    signatures = [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"II*\x00", b"RIFF\x10\x00\x00\x00WEBP", b"BM"]
    for i in range(48):
        garbage = b.rng.integers(0, 256, 200 + i * 13, dtype=np.uint8).tobytes()
        b.add(f"signature{i}.jpg", signatures[i % len(signatures)] + garbage, "bad", "a signature, then garbage")
    for i, text in enumerate([b"<html><body>404</body></html>", b'{"error": "not found"}', b"%PDF-1.4\n%%EOF"] * 4):
        b.add(f"web{i}.png", text, "bad", "a web page or document named .png")


def outside(b: Builder) -> None:
    for fmt, mode in OUTSIDE_FORMATS:
        for i in range(10):
            b.add(f"{fmt.lower()}-{mode}-{i}.jpg".replace(";", ""), b.encoded(fmt, mode), "bad", f"{fmt} named .jpg")


def _png_header(width: int, height: int) -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + chunk(b"IEND", b"")


def limits(b: Builder, byte_limit: int) -> None:
    for i, (w, h) in enumerate([(200_000, 200_000), (100_000, 10_001), (10_001, 10_001), (2**31 - 1, 2), (65_535, 65_535)]):
        b.add(f"bomb{i}.png", _png_header(w, h), "bad", "header-only decompression bomb")
    gif = b"GIF89a" + (65_535).to_bytes(2, "little") * 2 + b"\x00\x00\x00" + b";"
    b.add("bomb.gif", gif, "bad", "header-only decompression bomb")
    for i, (h, w) in enumerate([(1, 1), (8, 8), (15, 200), (200, 15), (1, 5000)]):
        buffer = io.BytesIO()
        Image.fromarray(np.full((h, w, 3), 90 + i, np.uint8)).save(buffer, "PNG")
        b.add(f"tiny{i}.png", buffer.getvalue(), "bad", "smaller than 16 x 16")
    for i in range(3):
        path = b.folder() / f"huge{i}.png"
        with open(path, "wb") as handle:  # sparse: large on paper only
            handle.write(b.encoded("PNG"))
            handle.truncate(byte_limit + 1 + i)
        b.entries.append(Entry(b.kind, path.name, "bad", "file above the byte limit"))


def unreadable(b: Builder) -> None:
    b.add("locked/inside.jpg", b.jpeg(), "unreached", "inside a folder that cannot be read")
    (b.folder() / "locked").chmod(0)
    b.entries.append(Entry(b.kind, "locked", "bad", "a folder that cannot be read"))
    b.add("readable.jpg", b.jpeg(), "good", "beside a folder that cannot be read")


# --- labelling the random damage ---------------------------------------------------------------

_LABELLER = r"""
import io, json, os, sys
import numpy as np, cv2
from PIL import Image
results = {}
for path in sys.argv[1:]:
    os.write(2, ("\0" + path + "\n").encode("utf-8", "surrogateescape"))
    data = open(path, "rb").read()
    cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    try:
        Image.open(io.BytesIO(data)).load()
        results[path] = "decodes"
    except Exception:
        results[path] = "pillow refuses"
print(json.dumps(results))
"""


def label_damage(paths: list[Path]) -> dict[Path, bool]:
    """Whether each damaged JPEG is detectably damaged: Pillow refuses it, or libjpeg warns about
    corrupt data while decoding it (in a child process, whose standard error is read here)."""
    done = subprocess.run([sys.executable, "-c", _LABELLER, *map(str, paths)], capture_output=True, check=True)
    pillow = json.loads(done.stdout)
    warned: set[str] = set()
    current = None
    for line in done.stderr.decode("utf-8", "surrogateescape").split("\n"):
        if line.startswith("\0"):
            current = line[1:]
        elif current and ("Corrupt JPEG data" in line or "Premature end of JPEG file" in line):
            warned.add(current)
    return {p: pillow[str(p)] == "pillow refuses" or str(p) in warned for p in paths}


def build_corpus(root: Path, outside_tree: Path, seed: int = 16, byte_limit: int = 72 << 20) -> list[Entry]:
    """Write the corpus below ``root`` (which must not exist); return what each file is."""
    root.mkdir(parents=True)
    builder = Builder(root, seed)
    kinds: list[tuple[str, Callable[[], object]]] = [
        ("formats", lambda: formats(builder)), ("names", lambda: names(builder)), ("hidden", lambda: hidden(builder)),
        ("truncated", lambda: truncated(builder)), ("corrupt", lambda: corrupt(builder)),
        ("notimage", lambda: notimage(builder)), ("outside", lambda: outside(builder)),
        ("limits", lambda: limits(builder, byte_limit)),
    ]
    if POSIX:
        kinds += [("links", lambda: links(builder, outside_tree)), ("special", lambda: special(builder))]
    if POSIX and not ROOT_USER:
        kinds.append(("unreadable", lambda: unreadable(builder)))
    random_damage: list[str] = []
    for kind, build in kinds:
        builder.kind = kind
        result = build()
        if kind == "corrupt":
            random_damage = result  # type: ignore[assignment]
    labels = label_damage([root / "corrupt" / rel for rel in random_damage])
    entries = []
    for entry in builder.entries:
        if entry.expect == "label":
            damaged = labels[root / entry.kind / entry.rel]
            what = entry.what + (" (detectable)" if damaged else " (decodes as valid data)")
            entry = Entry(entry.kind, entry.rel, "bad" if damaged else "good", what)
        entries.append(entry)
    return entries
