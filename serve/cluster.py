"""Start a local Ray cluster and deploy a Serve YAML config, the way `serve run` does.

Used by ``lumograph serve`` (foreground, dashboard on), by the Serve tests (small object
store, no dashboard) and by the HTTP benchmark, so all three exercise the same config
file path that an operator deploys with ``serve deploy``.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

import yaml

from lumograph.configs import config_path

# Serve's throughput-optimised mode caps replica messages at 4 MiB (real photos fail).
os.environ.pop("RAY_SERVE_THROUGHPUT_OPTIMIZED", None)
#: Replicas run calls on a thread pool; glibc gives each thread its own malloc arena, which
#: keeps the freed 12 MP buffers of every thread: peak PSS of the local cluster rose from
#: 2.4 to 3.3 GB in `bench jewelry`, and back to 2.4 GB with two arenas. Ray's processes
#: inherit it from here (the Dockerfile and the RayService pods set it too).
MALLOC_ARENAS = "2"
#: Serve loads the proxy's middlewares from this import path (the body cap).
PROXY_CALLBACK_ENV = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
PROXY_CALLBACK = "lumograph.serve.proxy_guard:middlewares"
#: A local (laptop) cluster's control plane runs at a calmer pace than Serve's defaults: the
#: controller's loop every 0.1 s and every replica exporting metrics every 0.1 s cost about
#: a sixth of a 2-core machine while the modules sit idle (`bench jobs`: per-process CPU
#: seconds). Every value can be overridden from the environment.
LOCAL_SERVE_PACE = {
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
    "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "1000",
}

DEFAULT_CONFIG = config_path("local.yaml")
logger = logging.getLogger(__name__)


def resolve_config(name_or_path: str | Path | None) -> Path:
    """A config file: an existing path as given, else a config shipped in the package
    by name (``local.yaml``, ``configs/gpu.yaml``), else ``FileNotFoundError``. None is
    the embedded default, ``local.yaml``."""
    if name_or_path is None:
        return DEFAULT_CONFIG
    path = Path(name_or_path)
    if path.is_file():
        return path
    return config_path(str(name_or_path).removeprefix("configs/"))


def load_serve_config(path: str | Path | None, *, http_port: int | None = None) -> Any:
    """Read and validate a Serve YAML (a path or a shipped config's name, see
    ``resolve_config``) into ``ServeDeploySchema`` (raises on errors)."""
    from ray.serve.schema import ServeDeploySchema

    raw = yaml.safe_load(resolve_config(path).read_text())
    if http_port is not None:
        raw.setdefault("http_options", {})["port"] = int(http_port)
    return ServeDeploySchema.model_validate(raw)


def start_ray(
    *,
    num_cpus: int | None = None,
    num_gpus: float | None = None,
    object_store_mb: int = 256,
    dashboard: bool = False,
    dashboard_port: int = 8265,
    metrics_port: int | None = None,
    temp_dir: str | None = None,
    config: Any = None,
) -> None:
    """Start a fresh local Ray instance (never attaching to a stale one).

    With the Serve ``config`` it will deploy, Serve's HTTP proxy gets the body cap of
    ``serve/proxy_guard.py`` with that config's limits (the proxy inherits its environment
    from this ``ray.init``, so it is set here, before).

    ``num_gpus`` declares that many GPUs to Ray (None: Ray detects them). They may be
    logical: on a CPU machine ``num_gpus=1`` lets fractional-GPU replicas schedule, each
    seeing ``CUDA_VISIBLE_DEVICES="0"``; Ray refuses it while ``CUDA_VISIBLE_DEVICES=""``.
    """
    import ray

    os.environ.pop("RAY_ADDRESS", None)
    if ray.is_initialized():
        return
    os.environ.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)
    os.environ.setdefault(PROXY_CALLBACK_ENV, PROXY_CALLBACK)
    if config is not None:
        from lumograph.serve.proxy_guard import LIMITS_ENV

        os.environ[LIMITS_ENV] = json.dumps(body_limits(config))
    for name, value in LOCAL_SERVE_PACE.items():
        os.environ.setdefault(name, value)
    kwargs: dict[str, Any] = dict(
        address="local",
        namespace="serve",
        object_store_memory=object_store_mb * 1024 * 1024,
        include_dashboard=dashboard,
        log_to_driver=True,
    )
    if num_cpus is not None:
        kwargs["num_cpus"] = num_cpus
    if num_gpus is not None:
        kwargs["num_gpus"] = num_gpus
    if dashboard:
        kwargs.update(dashboard_host="127.0.0.1", dashboard_port=dashboard_port)
    if metrics_port:
        # Prometheus text on http://127.0.0.1:<metrics_port>/metrics (Serve's and ours).
        kwargs["_metrics_export_port"] = int(metrics_port)
    if temp_dir:
        kwargs["_temp_dir"] = temp_dir
    ray.init(**kwargs)


def deploy_config(config: Any, *, timeout_s: float = 180.0, check_resources: bool = True) -> None:
    """Start Serve with the config's HTTP options, deploy its applications and wait
    until every application is RUNNING (raises ``TimeoutError`` or ``RuntimeError``).

    Public Serve APIs only: ``serve.start`` and ``serve.run_many`` over applications built
    by ``apps.build_application`` (which applies each YAML ``deployments:`` entry with
    ``Deployment.options``), the same result ``serve deploy`` gives from the YAML.

    Before anything is deployed, every module's ``user_config`` is validated (a typo
    fails here, quoting the key) and, with ``check_resources`` (the default), the
    config's worst case is checked against ``ray.cluster_resources()``: a plan that does
    not fit raises ``plan.PlanDoesNotFit`` naming the deployment, where Ray would wait
    forever. Opt out of the resource check on an autoscaling cluster whose nodes are
    added on demand.
    """
    import ray
    from ray import serve

    from lumograph.deployments.user_config import USER_CONFIGS, validate_user_config
    from lumograph.serve.apps import build_application

    for app in config.applications:
        for dep in app.deployments:
            if dep.name in USER_CONFIGS and "user_config" in dep.model_fields_set:
                validate_user_config(dep.name, dep.user_config)
    if check_resources and ray.is_initialized():
        from lumograph.serve.plan import require_plan_fits

        resources = ray.cluster_resources()
        require_plan_fits(config, num_gpus=resources.get("GPU", 0.0), num_cpus=resources.get("CPU", 0.0))

    serve.start(
        http_options=config.http_options.model_dump(exclude_unset=True),
        proxy_location=config.proxy_location,
        logging_config=config.logging_config,
    )
    targets = [serve.RunTarget(target=build_application(app), name=app.name, route_prefix=app.route_prefix,
                               logging_config=app.logging_config or config.logging_config)
               for app in config.applications]
    serve.run_many(targets, wait_for_ingress_deployment_creation=False, wait_for_applications_running=False)
    wait_until_running([app.name for app in config.applications], timeout_s=timeout_s)


def wait_until_running(app_names: list[str], *, timeout_s: float = 180.0) -> None:
    from ray import serve

    deadline = time.monotonic() + timeout_s
    last = {}
    while time.monotonic() < deadline:
        apps = serve.status().applications
        last = {name: (apps[name].status if name in apps else "MISSING") for name in app_names}
        failed = {n: apps[n].message for n in app_names if n in apps and apps[n].status in ("DEPLOY_FAILED", "UNHEALTHY")}
        if failed:
            raise RuntimeError(f"Serve applications failed to deploy: {failed}")
        if all(str(s).endswith("RUNNING") for s in last.values()):
            return
        time.sleep(0.5)
    raise TimeoutError(f"Serve applications not RUNNING after {timeout_s:.0f} s: {last}")


def shutdown() -> None:
    """Stop the service gracefully, outside in: the vertical applications first (Serve
    lets each replica finish its requests in flight within the deployment's
    ``graceful_shutdown_timeout_s``; the jobs app puts its unfinished items back in the
    queue), then the modules they were calling, then Ray."""
    import ray
    from ray import serve

    try:
        try:
            front = [name for name in serve.status().applications if name != "modules"]
        except Exception:  # noqa: BLE001 - Serve never started or is already gone
            front = []
        for name in front:
            try:
                serve.delete(name)
            except Exception:  # noqa: BLE001 - a failed drain must not stop the shutdown
                logger.exception("stopping application %s failed", name)
        serve.shutdown()
    finally:
        ray.shutdown()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for test and bench clusters)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- the service database

#: Applications whose args carry the service database (``ServiceDataArgs``).
SERVICE_DATA_APPS = ("lumograph.serve.apps:jewelry_app", "lumograph.serve.apps:listing_app",
                     "lumograph.serve.apps:jobs_app")


def service_data_args(config: Any):
    """The service database settings of a Serve config (its first application that has
    them), ``data_dir`` made absolute against this process's working directory."""
    from lumograph.serve.schemas import ServiceDataArgs

    for app in config.applications:
        if app.import_path in SERVICE_DATA_APPS:
            fields = {k: v for k, v in (app.args or {}).items() if k in ServiceDataArgs.model_fields}
            args = ServiceDataArgs.model_validate(fields)
            return args.model_copy(update={"data_dir": os.path.abspath(os.path.expanduser(args.data_dir))})
    return None


