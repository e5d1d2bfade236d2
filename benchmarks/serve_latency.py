"""Requests through ``imlforensic serve`` against the same analysis in-process, in one run.

    python benchmarks/serve_latency.py --method mvcam --requests 100 --every 5

Starts the server (a child process on 127.0.0.1, its models loaded before it listens), then
sends ``--requests`` sequential requests with one 1-megapixel JPEG (multipart upload, the
record back, maps kept on the server as URLs) from one keep-alive HTTP client. Every ``--every``
requests the same picture is also analysed in this process with the server's own per-request
work (decode the bytes, read the file evidence from them, ``Analyzer.analyse``, the record, the
PNG maps encoded): the two are interleaved, so a change of load on a shared machine hits both
alike. Prints the mean and median
seconds of each and their ratio (the bar: at most 1.3).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="mvcam")
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--every", type=int, default=5, help="one in-process analysis per this many requests")
    args = parser.parse_args()
    import httpx

    from imlforensic.io.images import decode_image_bytes
    from imlforensic.pipeline.analysis import Analyzer
    from imlforensic.pipeline.evidence import EvidenceOptions, read_file_evidence
    from imlforensic.pipeline.outputs import encode_maps
    from imlforensic.pipeline.records import RunSettings

    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        rgb = cv2.resize(data.astronaut(), (1224, 816), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(
            str(photo), cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92]
        )
        payload = photo.read_bytes()
        port = free_port()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        server = subprocess.Popen(
            [sys.executable, "-m", "imlforensic", "serve", "--port", str(port), "-m", args.method], env=env
        )
        url = f"http://127.0.0.1:{port}"
        try:
            analyzer = Analyzer(args.method).load()

            def in_process() -> float:
                started = time.perf_counter()
                image = decode_image_bytes(payload, Path("photo.jpg"), display="photo.jpg")
                evidence = read_file_evidence(image, payload, EvidenceOptions())
                analysis = analyzer.analyse(image, evidence=evidence)
                analysis.record(RunSettings(command="serve", threshold=analyzer.threshold)).to_json()
                encode_maps(analysis)
                return time.perf_counter() - started

            in_process()  # warm-up of this process (the server warmed up before listening)
            with httpx.Client(timeout=600) as client:
                while True:
                    try:
                        if client.get(f"{url}/v1/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.5)
                served, local = [], []
                for index in range(args.requests):
                    started = time.perf_counter()
                    answer = client.post(
                        f"{url}/v1/analyse",
                        files={"image": ("photo.jpg", payload, "image/jpeg")},
                        data={"method": args.method},
                    )
                    served.append(time.perf_counter() - started)
                    answer.raise_for_status()
                    if index % args.every == 0:
                        local.append(in_process())
        finally:
            server.terminate()
            server.wait(timeout=60)
    load = os.getloadavg()
    print(
        f"method {args.method}, {rgb.shape[1]}x{rgb.shape[0]} JPEG, {os.cpu_count()} CPUs, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
    )
    print(
        f"served   : {len(served)} sequential requests, mean {statistics.mean(served):.3f} s, median {statistics.median(served):.3f} s, total {sum(served):.1f} s"
    )
    print(
        f"in-process: {len(local)} analyses, mean {statistics.mean(local):.3f} s, median {statistics.median(local):.3f} s"
    )
    print(
        f"ratio served / in-process: mean {statistics.mean(served) / statistics.mean(local):.3f}, "
        f"median {statistics.median(served) / statistics.median(local):.3f}"
    )


if __name__ == "__main__":
    main()
