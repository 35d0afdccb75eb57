"""Bulk runs on Ray Data: one vertical's graph over every photo under a folder (any fsspec URI).

``run_bulk`` lists the photos under IN, skips the ones OUT's manifest says are finished
(resume), and maps the rest through a fixed pool of Ray Data actors, each holding one
``LocalModules`` and one ``PhotoRunner`` built once. Each actor writes its outputs to OUT
itself (a temporary name, then a move: ``Storage.write``) and returns one manifest row per
photo; the driver appends the rows to ``OUT/lumograph-batch.jsonl`` as they arrive (that
file is the resume state) and, at the end, writes ``OUT/lumograph-batch-report.json``.
A bad photo never stops a run: it is an ``error`` row with its decode error's code.

Ray Data choices (Ray 2.60):

- ``from_items`` of photo URIs, read inside the actor with fsspec, not ``read_binary_files``:
  the photo bytes never cross the object store (the driver only sees a small JSON row per
  photo), any fsspec URI works without wrapping it in a pyarrow filesystem, an unreadable
  file becomes that photo's ``error`` row instead of failing a read task, and no read task
  competes for CPUs with actors that hold every CPU of a small machine.
- One photo per block (``override_num_blocks``), ``batch_size=1``: photos go to whichever
  actor is free, one at a time, and the progress bar moves per photo.
- The actors return one string column (the manifest row as JSON): reports differ in shape
  from photo to photo, and Arrow would otherwise have to unify their nested types.
- ``compute=ActorPoolStrategy(size=n)`` (``map_batches(concurrency=)`` is deprecated in 2.60).
  Each actor asks for one CPU, less when the cluster has fewer CPUs than actors, so the
  pool always starts.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import posixpath
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
from fsspec.core import url_to_fs

from lumograph.jobs.runner import VERTICALS, PhotoRunner
from lumograph.jobs.storage import Storage, list_photos
from lumograph.models.common.errors import InvalidOptions

logger = logging.getLogger(__name__)

#: One JSON object per finished photo, appended as photos finish: the resume state.
MANIFEST_NAME = "lumograph-batch.jsonl"
#: The run's summary, rewritten at the end of every run.
REPORT_NAME = "lumograph-batch-report.json"
#: CPUs each actor asks for (fewer when the cluster has fewer CPUs than actors).
ACTOR_CPUS = 1.0
#: Object store of a Ray the run starts itself: rows are small and photos never enter it.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


def _json_default(value: Any) -> Any:
    """numpy scalars and arrays in reports; anything else as its text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# --- the manifest (resume state) ------------------------------------------------------


