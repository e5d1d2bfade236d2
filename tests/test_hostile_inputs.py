"""Hostile and odd inputs (issue 16): what is read, what is refused, where outputs go.

Every test makes its own files (FIFOs, symbolic-link loops, odd names, damaged images) in
``tmp_path``, with 64 x 80 images and the ``classical`` method, so the file stays fast.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imlforensic.cli import app
from imlforensic.io.images import ImageLoadError, load_image
from imlforensic.pipeline.inputs import expand_inputs

ROOT = Path(__file__).resolve().parents[1]
FIVE = (".heatmap.png", ".heatmap-color.png", ".mask.png", ".overlay.png", ".json")
RUNNING_AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
posix_only = pytest.mark.skipif(os.name != "posix", reason="FIFOs, devices and byte file names are POSIX")


def picture(seed: int = 0) -> np.ndarray:
    """A small photo-like picture: smooth gradients plus noise (64 x 80)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:64, 0:80]
    base = np.stack([x * 3, y * 3, (x + y) * 2], axis=2) % 256
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


def jpeg_bytes(seed: int = 0, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture(seed)).save(buffer, "JPEG", quality=90, **kwargs)
    return buffer.getvalue()


def png_bytes(seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(picture(seed)).save(buffer, "PNG")
    return buffer.getvalue()


def write(path: Path | bytes, data: bytes) -> Path | bytes:
    """Write ``data`` at ``path`` (a Path, or raw bytes for names that are not UTF-8)."""
    if isinstance(path, Path):
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return path


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note:")]


def in_thread(action, timeout: float = 20.0):
    """Run ``action`` in a daemon thread; fail (instead of hanging the suite) if it blocks."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = action()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"blocked for more than {timeout} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


# --- what is read ---------------------------------------------------------------------------

@posix_only
def test_fifo_named_jpg_is_refused_without_reading_or_hanging(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    with pytest.raises(ImageLoadError, match=r"pipe\.jpg: is a named pipe \(FIFO\), not a regular file"):
        in_thread(lambda: load_image(fifo))


@posix_only
def test_symlink_to_a_device_is_refused_before_reading(tmp_path):
    link = tmp_path / "zero.jpg"
    link.symlink_to("/dev/zero")
    # in a child process limited to 2 GB: reading /dev/zero (the defect) must not take the suite with it
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
              "from imlforensic.io.images import ImageLoadError, load_image\n"
              "try:\n    load_image(sys.argv[1])\nexcept ImageLoadError as exc:\n    print(exc)")
    done = subprocess.run([sys.executable, "-c", script, str(link)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.strip() == f"{link}: is a character device, not a regular file"


def test_a_file_above_the_byte_limit_is_refused_before_reading(tmp_path):
    from imlforensic.io.images import max_file_bytes

    big = tmp_path / "big.png"
    with open(big, "wb") as handle:  # sparse: large on paper, nothing to read
        handle.write(png_bytes())
        handle.truncate(max_file_bytes(1000) + 1)
    with pytest.raises(ImageLoadError, match=r"big\.png: file is [\d,]+ bytes, above the limit"):
        load_image(big, max_pixels=1000)
    assert load_image(big).width == 80  # within the default limit: read (PNG ignores trailing bytes)


@pytest.mark.parametrize("fmt, mode", [("PPM", "RGB"), ("TGA", "RGB"), ("PCX", "RGB"), ("ICO", "RGB"), ("SGI", "RGB"),
                                       ("QOI", "RGB"), ("DDS", "RGB"), ("JPEG2000", "RGB"), ("XBM", "1")])
def test_formats_outside_the_allow_list_named_jpg_are_refused(tmp_path, fmt, mode):
    buffer = io.BytesIO()
    Image.fromarray(picture()).convert(mode).save(buffer, fmt)
    path = write(tmp_path / "photo.jpg", buffer.getvalue())
    with pytest.raises(ImageLoadError, match=r"photo\.jpg: not a supported image format"):
        load_image(path)


def _damaged_jpegs() -> dict[str, bytes]:
    """JPEGs whose entropy-coded data is damaged in ways Pillow decodes without a word and
    libjpeg notices (JPEG has no checksum: some damage decodes as valid data and cannot be seen)."""
    good = jpeg_bytes()
    start, end = good.index(b"\xff\xda"), len(good) - 2
    middle = (start + end) // 2
    flipped = bytes(b ^ 0x5A if b != 0xFF and b ^ 0x5A != 0xFF else b for b in good[middle:middle + 32])
    noise = bytes(np.random.default_rng(1).integers(0, 255, 32, dtype=np.uint8))  # no 0xFF: no marker
    return {
        "flipped-bits": good[:middle] + flipped + good[middle + 32:],
        "random-bytes": good[:middle] + noise + good[middle + 32:],
        "marker-in-scan": good[:middle] + b"\xff\xd3" + good[middle + 2:],
        "cut-then-eoi": good[:middle] + b"\xff\xd9",
    }


@pytest.mark.parametrize("kind", list(_damaged_jpegs()))
def test_jpeg_with_damaged_entropy_coded_data_is_refused(tmp_path, kind):
    data = _damaged_jpegs()[kind]
    Image.open(io.BytesIO(data)).load()  # the defect: Pillow alone decodes it in silence
    path = write(tmp_path / "damaged.jpg", data)
    with pytest.raises(ImageLoadError, match=r"damaged\.jpg: corrupt image data: Corrupt JPEG data: .*\(libjpeg\)"):
        load_image(path)


def test_png_with_a_bad_crc_is_refused(tmp_path):
    data = bytearray(png_bytes())
    idat = data.index(b"IDAT")
    length = int.from_bytes(data[idat - 4:idat], "big")
    data[idat + 4 + length] ^= 0xFF  # first byte of the IDAT chunk's CRC
    Image.open(io.BytesIO(bytes(data))).load()  # the defect: decodes without a word
    path = write(tmp_path / "crc.png", bytes(data))
    with pytest.raises(ImageLoadError, match=r"crc\.png: corrupt image data: broken PNG file"):
        load_image(path)


def test_undamaged_files_carry_no_warnings(tmp_path):
    for name, data in (("a.jpg", jpeg_bytes()), ("b.png", png_bytes()), ("c.jpg", jpeg_bytes(progressive=True))):
        assert load_image(write(tmp_path / name, data)).warnings == ()


@pytest.mark.parametrize("orientation", [9, 65535])
def test_invalid_exif_orientation_is_ignored_and_said(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = load_image(write(tmp_path / "o.jpg", jpeg_bytes(exif=exif.tobytes())))
    assert image.exif_orientation == 1 and image.width == 80
    assert not any("orientation" in c for c in image.conversions)  # was "EXIF orientation 9 applied"
    assert f"EXIF orientation {orientation} is not a valid value (1-8); ignored" in image.warnings


def test_palette_image_conversions_are_only_what_happened(tmp_path):
    Image.fromarray(picture()).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").conversions == ("palette expanded",)  # not "RGB converted to RGB"


# --- what is found ---------------------------------------------------------------------------

def _names(expansion) -> list[str]:
    return [item.display for item in expansion.items]


@posix_only
def test_symlink_loop_in_a_tree_does_not_stop_the_expansion(tmp_path):
    write(tmp_path / "case" / "good.jpg", jpeg_bytes())
    (tmp_path / "case" / "self.jpg").symlink_to("self.jpg")
    (tmp_path / "case" / "up").symlink_to(tmp_path / "case")  # a folder link back up: not followed
    expansion = expand_inputs([str(tmp_path / "case")], recursive=True)  # was: RuntimeError: Symlink loop
    assert sorted(Path(n).name for n in _names(expansion)) == ["good.jpg", "self.jpg"]
    assert [n for n in expansion.notes if "symbolic link to a folder, not followed" in n]
    with pytest.raises(ImageLoadError, match="symbolic link loop"):
        load_image(next(i.path for i in expansion.items if i.path.name == "self.jpg"))


def test_hidden_entries_are_named_and_included_on_request(tmp_path):
    for rel in ("a.jpg", ".b.jpg", ".cache/c.jpg", "sub/.d.png"):
        write(tmp_path / rel, jpeg_bytes())
    plain = expand_inputs([str(tmp_path)], recursive=True)
    assert [Path(n).name for n in _names(plain)] == ["a.jpg"]
    assert sorted(plain.notes) == sorted([
        f"{tmp_path / '.b.jpg'}: hidden file, skipped (--include-hidden to analyse it)",
        f"{tmp_path / '.cache'}: hidden folder, skipped (--include-hidden to analyse it)",
        f"{tmp_path / 'sub' / '.d.png'}: hidden file, skipped (--include-hidden to analyse it)",
    ])
    everything = expand_inputs([str(tmp_path)], recursive=True, include_hidden=True)
    assert sorted(Path(n).name for n in _names(everything)) == [".b.jpg", ".d.png", "a.jpg", "c.jpg"]
    assert not everything.notes
    assert {i.output_name for i in everything.items} == {"a.jpg", "%2Eb.jpg", "%2Ecache/c.jpg", "sub/%2Ed.png"}


def _simulate_unreadable(monkeypatch, folder: Path) -> None:
    """Make ``folder`` behave as if it had no read/search permission (works as root too)."""
    real_scandir, real_stat = os.scandir, os.stat

    def scandir(path="."):
        if Path(path) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def stat(path, *args, **kwargs):
        if isinstance(path, (str, os.PathLike)) and folder in Path(path).parents:
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "stat", stat)


def test_unreadable_folder_and_explicit_paths_below_it_are_errors(tmp_path, monkeypatch):
    write(tmp_path / "case" / "ok.jpg", jpeg_bytes())
    write(tmp_path / "case" / "locked" / "x.jpg", jpeg_bytes())
    locked = tmp_path / "case" / "locked"
    _simulate_unreadable(monkeypatch, locked)
    walked = expand_inputs([str(tmp_path / "case")], recursive=True)  # was: skipped in silence
    assert walked.problems == [(str(locked), "cannot read folder (permission denied)")]
    explicit = expand_inputs([str(locked / "x.jpg")])  # was: PermissionError traceback
    assert explicit.problems == [(str(locked / "x.jpg"), "permission denied")] and not explicit.items


@pytest.mark.skipif(RUNNING_AS_ROOT, reason="root reads folders whatever their permission bits say "
                                            "(the simulated test above covers this as root)")
@posix_only
def test_unreadable_folder_with_real_permissions(tmp_path, runner):
    write(tmp_path / "case" / "ok.jpg", jpeg_bytes())
    locked = tmp_path / "case" / "locked"
    write(locked / "x.jpg", jpeg_bytes())
    locked.chmod(0)
    try:
        result = runner.invoke(app, ["detect", str(tmp_path / "case"), str(locked / "x.jpg"), "-r", "-m", "classical"])
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 1
    assert len(errors(result.stderr)) == 2 and "ok.jpg" in result.stdout


def test_stdin_paths_are_verbatim_and_never_reread_from_the_output_folder(tmp_path, runner, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / " lead.jpg", jpeg_bytes())
    out = tmp_path / "out"
    write(out / "old.jpg", jpeg_bytes(1))  # e.g. a listing of the whole tree, output folder included
    listing = " lead.jpg\nout/old.jpg\n"
    result = runner.invoke(app, ["detect", "-", "--out", str(out), "-m", "classical", "--json"], input=listing)
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["input"]["path"] for line in result.stdout.splitlines()] == [" lead.jpg"]
    assert notes(result.stderr) == ["note: out/old.jpg: inside the output folder, not read as input"]
    assert (out / " lead.jpg.json").is_file()
    result = runner.invoke(app, ["detect", "-", "-m", "classical"], input=b"nul\0byte.jpg\n lead.jpg\n")
    assert result.exit_code == 1 and " lead.jpg" in result.stdout  # was: ValueError: embedded null byte
    assert errors(result.stderr) == ["error: nul\\x00byte.jpg: not a path (empty, or it holds a NUL byte)"]


@posix_only
def test_a_symlink_out_of_the_tree_does_not_move_the_layout(tmp_path):
    write(tmp_path / "case" / "sub" / "a.jpg", jpeg_bytes())
    write(tmp_path / "elsewhere" / "b.jpg", jpeg_bytes(1))
    (tmp_path / "case" / "link.jpg").symlink_to(tmp_path / "elsewhere" / "b.jpg")
    expansion = expand_inputs([str(tmp_path / "case")], recursive=True)
    assert {i.output_name for i in expansion.items} == {"link.jpg", "sub/a.jpg"}  # was: tmp/.../elsewhere/b


@posix_only
def test_a_second_name_for_a_file_is_analysed_once_and_said(tmp_path):
    write(tmp_path / "a-real" / "x.jpg", jpeg_bytes())
    (tmp_path / "b-alias").mkdir()
    (tmp_path / "b-alias" / "y.jpg").symlink_to(tmp_path / "a-real" / "x.jpg")
    (tmp_path / "b-alias" / "zero0.jpg").symlink_to("/dev/zero")
    (tmp_path / "b-alias" / "zero1.jpg").symlink_to("/dev/zero")
    expansion = expand_inputs([str(tmp_path)], recursive=True)
    assert [i.output_name for i in expansion.items] == ["a-real/x.jpg", "b-alias/zero0.jpg"]
    assert expansion.notes == [
        f"{tmp_path / 'b-alias' / 'y.jpg'}: same file as {tmp_path / 'a-real' / 'x.jpg'}, analysed once",
        f"{tmp_path / 'b-alias' / 'zero1.jpg'}: same file as {tmp_path / 'b-alias' / 'zero0.jpg'}, analysed once",
    ]


@pytest.mark.parametrize("name", ["a.jpg", "..jpg", ".x", "100%.jpg", "a%2E.jpg", "x\ny.jpg", "é" * 130 + ".jpg",
                                  "a" * 250, "b" * 240 + ".jpeg"])
def test_output_components_are_short_visible_and_injective(name):
    from imlforensic.pipeline.inputs import MAX_COMPONENT_BYTES, output_component

    component = output_component(name)
    assert len(component.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert component not in ("", ".", "..") and not component.startswith(".") and "/" not in component
    assert component.isprintable()
    others = {output_component(other) for other in ("a.jpg", "%2E.jpg", "a%252E.jpg", "a" * 199, "b" * 240 + ".jpg")}
    assert (component in others) == (name == "a.jpg")


def test_a_result_that_cannot_be_printed_fails_alone(tmp_path):
    import io as text_io

    from imlforensic.pipeline.batch import run_batch

    items = expand_inputs([str(write(tmp_path / name, jpeg_bytes(i))) for i, name in enumerate(["a.jpg", "b.jpg"])]).items

    def printer(record):  # e.g. a name the terminal's encoding cannot show
        if record["name"] == "a.jpg":
            "日本".encode("latin-1")

    err = text_io.StringIO()
    result = run_batch(items, lambda item: ([{"name": item.path.name}], False), on_record=printer, err=err)
    assert result.done == 1 and [name for name, _ in result.failed] == [items[0].display]
    assert err.getvalue().count("error: ") == 1 and "UnicodeEncodeError" in err.getvalue()


# --- end to end through the CLI ------------------------------------------------------------

def test_odd_names_keep_every_output_inside_out_without_collisions(tmp_path, runner):
    case = tmp_path / "case"
    for seed, name in enumerate(["a.jpg", "a.png", "a.jpg.png", "x" * 250 + ".jpg"]):
        write(case / name, png_bytes(seed) if name.endswith(".png") else jpeg_bytes(seed))
    write(case / "..jpg", jpeg_bytes(7))
    raw_case = os.fsencode(case)
    if os.name == "posix":
        write(raw_case + b"/bad\xff\xfe.jpg", jpeg_bytes(8))
    out = tmp_path / "results"
    (tmp_path / "results.json").write_text("sentinel")  # what `..jpg` overwrote
    result = runner.invoke(app, ["localize", str(case), "--out", str(out), "-m", "classical", "--include-hidden"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results.json").read_text() == "sentinel"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case", "results", "results.json"]
    inputs = [p for p in os.listdir(raw_case)]
    records = [json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json")]
    assert len(records) == len(inputs)
    by_sha = {r["input"]["sha256"]: r for r in records}
    for raw in inputs:
        data = (Path(os.fsdecode(raw_case + b"/" + raw))).read_bytes()
        record = by_sha[hashlib.sha256(data).hexdigest()]  # each input has its own record
        base = out / record["output_name"]
        assert all(base.with_name(base.name + suffix).is_file() for suffix in FIVE), record["output_name"]
        assert len(os.fsencode(base.name + ".heatmap-color.png")) < 255
    assert {r["output_name"] for r in records} >= {"a.jpg", "a.png", "a.jpg.png", "%2E.jpg"}
    if os.name == "posix":
        odd = next(r for r in records if r["output_name"] == "bad%FF%FE.jpg")
        assert odd["input"]["path"].endswith("bad\\xff\\xfe.jpg")
    assert not list(out.glob(".*"))


@posix_only
def test_a_hostile_tree_is_one_line_per_bad_input_and_the_batch_goes_on(tmp_path):
    case = tmp_path / "case"
    write(case / "good.jpg", jpeg_bytes())
    write(case / "sub" / "good.png", png_bytes(1))
    os.mkfifo(case / "fifo.jpg")
    (case / "zero.jpg").symlink_to("/dev/zero")
    (case / "loop.jpg").symlink_to("loop.jpg")
    (case / "dangling.jpg").symlink_to(tmp_path / "absent.jpg")
    buffer = io.BytesIO()
    Image.fromarray(picture()).save(buffer, "PPM")
    write(case / "ppm.jpg", buffer.getvalue())
    write(case / "damaged.jpg", _damaged_jpegs()["flipped-bits"])
    out = tmp_path / "out"
    command = [sys.executable, "-m", "imlforensic", "localize", str(case), "-r", "--out", str(out),
               "-m", "classical", "--skip-existing"]
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=environment)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    bad = ["fifo.jpg", "zero.jpg", "loop.jpg", "dangling.jpg", "ppm.jpg", "damaged.jpg"]
    lines = errors(done.stderr)
    assert len(lines) == len(bad)
    for name in bad:
        assert sum(f"{case / name}:" in line for line in lines) == 1, name
    assert "failed: " in done.stderr.splitlines()[-1]
    for rel in ("good.jpg", "sub/good.png"):
        assert all((out / f"{rel}{suffix}").is_file() for suffix in FIVE), rel
    assert not list(out.rglob("damaged*")) and not list(out.rglob("fifo*"))


def test_stale_temporary_files_of_dead_writers_are_removed_and_nothing_else(tmp_path, runner):
    from imlforensic.io.atomic import remove_stale_temporaries

    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = [out / f".a.jpg.json.{dead_pid}.k2j3h4ab.tmp", out / "sub" / f".b.jpg.mask.png.{dead_pid}.x_9aaaaa.tmp"]
        kept = [out / f".c.jpg.json.{live.pid}.abcdefgh.tmp", out / ".notes.tmp", out / "a.jpg.json.tmp",
                tmp_path / f".outside.json.{dead_pid}.abcdefgh.tmp"]
        for path in stale + kept:
            path.write_text("x")
        image = write(tmp_path / "a.jpg", jpeg_bytes())
        result = runner.invoke(app, ["detect", str(image), "--out", str(out), "-m", "classical", "--skip-existing"])
        assert result.exit_code == 0, result.output
        assert f"note: removed 2 temporary file(s) an interrupted run left in {out}" in result.stderr
        assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
        assert remove_stale_temporaries(out) == []
    finally:
        live.kill()
        live.wait()
