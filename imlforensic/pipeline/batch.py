"""Run a per-image job over many inputs: progress, per-file errors, resume, summary.

A failing input never stops the batch: its error is reported as one line naming the file
and the batch goes on; the caller gets the list of failures for the summary and exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from tqdm import tqdm

from imlforensic.io.images import ImageLoadError
from imlforensic.io.messages import one_line
from imlforensic.pipeline.inputs import InputItem
from imlforensic.pipeline.records import ResultRecord
from imlforensic.registry.weights import WeightsError


class InputFailure(Exception):
    """A per-input problem other than decoding (for example an unwritable output file)."""


@dataclass
class BatchResult:
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (display name, one-line message)

    @property
    def total(self) -> int:
        return self.done + self.skipped + len(self.failed)


Job = Callable[[InputItem], "tuple[list[ResultRecord], bool]"]
"""One input's records (one per method) and whether they were all already done (resume)."""


def run_batch(
    items: list[InputItem],
    job: Job,
    on_record: Callable[[ResultRecord], None] | None = None,
    show_progress: bool = True,
    err: TextIO | None = None,
    description: str = "images",
) -> BatchResult:
    """Apply ``job`` to every item; report failures on ``err`` as they happen."""
    err = err if err is not None else sys.stderr
    result = BatchResult()
    enabled = show_progress and len(items) > 1 and getattr(err, "isatty", lambda: False)()
    with tqdm(total=len(items), desc=description, unit="img", file=err, disable=not enabled, dynamic_ncols=True) as bar:
        for item in items:
            try:
                records, skipped = job(item)
                if on_record is not None:  # inside: a result that cannot be printed fails alone
                    for record in records:
                        on_record(record)
            except Exception as exc:  # a bug or an unexpected library error too: keep the batch going
                message = failure_message(item, exc)
                result.failed.append((item.display, message))
                bar.write(f"error: {message}", file=err)
            else:
                if skipped:
                    result.skipped += 1
                else:
                    result.done += 1
            bar.update(1)
    return result


class ReportedFailure(Exception):
    """A failure already put into words by :func:`failure_message` (in another process)."""


def failure_message(item: InputItem, exc: Exception) -> str:
    """The one-line message of an input's failure, naming the file (``error: MESSAGE`` on stderr)."""
    if isinstance(exc, ReportedFailure):
        return str(exc)
    if isinstance(exc, ImageLoadError):
        return one_line(exc)  # decode errors already name the file
    if isinstance(exc, (InputFailure, WeightsError)):
        reason = one_line(exc)
    elif isinstance(exc, MemoryError):
        reason = "out of memory while analysing this image (try --max-pixels)"
    else:
        reason = f"internal error ({type(exc).__name__}: {one_line(exc)})"
    return f"{item.display}: {reason}"
