"""Model registry: laziness, weight verification, downloads from a local server, `models` CLI."""

from __future__ import annotations

import hashlib
import http.server
import sys
import threading
from functools import partial

import pytest

from imlforensic.cli import app
from imlforensic.registry import REGISTRY, DownloadedFile, ModelEntry, Registry, WeightsError
from imlforensic.registry.weights import BundledFile

PAYLOAD = b"pretend checkpoint bytes " * 1000
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMLFORENSIC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "weights"


@pytest.fixture()
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "model.pth").write_bytes(PAYLOAD)
    (root / "evil.pth").write_bytes(PAYLOAD[:-1] + b"!")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_from_local_server_verifies_and_caches(cache, server):
    source = DownloadedFile(url=f"{server}/model.pth", sha256=PAYLOAD_SHA, filename="model.pth")
    assert source.state() == "needs download"
    path = source.fetch(progress=False)
    assert path == cache / "model.pth" and path.read_bytes() == PAYLOAD
    assert source.state() == "ready"
    assert not [p for p in cache.iterdir() if p.name != "model.pth"]  # no partial files


def test_sha256_mismatch_is_rejected_and_nothing_is_kept(cache, server):
    source = DownloadedFile(url=f"{server}/evil.pth", sha256=PAYLOAD_SHA, filename="model.pth")
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        source.fetch(progress=False)
    assert not cache.exists() or not any(cache.iterdir())


def test_download_errors_are_one_line(cache, server):
    source = DownloadedFile(url=f"{server}/missing.pth", sha256=PAYLOAD_SHA, filename="m.pth")
    with pytest.raises(WeightsError, match="HTTP 404"):
        source.fetch(progress=False)
    unreachable = DownloadedFile(url="http://127.0.0.1:9/x.pth", sha256=PAYLOAD_SHA, filename="x.pth")
    with pytest.raises(WeightsError, match="--from FILE"):
        unreachable.fetch(progress=False)


def test_fetch_from_local_file(cache, tmp_path):
    local = tmp_path / "copied.pth"
    local.write_bytes(PAYLOAD)
    source = DownloadedFile(url="https://example.invalid/x.pth", sha256=PAYLOAD_SHA, filename="x.pth")
    assert source.fetch(source=local, progress=False).read_bytes() == PAYLOAD


def _counting_builder(context):
    _counting_builder.calls.append((context.entry.name, context.weights_path, context.device))
    return object()


_counting_builder.calls = []


def test_registry_builds_lazily_once_and_verifies_weights(tmp_path, cache, server):
    registry = Registry()
    builder = f"{__name__}:_counting_builder"
    registry.register(ModelEntry(name="plain", task="detector", version="1", summary="", builder=builder))
    weights = DownloadedFile(url=f"{server}/model.pth", sha256=PAYLOAD_SHA, filename="model.pth")
    registry.register(ModelEntry(name="weighted", task="detector", version="1", summary="", builder=builder, weights=weights))
    _counting_builder.calls.clear()
    assert not registry.is_loaded("plain") and _counting_builder.calls == []
    first = registry.load("plain")
    assert registry.load("plain") is first and len(_counting_builder.calls) == 1
    assert registry.state("weighted") == "needs download"
    with pytest.raises(WeightsError, match="imlforensic models fetch weighted"):
        registry.load("weighted")
    weights.fetch(progress=False)
    (cache / "model.pth").write_bytes(PAYLOAD + b"tampered")
    with pytest.raises(WeightsError, match="do not match the registry"):
        registry.load("weighted")


def test_classical_methods_need_no_weights_and_no_torch():
    for name in ("sel", "noise", "classical"):
        assert REGISTRY.state(name) == "ready"
    script = "import sys, imlforensic.cli, imlforensic.pipeline.analysis; print('torch' in sys.modules)"
    import subprocess
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # the CLI starts without importing torch


def test_bundled_file_state(tmp_path):
    assert BundledFile("does-not-exist.safetensors").state() == "missing"


def test_models_cli_list_and_fetch(runner, cache, server, monkeypatch):
    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0
    assert "classical" in result.stdout and "ready" in result.stdout
    result = runner.invoke(app, ["models", "fetch", "no-such-model"])
    assert result.exit_code == 2 and "unknown model" in result.stderr
    result = runner.invoke(app, ["models", "fetch", "classical"])
    assert result.exit_code == 0 and "nothing to download" in result.stdout
    entry = ModelEntry(
        name="test-remote", task="segmenter", version="1", summary="test",
        builder=f"{__name__}:_counting_builder",
        weights=DownloadedFile(url=f"{server}/evil.pth", sha256=PAYLOAD_SHA, filename="remote.pth"),
    )
    monkeypatch.setitem(REGISTRY._entries, entry.name, entry)
    result = runner.invoke(app, ["models", "fetch", "test-remote", "--quiet"])
    assert result.exit_code == 1 and "sha256 mismatch" in result.stderr
    result = runner.invoke(app, ["models", "fetch", "test-remote", "--from", f"{server}/model.pth", "--quiet"])
    assert result.exit_code == 0 and "verified" in result.stdout
    assert (cache / "remote.pth").read_bytes() == PAYLOAD
