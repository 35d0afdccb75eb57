"""The ``modules`` application's ingress: owns the shared module replicas.

Both vertical graphs reach the modules through ``serve.get_deployment_handle(name,
app_name="modules")``, so one pool of replicas (and one GPU fraction) serves both.
This deployment only reports what the modules run.
"""
from __future__ import annotations

import asyncio
import logging

from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import ReplicaUnavailableError
from ray.serve.handle import DeploymentHandle

logger = logging.getLogger("ray.serve")

#: Deployment names in the ``modules`` application, by module.
MODULE_DEPLOYMENTS = {
    "classifier": "Classifier",
    "segmenter": "Segmenter",
    "grader": "ColourGrader",
    "compositor": "Compositor",
    "qa": "QualityGate",
    "window_detector": "WindowDetector",
    "inpainter": "Inpainter",
}
MODULES_APP = "modules"


def module_handle(module: str, method: str):
    """``handle.<method>.remote`` of a shared module, looked up by name in ``modules``, as
    an async callable that runs the call once more when the replica serving it died (see
    ``retry_on_replica_loss``).

    ``_check_exists=False``: an ingress may start before the modules application is up.
    """
    handle = serve.get_deployment_handle(MODULE_DEPLOYMENTS[module], app_name=MODULES_APP,
                                         _check_exists=False)
    return retry_on_replica_loss(getattr(handle, method).remote)


def retry_on_replica_loss(remote):
    """``remote`` awaited; if the replica running it dies or becomes unreachable mid-call,
    the call runs once more (Serve routes it to a live replica, or to the replacement it
    starts). Every module method is a pure function of its arguments, so running one twice
    is safe. A second loss propagates (the ingress answers 503 ``backend_unavailable``)."""
    async def call(*args, **kwargs):
        try:
            return await remote(*args, **kwargs)
        except (RayActorError, ReplicaUnavailableError) as exc:
            logger.warning("a module replica was lost mid-call (%s); running the call once more",
                           type(exc).__name__)
            return await remote(*args, **kwargs)
    return call


@serve.deployment(name="ModuleDirectory", num_replicas=1)
class ModuleDirectory:
    def __init__(self, **handles: DeploymentHandle) -> None:
        self.handles = handles

    async def backends(self) -> dict[str, dict[str, str]]:
        names = list(self.handles)
        results = await asyncio.gather(*(self.handles[n].backend.remote() for n in names))
        return dict(zip(names, results))
