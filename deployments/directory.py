"""The ``modules`` application's ingress: owns the shared module replicas.

Both vertical graphs reach the modules through ``serve.get_deployment_handle(name,
app_name="modules")``, so one pool of replicas (and one GPU fraction) serves both.
This deployment only reports what the modules run.
"""
from __future__ import annotations

import asyncio

from ray import serve
from ray.serve.handle import DeploymentHandle

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
    """``handle.<method>.remote`` of a shared module, looked up by name in ``modules``.

    ``_check_exists=False``: an ingress may start before the modules application is up.
    """
    handle = serve.get_deployment_handle(MODULE_DEPLOYMENTS[module], app_name=MODULES_APP,
                                         _check_exists=False)
    return getattr(handle, method).remote


@serve.deployment(name="ModuleDirectory", num_replicas=1)
class ModuleDirectory:
    def __init__(self, **handles: DeploymentHandle) -> None:
        self.handles = handles

    async def backends(self) -> dict[str, dict[str, str]]:
        names = list(self.handles)
        results = await asyncio.gather(*(self.handles[n].backend.remote() for n in names))
        return dict(zip(names, results))
