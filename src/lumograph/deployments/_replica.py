"""What every module deployment shares: building its core from ``user_config``.

A deployment file holds no image maths: it names its core class, builds it from the
``user_config`` knobs (re-built on ``reconfigure`` without a replica restart), exposes
named async methods and answers ``check_health``.
"""
from __future__ import annotations

import logging
from typing import Any, ClassVar

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
        config = dict(config or {})
        core = self.core_class(**config)
        self.core = core
        logger.info(
            "%s: backend %s (%s); config %s",
            self.module, core.selection.name, core.selection.reason, config,
        )

    async def backend(self) -> dict[str, str]:
        """The backend this replica runs and why, for ``/healthz``."""
        return self.core.selection.to_dict()

    def check_health(self) -> None:
        if self.core is None:
            raise RuntimeError(f"{self.module}: core not built")
