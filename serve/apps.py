"""Application builders named by the Serve YAML configs (``import_path``).

``modules``: every shared module deployment, deployed once for all verticals, behind the
root ingress (``/``, ``/docs``, ``/healthz``).
``jewelry``: the jewelry ingress and graph, reaching the modules by name.
``listing``: the listing ingress and graph, reaching the same module replicas.
``jobs``: asynchronous batches of both verticals (``/v1/jobs``), whose workers call the
same module replicas.

Resources, replicas and ``user_config`` come from the YAML, not from here. ``serve
deploy`` applies the YAML's ``deployments:`` section itself; ``lumograph serve`` deploys
through the public ``serve.run`` and hands that section to the builder as
``deployment_options`` (``build_application``), which applies it with
``Deployment.options``. Builder ``args`` are typed (pydantic): a bad value fails the
deploy with a message that quotes it.
"""
# No `from __future__ import annotations`: Serve reads the builders' `args` annotation
# to validate YAML args into the pydantic model.
import importlib
import os
from typing import Any, Callable, Optional

from ray.serve import Application
from ray.serve.deployment import Deployment

from lumograph.deployments.classifier import Classifier
from lumograph.deployments.compositor import Compositor
from lumograph.deployments.directory import ModuleDirectory
from lumograph.deployments.grader import ColourGrader
from lumograph.deployments.inpainter import Inpainter
from lumograph.deployments.qa import QualityGate
from lumograph.deployments.segmenter import Segmenter
from lumograph.deployments.window_detector import WindowDetector
from lumograph.serve.jewelry_ingress import JewelryIngress
from lumograph.serve.jobs_ingress import JobsIngress
from lumograph.serve.listing_ingress import ListingIngress
from lumograph.serve.root_ingress import RootIngress
from lumograph.serve.schemas import JewelryAppArgs, JobsAppArgs, ListingAppArgs

DeploymentOptions = Optional[dict[str, dict[str, Any]]]


def with_yaml_options(deployment: Deployment, options: DeploymentOptions) -> Deployment:
    """``deployment`` with the YAML's options for it (none: as declared)."""
    own = (options or {}).get(deployment.name)
    return deployment.options(**own) if own else deployment


def modules_app(args: Optional[dict] = None, deployment_options: DeploymentOptions = None,
                wrap: Optional[Callable[[Deployment], Deployment]] = None) -> Application:
    """Every module behind the ``ModuleDirectory``, behind the root ingress. wrap: applied
    to each module deployment before binding (a test probe adds a method with it)."""
    def bound(deployment: Deployment):
        return with_yaml_options(wrap(deployment) if wrap else deployment, deployment_options).bind()

    directory = with_yaml_options(ModuleDirectory, deployment_options).bind(
        classifier=bound(Classifier),
        segmenter=bound(Segmenter),
        grader=bound(ColourGrader),
        compositor=bound(Compositor),
        qa=bound(QualityGate),
        window_detector=bound(WindowDetector),
        inpainter=bound(Inpainter),
    )
    return with_yaml_options(RootIngress, deployment_options).bind(directory=directory)


def _resolved(model, args):
    """``args`` validated into ``model``, its ``data_dir`` made absolute here, in the process
    that deploys (``lumograph serve``'s working directory), not in a replica's."""
    args = model.model_validate(args or {}) if not isinstance(args, model) else args
    return args.model_copy(update={"data_dir": os.path.abspath(os.path.expanduser(args.data_dir))})


def jewelry_app(args: JewelryAppArgs, deployment_options: DeploymentOptions = None) -> Application:
    args = _resolved(JewelryAppArgs, args)
    return with_yaml_options(JewelryIngress, deployment_options).bind(**args.model_dump())


def listing_app(args: ListingAppArgs, deployment_options: DeploymentOptions = None) -> Application:
    args = _resolved(ListingAppArgs, args)
    return with_yaml_options(ListingIngress, deployment_options).bind(**args.model_dump())


def jobs_app(args: JobsAppArgs, deployment_options: DeploymentOptions = None) -> Application:
    """Asynchronous jobs over the same service database."""
    args = _resolved(JobsAppArgs, args)
    return with_yaml_options(JobsIngress, deployment_options).bind(**args.model_dump())


def build_application(app: Any) -> Application:
    """The ``Application`` of one ``ServeApplicationSchema`` (an entry of a config's
    ``applications``): its builder called with its ``args`` and its ``deployments:``
    overrides. The application's ``runtime_env`` goes into the actor options of each
    deployment the YAML lists (``serve.run`` takes no application-level one)."""
    module_name, _, attr = app.import_path.partition(":")
    if not attr:
        module_name, _, attr = app.import_path.rpartition(".")
    builder = getattr(importlib.import_module(module_name), attr)
    options: dict[str, dict[str, Any]] = {}
    for dep in app.deployments:
        own = dep.model_dump(exclude_unset=True, exclude={"name"})
        if app.runtime_env:
            actor = dict(own.get("ray_actor_options") or {})
            actor["runtime_env"] = {**app.runtime_env, **(actor.get("runtime_env") or {})}
            own["ray_actor_options"] = actor
        options[dep.name] = own
    return builder(app.args or {}, deployment_options=options)

