"""A listing bundle as a job: which photo is the primary exterior.

As ``/listing/bundle`` decides it: the client's ``primary``, else the first photo (in
upload order) classified exterior. A job decides it once, lazily, on the first item a
worker takes: the scene classifier runs on the photos' proxies in order until an exterior
is found, and the answer is stored on the job (the first worker to store it wins; the
rule is deterministic, so a second one would store the same). Each item's context
(``primary``, ``dusk`` on the primary) then follows from it.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update

from lumograph.graphs.jewelry import PROXY_LONG_SIDE
from lumograph.jobs.db import jobs
from lumograph.jobs.storage import Storage
from lumograph.jobs.store import Claimed, JobStore
from lumograph.models.common.imageio import decode_image, resize_long_side

#: ``bundle["primary"]`` while the job has not decided it yet.
UNDECIDED = "auto"


async def _read_stored(uri: str) -> bytes:
    return await asyncio.to_thread(Storage.read, uri)


async def find_primary(store: JobStore, job_id: str, scene,
                       read: Callable[[str], Awaitable[bytes]] = _read_stored) -> int | None:
    """The first photo of the job the classifier calls exterior (None: none is). read: how a
    photo's input URI is read (the worker's: a URL item is fetched through its guard)."""
    rows = await asyncio.to_thread(store.item_rows, job_id)
    for row in rows:
        context = row.context or {}
        if context.get("room") == "exterior":
            return row.n
        if context.get("room"):
            continue  # the client labelled it a room
        try:
            data = await read(row.input_uri)
            rgb = (await asyncio.to_thread(decode_image, data, filename=row.filename)).rgb
        except Exception:  # an undecodable photo is nobody's primary; its item reports the error
            continue
        result = await scene(resize_long_side(rgb, PROXY_LONG_SIDE), None)
        if result.get("scene") == "exterior":
            return row.n
    return None


def _store_primary(store: JobStore, job_id: str, primary: int | None) -> dict[str, Any]:
    with store.engine.begin() as c:
        bundle = dict(c.execute(select(jobs.c.bundle).where(jobs.c.id == job_id).with_for_update()).scalar_one())
        if bundle.get("primary") == UNDECIDED:
            bundle["primary"] = primary
            bundle["primary_source"] = "first photo classified exterior" if primary is not None else "no exterior"
            c.execute(update(jobs).where(jobs.c.id == job_id).values(bundle=bundle))
        return bundle


async def item_context(store: JobStore, claimed: Claimed, scene,
                       read: Callable[[str], Awaitable[bytes]] = _read_stored) -> dict[str, Any] | None:
    """The claimed item's context with the bundle's primary decided (``read``: as for
    ``find_primary``)."""
    context = dict(claimed.context or {})
    if not context.get("bundle"):
        return claimed.context
    bundle = (await asyncio.to_thread(store.job_row, claimed.job_id)).bundle or {}
    if bundle.get("primary") == UNDECIDED:
        primary = await find_primary(store, claimed.job_id, scene, read)
        bundle = await asyncio.to_thread(_store_primary, store, claimed.job_id, primary)
    primary = bundle.get("primary")
    context["primary"] = primary == claimed.n
    context["dusk"] = bool(bundle.get("dusk_primary") and primary == claimed.n)
    return context
