"""``imlforensic serve``: the real server on 127.0.0.1, called with a real HTTP client."""

from __future__ import annotations

import base64
import importlib.util
import io
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from scale_helpers import EXAMPLES, child_env, cli, free_port

from imlforensic.io.images import load_image
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.outputs import encode_maps

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("httpx") is None,
        reason='needs the serve extra and httpx (pip install ".[test]")',
    ),
]
QUEUE = 8
MAX_BYTES = 2_000_000
MAX_PIXELS = 300_000  # the examples are 600 x 400 = 240,000


@pytest.fixture(scope="module")
def server():
    import httpx

    port = free_port()
    process = subprocess.Popen(
        cli(
            "serve",
            "--port",
            str(port),
            "-m",
            "mvcam",
            "-m",
            "classical",
            "--queue",
            str(QUEUE),
            "--max-bytes",
            str(MAX_BYTES),
            "--max-pixels",
            str(MAX_PIXELS),
        ),
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited: {process.stdout.read() if process.stdout else ''}")
            try:
                if httpx.get(f"{url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server did not answer within 300 s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def expected():
    """In-process results of the examples for both methods: the local batch's maps and records."""
    found = {}
    for method in ("mvcam", "classical"):
        analyzer = Analyzer(method)
        for path in sorted(EXAMPLES.glob("*.jpg")):
            analysis = analyzer.analyse(load_image(path))
            found[(method, path.name)] = (analysis.record(_settings(analyzer)).to_json(), encode_maps(analysis))
    return found


def _settings(analyzer):
    from imlforensic.pipeline.records import RunSettings

    return RunSettings(command="serve", threshold=analyzer.threshold)


def _post(url: str, name: str, **fields):
    import httpx

    files = {"image": (name, (EXAMPLES / name).read_bytes(), "image/jpeg")}
    return httpx.post(f"{url}/v1/analyse", files=files, data=fields, timeout=600)


def _same_analysis(record: dict, reference: dict) -> None:
    for key in ("verdict", "score", "class_probs", "flagged_fraction", "method", "details", "threshold"):
        assert record[key] == reference[key], key
    assert record["input"]["sha256"] == reference["input"]["sha256"]
    assert record["settings"]["command"] == "serve"


def test_health_models_and_openapi(server):
    import httpx

    health = httpx.get(f"{server}/v1/health").json()
    assert health["status"] == "ok" and {"mvcam", "classical"} <= set(health["warm"])
    models = {m["name"]: m for m in httpx.get(f"{server}/v1/models").json()["models"]}
    assert models["mvcam"]["loaded"] and models["mvcam"]["state"] == "ready"
    schema = httpx.get(f"{server}/openapi.json").json()
    assert "/v1/analyse" in schema["paths"] and "post" in schema["paths"]["/v1/analyse"]


def test_analyse_gives_the_local_maps_as_urls(server, expected):
    import httpx

    for name in ("splice.jpg", "authentic.jpg"):
        answer = _post(server, name)
        assert answer.status_code == 200, answer.text
        record = answer.json()
        reference, maps = expected[("mvcam", name)]
        _same_analysis(record, reference)
        assert record["input"]["path"] == name and record["input"]["resolved_path"] is None
        assert set(record["outputs"]) == set(maps)
        for kind, link in record["outputs"].items():
            png = httpx.get(f"{server}{link}")
            assert png.status_code == 200 and png.headers["content-type"] == "image/png"
            assert png.content == maps[kind], kind


def test_eight_concurrent_clients_get_their_own_answers(server, expected):
    jobs = [(method, path.name) for path in sorted(EXAMPLES.glob("*.jpg")) for method in ("mvcam", "classical")]
    assert len(jobs) == 8

    def call(job):
        method, name = job
        return job, _post(server, name, method=method, maps="inline")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, jobs))
    for (method, name), answer in answers:
        assert answer.status_code == 200, answer.text
        record = answer.json()
        reference, maps = expected[(method, name)]
        _same_analysis(record, reference)
        heatmap = record["outputs"]["heatmap"]
        assert heatmap.startswith("data:image/png;base64,")
        assert base64.b64decode(heatmap.split(",", 1)[1]) == maps["heatmap"]


def test_a_full_queue_is_refused_with_503(server):
    import httpx

    def call(_):
        return _post(server, "removal.jpg", method="classical", maps="none")

    with ThreadPoolExecutor(max_workers=2 * QUEUE) as pool:
        answers = list(pool.map(call, range(2 * QUEUE)))
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 503} and 200 in codes and 503 in codes, codes
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.headers["retry-after"] == "1" and "busy" in busy.json()["error"]
    scores = {a.json()["score"] for a in answers if a.status_code == 200}
    assert len(scores) == 1  # every admitted request got the same, correct answer
    assert httpx.get(f"{server}/v1/health").json()["queue"]["in_flight"] == 0


def test_bad_input_gets_a_clear_4xx(server):
    import httpx

    def post(files, **data):
        return httpx.post(f"{server}/v1/analyse", files=files, data=data, timeout=120)

    not_image = post({"image": ("notes.txt", b"not a picture", "text/plain")}, method="classical")
    assert not_image.status_code == 422
    assert not_image.json()["error"].startswith("notes.txt: not a supported image format (supported: JPEG, PNG")
    missing = httpx.post(f"{server}/v1/analyse", data={"method": "classical"}, timeout=60)
    assert missing.status_code == 400 and "'image' is required" in missing.json()["error"]
    unknown = post({"image": ("a.jpg", b"x")}, method="nope")
    assert unknown.status_code == 400 and "unknown model 'nope'" in unknown.json()["error"]
    assert post({"image": ("a.jpg", b"x")}, method="sam").status_code == 400
    assert post({"image": ("a.jpg", b"x")}, method="classical", threshold="2").status_code == 400
    assert post({"image": ("a.jpg", b"x")}, method="classical", maps="zip").status_code == 400
    too_big = post({"image": ("big.jpg", b"\0" * (MAX_BYTES + 1))}, method="classical")
    assert too_big.status_code == 413 and "limit" in too_big.json()["error"]
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((500, 700, 3), np.uint8)).save(buffer, "PNG")
    many = post({"image": ("wide.png", buffer.getvalue())}, method="classical")
    assert many.status_code == 422 and "above the limit of 300,000" in many.json()["error"]
    for answer in (not_image, missing, unknown, too_big, many):
        assert "\n" not in answer.json()["error"]
    assert httpx.get(f"{server}/v1/results/nothing/heatmap.png").status_code == 404


def test_token_is_required_when_set_and_for_other_hosts(runner):
    from starlette.testclient import TestClient

    from imlforensic.cli import app
    from imlforensic.server.app import create_app
    from imlforensic.server.engine import Engine, ServerConfig

    refused = runner.invoke(app, ["serve", "--host", "0.0.0.0"], env={"IMLFORENSIC_TOKEN": ""})
    assert refused.exit_code == 2 and "needs a token" in refused.output
    client = TestClient(create_app(Engine(ServerConfig(methods=["classical"], token="s3cret"))))
    assert client.get("/v1/health").status_code == 200
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200
