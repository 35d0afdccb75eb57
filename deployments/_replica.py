"""What every module deployment shares: building its core from ``user_config``.

A deployment file holds no image maths: it names its core class, builds it from the
``user_config`` knobs (validated by ``user_config.py``; re-built on ``reconfigure``
without a replica restart), exposes named methods and answers ``check_health``.

Methods are plain ``def``: the work is synchronous numpy/OpenCV/torch, and Serve runs
sync methods in the replica's thread pool (``RAY_SERVE_RUN_SYNC_IN_THREADPOOL``, on by
default in Ray 2.60), so up to ``max_ongoing_requests`` calls run side by side and
``check_health`` / ``backend`` never wait behind a long call. ``async def`` methods
without an ``await`` would run on the replica's event loop, one call at a time.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, ClassVar

import numpy as np

from lumograph.deployments.directory import MODULE_DEPLOYMENTS
from lumograph.deployments.user_config import validate_user_config
from lumograph.models.common.errors import LumographError
from lumograph.models.common.probe import probe_rgb

logger = logging.getLogger("ray.serve")

#: Seconds a replica's probe result is reused: Serve asks ``check_health`` every 10 s and
#: ``/healthz`` may be polled often; a probe runs at most this often per replica.
HEALTH_TTL_S = 30.0


class ModuleReplica:
    """Base for module deployments; subclasses set ``core_class`` and ``module``."""

    core_class: ClassVar[type]
    module: ClassVar[str]

    def __init__(self, **config: Any) -> None:
        self.core = None
        self._health: dict[str, Any] | None = None
        self._health_at = 0.0
        self._health_lock = threading.Lock()
        self.reconfigure(config)

    def reconfigure(self, config: dict[str, Any] | None) -> None:
        """Build the core from ``config`` (the deployment's ``user_config``)."""
        config = validate_user_config(MODULE_DEPLOYMENTS[self.module], config).model_dump()
        core = self.core_class(**config)
        self.core = core
        self._health = None  # a new core is probed afresh
        if core.selection.name != "classical":
            _limit_torch_threads()
        logger.info(
            "%s: backend %s (%s); config %s",
            self.module, core.selection.name, core.selection.reason, config,
        )

    def backend(self) -> dict[str, str]:
        """The backend this replica runs and why, for ``/healthz``."""
        return self.core.selection.to_dict()

    def probe(self, rgb: np.ndarray) -> Any:
        """One cheap call through the core's ordinary path (subclasses name it)."""
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        """Whether this replica's core really works: the probe photo through ``probe``,
        at most once per ``HEALTH_TTL_S``. ``ok``; the backend and why; ``probe_ms``;
        ``age_s`` of the answer; ``error`` when the probe raised."""
        with self._health_lock:
            now = time.monotonic()
            if self._health is None or now - self._health_at >= HEALTH_TTL_S:
                t0 = time.perf_counter()
                try:
                    self.probe(probe_rgb())
                    result: dict[str, Any] = {"ok": True}
                except Exception as exc:  # noqa: BLE001 - reported, and check_health decides
                    result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300],
                              "expected": isinstance(exc, LumographError)}
                    logger.warning("%s: health probe failed: %s", self.module, result["error"])
                result["probe_ms"] = round((time.perf_counter() - t0) * 1000, 1)
                self._health, self._health_at = result, time.monotonic()
            return {**self.backend(), **self._health, "age_s": round(time.monotonic() - self._health_at, 1)}

    def check_health(self) -> None:
        """Serve's replica check: a core that cannot run its probe for an unexpected
        reason (a crashed library, a lost device) gets the replica replaced. A typed
        error (``weights_missing``) is configuration a restart cannot fix: it is
        reported by ``/healthz`` instead."""
        if self.core is None:
            raise RuntimeError(f"{self.module}: core not built")
        state = self.health()
        if not state["ok"] and not state.get("expected"):
            raise RuntimeError(f"{self.module}: health probe failed: {state['error']}")


def _limit_torch_threads() -> None:
    """Give torch as many intra-op threads as this replica has CPUs scheduled: by default
    it starts one per core of the machine, and replicas packed on the same cores then
    spin against each other (measured 10-100x slower calls on 2 shared cores)."""
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    torch.set_num_threads(max(1, math.ceil(cpus)))
