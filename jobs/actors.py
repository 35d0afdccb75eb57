"""Job items on a pool of Ray actors, each holding its own in-process cores.

The jobs replica's workers hand each item to a free actor (one item per actor at a time,
as ``lumograph batch``'s Ray Data actors run): no arrays cross processes between the
graph's steps and every item has a whole Python interpreter, so a CPU-only node runs
jobs about as fast as the bulk command. The actors are owned by the replica that made
them: when it dies they die with it, and a restarted replica makes new ones.
"""
from __future__ import annotations

import asyncio
from typing import Any

import ray

from lumograph.jobs.runner import VERTICALS, ItemResult, PhotoRunner, WorkerLost
from lumograph.models.common.imageio import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS


class PhotoActor:
    """One set of module cores and a runner per vertical (built once per actor)."""

    def __init__(self, backend: str = "classical", weights_dir: str | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int = DEFAULT_MAX_BYTES):
        from lumograph.graphs.local import LocalModules

        self.modules = LocalModules.build(backend, weights_dir)
        steps = {"jewelry": self.modules.jewelry_steps(), "listing": self.modules.listing_steps()}
        self.runners = {v: PhotoRunner(v, steps[v], max_pixels=max_pixels, max_bytes=max_bytes) for v in VERTICALS}

    def run(self, vertical: str, data: bytes, filename: str | None, options: dict[str, Any],
            kwargs: dict[str, Any]) -> ItemResult:
        return asyncio.run(self.runners[vertical].run(data, filename, options, **kwargs))

    def scene(self, proxy, room):
        return self.modules.classifier.classify_scene(proxy, room)

    def ready(self) -> bool:
        return True


class ActorPool:
    """``size`` ``PhotoActor``s and a queue of the free ones. The actors start with the
    first item, not with the service: an idle jobs app holds no cores (about 0.5 GB each)."""

    def __init__(self, size: int, *, num_cpus: float = 0.01, **actor_args: Any):
        self._remote = ray.remote(num_cpus=num_cpus)(PhotoActor)
        self._args = actor_args
        self.size = max(1, int(size))
        self.actors: list = []
        self._free: asyncio.Queue | None = None

    def _queue(self) -> asyncio.Queue:
        if self._free is None:  # made on the event loop that uses it, at the first item
            self.actors = [self._remote.remote(**self._args) for _ in range(self.size)]
            self._free = asyncio.Queue()
            for actor in self.actors:
                self._free.put_nowait(actor)
        return self._free

    async def call(self, method: str, *args: Any) -> Any:
        free = self._queue()
        actor = await free.get()
        try:
            return await getattr(actor, method).remote(*args)
        except ray.exceptions.RayActorError as err:
            # The actor died (out of memory, killed): a new one takes its place, and the
            # item is not charged with it: its claim lapses and another worker retakes it.
            self.actors[self.actors.index(actor)] = actor = self._remote.remote(**self._args)
            raise WorkerLost(f"a job actor died: {err}") from err
        finally:
            free.put_nowait(actor)


class _PoolSteps:
    """What a job's worker needs of a vertical's steps besides ``run``: the scene classifier
    (a listing bundle finds its primary exterior with it)."""

    def __init__(self, pool: ActorPool):
        self.pool = pool

    async def scene(self, proxy, room):
        return await self.pool.call("scene", proxy, room)


class PoolRunner:
    """A ``PhotoRunner`` look-alike whose items run on the pool's actors."""

    def __init__(self, vertical: str, pool: ActorPool):
        self.vertical = vertical
        self.pool = pool
        self.steps = _PoolSteps(pool)

    async def run(self, data: bytes, filename: str | None, options: dict[str, Any], **kwargs: Any) -> ItemResult:
        return await self.pool.call("run", self.vertical, data, filename, options, kwargs)
