"""Helpers of the scale tests (server, Ray, torchrun): run the CLI in a real child process."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "images"


def child_env() -> dict[str, str]:
    """This interpreter's import path for a child process (the repository first), quiet Ray."""
    env = dict(os.environ)
    paths = [str(ROOT)] + [p for p in sys.path if p and Path(p).is_dir()]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "imlforensic", *args]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def comparable(record: dict) -> dict:
    """A record without what differs between two runs of the same analysis (when, how long)."""
    return {key: value for key, value in record.items() if key not in ("created", "timings_s")}


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
