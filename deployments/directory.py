"""The ``modules`` application's ingress: owns the shared module replicas.

Both vertical graphs reach the modules through ``serve.get_deployment_handle(name,
app_name="modules")``, so one pool of replicas (and one GPU fraction) serves both.
This deployment only reports what the modules run and whether each really works.
"""
from __future__ import annotations

import asyncio
import logging

from ray import serve
from ray.exceptions import RayActorError
from ray.serve.exceptions import ReplicaUnavailableError
from ray.serve.handle import DeploymentHandle

logger = logging.getLogger("ray.serve")

#: Seconds ``/healthz`` waits for one module's answer (a replica starting takes longer:
#: the module is then reported not ok, and asked again on the next poll).
HEALTH_TIMEOUT_S = 10.0

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

    async def health(self) -> dict[str, dict]:
        """Every module's ``health`` (its probe through the core, cached per replica),
        asked of whichever replica Serve routes to: one lost mid-call is asked once more,
        so a module answers ok while any of its replicas serves. A module that does not
        answer within ``HEALTH_TIMEOUT_S`` is reported not ok; never raises."""
        async def one(name: str) -> dict:
            try:
                async with asyncio.timeout(HEALTH_TIMEOUT_S):
                    return await retry_on_replica_loss(self.handles[name].health.remote)()
            except TimeoutError:
                return {"ok": False, "error": f"no answer within {HEALTH_TIMEOUT_S:g} s"}
            except Exception as exc:  # noqa: BLE001 - a module that cannot answer is unhealthy
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        names = list(self.handles)
        return dict(zip(names, await asyncio.gather(*(one(n) for n in names))))
