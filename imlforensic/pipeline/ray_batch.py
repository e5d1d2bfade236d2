"""Batch inference on a Ray cluster (Ray Data): ``localize`` / ``detect --ray ADDRESS``.

The same run as :func:`imlforensic.pipeline.run.run_inputs`, with the analysis spread over Ray
actors:

* the driver (this process) expands the inputs, checks the output folder, loads the models
  once (a bad checkpoint fails before anything is sent), and with ``--skip-existing`` sets
  aside the inputs whose outputs are already there, exactly as the local batch does;
* the remaining inputs become a Ray Dataset; ``map_batches`` runs them through a pool of
  actors (:class:`ImageAnalyser`), each of which builds the models once and then calls
  :func:`~imlforensic.pipeline.run.analyse_item` (decode, :meth:`Analyzer.analyse`, record,
  PNG encoding: the local batch's own code) and returns the records and the encoded maps;
  each actor takes one GPU when the cluster has GPUs;
* the driver receives the results in input order and writes them with
  :mod:`imlforensic.pipeline.outputs` (maps first, record last, atomically), prints the same
  lines and summary, and exits with the same code. A per-input failure on an actor comes back
  as the same one-line message.

So outputs land on the driver's disk; the actors read the inputs by path, which must therefore
be readable at the same path on every node (a shared file system), and need imlforensic (and
the weights it uses) installed. ``ADDRESS`` is ``local`` (start a Ray instance on this machine
for the run), ``auto`` (the cluster this machine belongs to, or ``RAY_ADDRESS``) or an address
such as ``ray://head:10001``.
"""

from __future__ import annotations

import importlib
import logging
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imlforensic.io.messages import one_line
from imlforensic.pipeline.analysis import Analyzer
from imlforensic.pipeline.batch import ReportedFailure, failure_message, run_batch
from imlforensic.pipeline.inputs import InputItem
from imlforensic.pipeline.records import ResultRecord, RunSettings
from imlforensic.pipeline.run import (
    ItemWork,
    MethodSlot,
    Prepared,
    Product,
    RunReport,
    RunRequest,
    analyse_item,
    existing_records,
    output_set,
    prepare,
    store,
)
from imlforensic.registry import ModelEntry

CPUS_PER_CPU_ACTOR = 2
"""CPUs an actor reserves on a cluster without GPUs (PyTorch and OpenCV use both)."""


class RayUnavailable(Exception):
    """Ray is not installed, or the cluster cannot be reached (one-line message)."""


@dataclass(frozen=True)
class SlotSpec:
    """What an actor needs to rebuild one :class:`MethodSlot` (models are built on the actor)."""

    method: ModelEntry | None
    refiner: ModelEntry | None
    device: str
    threshold: float | None  # the user's (None: the method's own, raised outside the domain)
    conservative: bool
    folder: str
    kinds: tuple[str, ...]
    settings: RunSettings

    @classmethod
    def of(cls, slot: MethodSlot) -> SlotSpec:
        analyzer = slot.analyzer
        return cls(
            method=analyzer.method_entry,
            refiner=analyzer.refiner_entry,
            device=analyzer.device,
            threshold=analyzer.user_threshold,  # as given: the actor resolves it as the driver would
            conservative=analyzer.conservative,
            folder=slot.folder,
            kinds=slot.kinds,
            settings=slot.settings,
        )

    def build(self) -> MethodSlot:
        analyzer = Analyzer(
            self.method,
            device=self.device,
            threshold=self.threshold,
            refiner=self.refiner,
            conservative=self.conservative,
        )
        return MethodSlot(analyzer=analyzer.load(), folder=self.folder, kinds=self.kinds, settings=self.settings)


class ImageAnalyser:
    """A Ray Data actor: builds the models once, then analyses batches of inputs."""

    def __init__(self, specs: list[SlotSpec], work: ItemWork) -> None:
        self.slots = [spec.build() for spec in specs]
        self.work = work

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        indices, payloads, errors = [], [], []
        for index, path, display, rel, todo in zip(
            batch["index"], batch["path"], batch["display"], batch["rel"], batch["todo"]
        ):
            item = InputItem(path=Path(str(path)), display=str(display), rel=Path(str(rel)))
            wanted = [int(i) for i in str(todo).split(",")]
            try:
                products = dict(analyse_item(item, self.slots, wanted, self.work))
                payloads.append(pickle.dumps(products, protocol=pickle.HIGHEST_PROTOCOL))
                errors.append("")
            except Exception as exc:  # reported like the local batch's failures
                payloads.append(b"")
                errors.append(failure_message(item, exc))
            indices.append(int(index))
        return {"index": indices, "payload": payloads, "error": errors}


def import_ray() -> Any:
    """The ``ray`` module (typed loosely: mypy passes with or without Ray installed)."""
    try:
        ray = importlib.import_module("ray")
        importlib.import_module("ray.data")
    except ImportError:
        raise RayUnavailable('--ray needs Ray Data: pip install "imlforensic[ray]"') from None
    return ray