def read_manifest(storage: Storage) -> dict[str, dict[str, Any]]:
    """The latest row of each input (relative path) in OUT's manifest; {} when there is none.
    A line cut short by a killed run is skipped (that photo runs again)."""
    path = posixpath.join(storage.root_path, MANIFEST_NAME)
    if not storage.fs.exists(path):
        return {}
    rows: dict[str, dict[str, Any]] = {}
    with storage.fs.open(path, "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("skipping an unreadable manifest line in %s", path)
                continue
            if isinstance(row, dict) and isinstance(row.get("input"), str):
                rows[row["input"]] = row
    return rows


class ManifestWriter:
    """Appends rows to OUT's manifest, one flushed line per photo. A filesystem that cannot
    append (some object stores) gets the whole file rewritten instead."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self.path = posixpath.join(storage.root_path, MANIFEST_NAME)
        self.appendable = True
        self._lines: list[str] | None = None  # the whole file, once appending failed

    def append(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, default=_json_default) + "\n"
        if self.appendable:
            try:
                with self.storage.fs.open(self.path, "ab") as f:
                    f.write(line.encode())
                return
            except (NotImplementedError, ValueError):
                self.appendable = False
        if self._lines is None:
            existing = self.storage.fs.cat_file(self.path) if self.storage.fs.exists(self.path) else b""
            self._lines = existing.decode("utf-8", "replace").splitlines(keepends=True)
        self._lines.append(line)
        self.storage.write(MANIFEST_NAME, "".join(self._lines).encode())


def is_finished(row: dict[str, Any] | None, outputs: set[str], retry_failed: bool) -> bool:
    """Whether a photo's manifest row spares it from running again: a ``done`` row whose
    output is still in OUT, or (unless ``retry_failed``) a ``rejected``/``error`` row."""
    if row is None:
        return False
    if row.get("state") == "done":
        return row.get("output") in outputs
    return not retry_failed


# --- what runs on the actors ----------------------------------------------------------


def output_stems(inputs: Iterable[str]) -> dict[str, str]:
    """Input relative path -> output name without extension: its path minus the suffix,
    or the whole path where two inputs share a stem (``a.jpg`` and ``a.png``)."""
    inputs = list(inputs)
    stems = {rel: posixpath.splitext(rel)[0] for rel in inputs}
    taken = Counter(stems.values())
    return {rel: stem if taken[stem] == 1 else rel for rel, stem in stems.items()}


class PhotoWorker:
    """The Ray Data UDF: one ``LocalModules`` and one ``PhotoRunner`` per actor, built once,
    and one event loop per actor to run the async graph on."""

    def __init__(self, vertical: str, options: dict[str, Any], out_uri: str, backend: str = "auto",
                 weights_dir: str | None = None):
        from lumograph.graphs.local import LocalModules

        modules = LocalModules.build(backend=backend, weights_dir=weights_dir)
        steps = modules.jewelry_steps() if vertical == "jewelry" else modules.listing_steps()
        self.runner = PhotoRunner(vertical, steps)
        self.options = dict(options)
        self.storage = Storage(out_uri)
        self.loop = asyncio.new_event_loop()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = [self.process(str(uri), str(rel), str(stem))
                for uri, rel, stem in zip(batch["uri"], batch["input"], batch["stem"])]
        return {"row": np.array(rows)}

    def process(self, uri: str, rel: str, stem: str) -> str:
        """One photo: read, run, write its output; its manifest row as JSON. A failed write
        raises (a broken destination must stop the run, and the photo stays unfinished)."""
        started = time.perf_counter()
        row: dict[str, Any] = {"input": rel, "state": "error", "verdict": None, "billable": False,
                               "output": None, "error": None, "message": None}
        try:
            data = Storage.read(uri)
        except OSError as exc:
            row.update(error="unreadable_file", message=f"{type(exc).__name__}: {exc}", report={})
        else:
            result = self.loop.run_until_complete(self.runner.run(
                data, posixpath.basename(rel), self.options, request_id=f"bulk-{uuid.uuid4().hex}"))
            row.update(state=result.state, verdict=result.verdict, billable=result.billable, report=result.report)
            if result.error:
                row.update(error=result.error.get("code"), message=result.error.get("message"))
            if result.state == "done" and result.encoded is not None:
                row["output"] = stem + result.extension
                self.storage.write(row["output"], result.encoded)
        row["seconds"] = round(time.perf_counter() - started, 3)
        return json.dumps(row, default=_json_default)


# --- the driver -----------------------------------------------------------------------


def _connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address`` (or $RAY_ADDRESS), else start a local Ray.
    True when this call initialised Ray (the run shuts it down at the end)."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address)
    else:
        # One malloc arena per thread keeps freed image buffers (see serve/cluster.py).
        os.environ.setdefault("MALLOC_ARENA_MAX", "2")
        ray.init(address="local", object_store_memory=LOCAL_OBJECT_STORE_BYTES, include_dashboard=False)
    return True


def _actor_cpus(concurrency: int) -> float:
    import ray

    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    return ACTOR_CPUS if cpus <= 0 else min(ACTOR_CPUS, cpus / concurrency)


def _run_on_ray(todo: list[dict[str, str]], vertical: str, options: dict[str, Any], out_uri: str, *,
                concurrency: int, backend: str, weights_dir: str | None) -> Iterator[dict[str, Any]]:
    """The manifest rows of ``todo`` in the order they finish."""
    import ray.data

    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars, context.print_on_execution_start
    context.enable_progress_bars = False  # the run shows its own bar, per photo
    context.print_on_execution_start = False
    try:
        dataset = ray.data.from_items(todo, override_num_blocks=len(todo)).map_batches(
            PhotoWorker,
            fn_constructor_kwargs={"vertical": vertical, "options": options, "out_uri": out_uri,
                                   "backend": backend, "weights_dir": weights_dir},
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=concurrency),
            num_cpus=_actor_cpus(concurrency),
        )
        for item in dataset.iter_rows():
            yield json.loads(item["row"])
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def summarize(rows: dict[str, dict[str, Any]], *, vertical: str, options: dict[str, Any], in_uri: str,
              out_uri: str, listed: int, ran: list[dict[str, Any]], skipped: int, wall_s: float,
              concurrency: int, arrivals: list[float] | None = None) -> dict[str, Any]:
    """The batch report: totals over every finished photo of OUT's manifest (latest row of
    each input), and this run's figures (photos run, wall time, photos per minute).

    arrivals: seconds from the start of the run at which each row reached the driver. The
    first is the start-up (listing, Ray, the actors' modules, one photo); the steady rate
    counts the photos after the first ``concurrency`` (those overlap the start-up), and
    needs ten of them (Ray Data hands rows to the driver in bunches)."""
    arrivals = arrivals or []
    after = len(arrivals) - concurrency
    span = arrivals[-1] - arrivals[0] if arrivals else 0.0
    steady = after * 60.0 / span if after >= 10 and span > 0 else None
    items = [rows[key] for key in sorted(rows)]
    seconds = [float(r["seconds"]) for r in items if r.get("seconds") is not None]
    return {
        "vertical": vertical,
        "options": options,
        "input": in_uri,
        "output": out_uri,
        "photos_listed": listed,
        "photos_finished": len(items),
        "pending": max(listed - len(items), 0),
        "states": dict(Counter(r.get("state") for r in items)),
        "verdicts": dict(Counter(r["verdict"] for r in items if r.get("verdict"))),
        "errors": dict(Counter(r["error"] for r in items if r.get("error"))),
        "billable": sum(1 for r in items if r.get("billable")),
        "item_seconds": {"p50": _percentile(seconds, 50), "p95": _percentile(seconds, 95)},
        "run": {
            "photos": len(ran),
            "skipped": skipped,
            "states": dict(Counter(r.get("state") for r in ran)),
            "concurrency": concurrency,
            "first_photo_s": round(arrivals[0], 3) if arrivals else None,
            "steady_photos_per_minute": round(steady, 2) if steady else None,
        },
        "wall_s": round(wall_s, 3),
        "photos_per_minute": round(len(ran) * 60.0 / wall_s, 2) if ran and wall_s > 0 else 0.0,
        "manifest": MANIFEST_NAME,
        "items": items,
    }


def run_bulk(in_uri: str, out_uri: str, vertical: str, options: dict[str, Any], *, concurrency: int = 1,
             limit: int | None = None, progress: bool = True, address: str | None = None,
             retry_failed: bool = False, backend: str = "auto", weights_dir: str | None = None) -> dict[str, Any]:
    """Run ``vertical``'s graph over every photo under ``in_uri`` (recursive, sorted) into
    ``out_uri``; returns the report also written to ``OUT/lumograph-batch-report.json``.

    options: a dumped option model of the vertical (``LightboxOptions`` /
        ``EnhanceOptions``, JSON mode): the caller validates it.
    limit: at most this many photos this run (after skipping finished ones).
    retry_failed: run ``error`` and ``rejected`` photos again (skipped by default).
    address: a Ray cluster to join (``auto``); None joins $RAY_ADDRESS if set, else starts
        a local Ray. A Ray already initialised in this process is used as it is. The actors
        read IN and write OUT themselves: on several nodes both must be storage every node
        sees (a shared mount, ``s3://...``).
    Raises ``InvalidOptions`` when IN does not exist, ``ValueError`` for a bad argument.
    """
    if vertical not in VERTICALS:
        raise ValueError(f"vertical must be one of {VERTICALS}, got {vertical!r}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    started = time.perf_counter()
    listed = list_photos(in_uri, [in_uri])
    storage = Storage(out_uri)
    storage.fs.makedirs(storage.root_path, exist_ok=True)
    photos = [(uri, rel) for uri, rel, _ in listed if not _hidden(rel) and not _inside(uri, storage)]
    stems = output_stems(rel for _, rel in photos)
    _check_same_run(storage, vertical, options)
    finished = read_manifest(storage)
    outputs = {posixpath.relpath(p, storage.root_path) for p in storage.fs.find(storage.root_path)}
    todo = [{"uri": uri, "input": rel, "stem": stems[rel]} for uri, rel in photos
            if not is_finished(finished.get(rel), outputs, retry_failed)]
    skipped = len(photos) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    ran: list[dict[str, Any]] = []
    arrivals: list[float] = []
    states: Counter[str] = Counter()
    if todo:
        from tqdm import tqdm

        writer = ManifestWriter(storage)
        own_ray = _connect(address)
        bar = tqdm(total=len(todo), desc=f"batch {vertical}", unit="photo", file=sys.stderr, disable=not progress)
        try:
            for row in _run_on_ray(todo, vertical, options, storage.root, concurrency=concurrency,
                                   backend=backend, weights_dir=weights_dir):
                writer.append(row)
                finished[row["input"]] = row
                ran.append(row)
                arrivals.append(time.perf_counter() - started)
                bar.update(1)
                states[row["state"]] += 1
                bar.set_postfix(states, refresh=False)
        finally:
            bar.close()
            if own_ray:
                import ray

                ray.shutdown()
    report = summarize(finished, vertical=vertical, options=options, in_uri=in_uri, out_uri=out_uri,
                       listed=len(photos), ran=ran, skipped=skipped, wall_s=time.perf_counter() - started,
                       concurrency=concurrency, arrivals=arrivals)
    storage.write(REPORT_NAME, json.dumps(report, indent=2, default=_json_default).encode())
    return report


#: What a resumed run must share with the first one (a photo finished under other options
#: would otherwise count as done).
RUN_NAME = "lumograph-batch-run.json"


def _check_same_run(storage: Storage, vertical: str, options: dict[str, Any]) -> None:
    """Record the run's vertical and options in OUT, or refuse to resume into an OUT that
    a run with other ones wrote."""
    run = {"vertical": vertical, "options": options}
    uri = storage.uri(RUN_NAME)
    if Storage.exists(uri):
        before = json.loads(Storage.read(uri))
        if before != json.loads(json.dumps(run, default=_json_default)):
            changed = sorted(k for k in set(before.get("options", {})) | set(options)
                             if before.get("options", {}).get(k) != options.get(k))
            what = "the vertical" if before.get("vertical") != vertical else f"options {changed}"
            raise InvalidOptions(f"{storage.root} holds a run with other settings ({what} differ): "
                                 "resume with the same vertical and options, or write to a new OUT")
        return
    storage.write(RUN_NAME, json.dumps(run, indent=2, sort_keys=True, default=_json_default).encode())


def _hidden(rel: str) -> bool:
    """Dot files (``._x.jpg`` from macOS, our own temporary names) are not photos."""
    return any(part.startswith(".") for part in rel.split("/"))


def _inside(uri: str, storage: Storage) -> bool:
    """Whether a listed photo lies under OUT (OUT inside IN): outputs are never inputs."""
    fs, path = url_to_fs(uri)
    return type(fs) is type(storage.fs) and path.startswith(storage.root_path.rstrip("/") + "/")