def use_data_dir(config: Any, data_dir: str | Path) -> None:
    """Point every application of ``config`` at one service data folder (tests, benches)."""
    for app in config.applications:
        if app.import_path in SERVICE_DATA_APPS:
            app.args = {**(app.args or {}), "data_dir": str(data_dir)}


def issue_key(config: Any, tenant: str, name: str | None = None) -> str:
    """A new API key for ``tenant`` in ``config``'s service database (tests, benches)."""
    from lumograph.access.keys import KeyStore
    from lumograph.jobs.db import open_db
    from lumograph.serve.access import database_url_of

    return KeyStore(open_db(database_url_of(service_data_args(config)))).create_key(tenant, name).token


def first_start_key(config: Any) -> tuple[str, Path] | None:
    """``lumograph serve``'s first start: a key for tenant ``local`` (see ``keys_cli``)."""
    from lumograph.serve.access import database_url_of
    from lumograph.serve.keys_cli import ensure_local_key

    args = service_data_args(config)
    return None if args is None else ensure_local_key(database_url_of(args), args.data_dir)


def body_limits(config: Any) -> dict[str, int]:
    """Largest request body per full path (route prefix + route) of ``config``'s
    applications, from their args (the same figures each ingress enforces)."""
    from lumograph.serve.schemas import JewelryAppArgs, JobsAppArgs, ListingAppArgs

    models = dict(zip(SERVICE_DATA_APPS, (JewelryAppArgs, ListingAppArgs, JobsAppArgs)))
    limits: dict[str, int] = {}
    for app in config.applications:
        model = models.get(app.import_path)
        if model is None:
            continue
        prefix = (app.route_prefix or "").rstrip("/")
        for suffix, n in model.model_validate(app.args or {}).body_limits().items():
            limits[prefix + suffix] = n
    return limits
