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
from typing import Any, ClassVar

from lumograph.deployments.directory import MODULE_DEPLOYMENTS
from lumograph.deployments.user_config import validate_user_config

logger = logging.getLogger("ray.serve")


class ModuleReplica:
    """Base for module deployments; subclasses set ``core_class`` and ``module``."""

    core_class: ClassVar[type]
    module: ClassVar[str]

    def __init__(self, **config: Any) -> None:
        self.core = None
        self.reconfigure(config)

    def reconfigure(self, config: dict[str, Any] | None) -> None:
        """Build the core from ``config`` (the deployment's ``user_config``)."""
        config = validate_user_config(MODULE_DEPLOYMENTS[self.module], config).model_dump()
        core = self.core_class(**config)
        self.core = core
        if core.selection.name != "classical":
            _limit_torch_threads()
        logger.info(
            "%s: backend %s (%s); config %s",
            self.module, core.selection.name, core.selection.reason, config,
        )

    def backend(self) -> dict[str, str]:
        """The backend this replica runs and why, for ``/healthz``."""
        return self.core.selection.to_dict()

    def check_health(self) -> None:
        if self.core is None:
            raise RuntimeError(f"{self.module}: core not built")


def _limit_torch_threads() -> None:
    """Give torch as many intra-op threads as this replica has CPUs scheduled: by default
    it starts one per core of the machine, and replicas packed on the same cores then
    spin against each other (measured 10-100x slower calls on 2 shared cores)."""
    import ray
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    torch.set_num_threads(max(1, math.ceil(cpus)))