def connect(ray: Any, address: str) -> bool:
    """Start (``local``) or join a Ray cluster; True when this call started it."""
    if ray.is_initialized():
        return False
    logging.getLogger("ray").setLevel(logging.WARNING)
    os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
    try:
        if address == "local":
            # On a busy machine Ray's metrics agent can take longer to start than the raylet waits
            # for it (30 s), which kills the new instance; the run needs no metrics.
            os.environ.setdefault("RAY_enable_metrics_collection", "0")
            os.environ.setdefault("RAY_agent_register_timeout_ms", "600000")
            ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError, ...: one line
        raise RayUnavailable(f"cannot reach the Ray cluster at {address!r}: {one_line(exc)}") from None
    for name in ("ray", "ray.data"):  # init configures Ray's loggers: keep the run's output to ours
        logging.getLogger(name).setLevel(logging.WARNING)
    return True


def actor_resources(ray: Any, device: str, actors: int | None) -> tuple[int, dict[str, float]]:
    """(actors, resources of each): one GPU per actor when the cluster has GPUs (and the device
    allows them), else ``CPUS_PER_CPU_ACTOR`` CPUs each."""
    cluster = ray.cluster_resources()
    gpus, cpus = int(cluster.get("GPU", 0)), max(1, int(cluster.get("CPU", 1)))
    if gpus > 0 and device != "cpu":
        return actors or gpus, {"num_gpus": 1, "num_cpus": 1}
    per_actor = min(CPUS_PER_CPU_ACTOR, cpus)
    return actors or max(1, cpus // per_actor), {"num_gpus": 0, "num_cpus": per_actor}


def run_on_ray(
    request: RunRequest,
    address: str,
    on_record: Callable[[ResultRecord], None] | None = None,
    show_progress: bool = True,
    actors: int | None = None,
    on_expansion: Callable[[list[tuple[str, str]], list[str]], None] | None = None,
) -> RunReport:
    """:func:`~imlforensic.pipeline.run.run_inputs` on Ray (see the module docstring)."""
    ray = import_ray()
    prepared = prepare(request, on_expansion)
    return _run(ray, address, request, prepared, on_record, show_progress, actors)


def _run(
    ray: Any,
    address: str,
    request: RunRequest,
    prepared: Prepared,
    on_record: Callable[[ResultRecord], None] | None,
    show_progress: bool,
    actors: int | None,
) -> RunReport:
    items, slots = prepared.expansion.items, prepared.slots
    existing: dict[int, list[ResultRecord | None]] = {}
    early: dict[int, Exception] = {}  # an input that failed before analysis (its outputs unreadable)
    rows = []
    for index, item in enumerate(items):
        try:
            existing[index] = existing_records(request, slots, item)
        except Exception as exc:
            early[index] = exc
            continue
        todo = [str(i) for i, record in enumerate(existing[index]) if record is None]
        if todo:
            rows.append(
                {
                    "index": index,
                    "path": str(item.path),
                    "display": item.display,
                    "rel": str(item.rel),
                    "todo": ",".join(todo),
                }
            )
    started = connect(ray, address) if rows else False  # nothing to analyse (a finished batch): no cluster
    try:
        results = _results(ray, request, slots, rows, actors) if rows else iter(())
        return _collect(request, prepared, existing, early, results, on_record, show_progress)
    finally:
        if started:
            ray.shutdown()


def _collect(
    request: RunRequest,
    prepared: Prepared,
    existing: dict[int, list[ResultRecord | None]],
    early: dict[int, Exception],
    results: Iterator[dict[str, Any]],
    on_record: Callable[[ResultRecord], None] | None,
    show_progress: bool,
) -> RunReport:
    """The local batch's loop over the inputs, with the actors' results written as they come."""
    items, slots = prepared.expansion.items, prepared.slots
    collected: list[ResultRecord] = []
    positions = {item: index for index, item in enumerate(items)}

    def job(item: InputItem) -> tuple[list[ResultRecord], bool]:
        index = positions[item]
        if index in early:
            raise early[index]
        records = existing[index]
        if all(record is not None for record in records):
            return [record for record in records if record is not None], True
        row = next(results)
        if int(row["index"]) != index:
            raise RuntimeError(f"Ray returned input {row['index']} where {index} was expected")
        if row["error"]:
            raise ReportedFailure(str(row["error"]))
        products: dict[int, Product] = pickle.loads(row["payload"])
        for slot_index, product in products.items():
            records[slot_index] = store(product, output_set(request, slots[slot_index], item), item)
        return [record for record in records if record is not None], False

    def collect(record: ResultRecord) -> None:
        collected.append(record)
        if on_record is not None:
            on_record(record)

    batch = run_batch(items, job, on_record=collect, show_progress=show_progress, description=request.command)
    return prepared.report(batch, collected)


def _results(
    ray: Any, request: RunRequest, slots: list[MethodSlot], rows: list[dict[str, Any]], actors: int | None
) -> Iterator[dict[str, Any]]:
    """The actors' results, one row per input, in input order."""
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    count, resources = actor_resources(ray, request.device, actors)
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), 8 * count))
    analysed = dataset.map_batches(
        ImageAnalyser,
        fn_constructor_kwargs={"specs": [SlotSpec.of(slot) for slot in slots], "work": ItemWork.of(request)},
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(count, len(rows))),
        max_restarts=0,  # a lost actor fails its inputs instead of re-running them
        **resources,
    )
    return iter(analysed.iter_rows())
