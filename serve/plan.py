"""Will a Serve config fit the cluster? The check that runs before a deploy.

Ray does not refuse a plan that asks for more GPU than the cluster has: ``serve.run`` and
``serve deploy`` wait forever for the replicas that cannot be placed (a warning every
30 s). ``check_plan`` works the answer out from the config alone, at the worst case
(every deployment at ``max_replicas``, or at its fixed ``num_replicas``), so an operator
learns before deploying that, say, two 0.75-GPU inpainters do not fit one GPU.

GPU fractions pack like Ray packs them: a replica asking for a fraction below 1 must fit
inside one GPU (Ray never splits a replica across devices), and a replica asking for
``k >= 1`` GPUs takes ``k`` whole GPUs. The packing is first-fit decreasing: whole-GPU
replicas first, then fractions from the largest down, each into the first GPU with room.
Amounts are counted in Ray's own resource unit (1/10000), so 8 x 0.125 is exactly 1.
CPU is checked as a total (``num_cpus`` are scheduling shares, not per-device bins).

Only deployments the config lists are counted (the plan does not import the
applications); a deployment listed without ``num_cpus`` counts Serve's default of 1 CPU.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: Ray accounts resources in units of 1/10000 (its resource-unit constant).
_UNITS = 10_000
#: Serve's per-replica CPU when ``ray_actor_options.num_cpus`` is not set.
_SERVE_DEFAULT_NUM_CPUS = 1.0


class PlanDoesNotFit(ValueError):
    """The config's worst case does not fit the given GPUs/CPUs. ``report`` holds the
    full ``PlanReport``; the message is one line naming the deployment that does not fit."""

    def __init__(self, message: str, report: PlanReport):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class DeploymentDemand:
    """What one deployment asks for. ``*_at_start`` is what the deploy itself must place
    (``initial_replicas``, else ``min_replicas``, else ``num_replicas``); ``*_worst`` is at
    ``max_replicas`` (autoscaling) or ``num_replicas`` (fixed)."""

    app: str
    deployment: str
    num_gpus: float  # per replica
    num_cpus: float  # per replica
    replicas_at_start: int
    replicas_worst: int
    gpus_worst: float
    cpus_worst: float
    gpus_at_start: float
    cpus_at_start: float

    @property
    def qualified_name(self) -> str:
        return f"{self.app}/{self.deployment}"


@dataclass
class PlanReport:
    """The result of ``check_plan``; ``to_dict()`` is JSON-able.

    ``gpu_packing`` lists, per GPU (index = logical GPU id in packing order), the replicas
    placed on it at the worst case, e.g. ``[{"deployment": "modules/Inpainter",
    "num_gpus": 0.5}, ...]``; ``problems`` is empty exactly when ``fits`` is True.
    """

    fits: bool
    available: dict[str, float]
    needed_worst: dict[str, float]
    needed_at_start: dict[str, float]
    deployments: list[DeploymentDemand]
    gpu_packing: list[list[dict[str, Any]]]
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["deployments"] = [{"name": d.qualified_name, **asdict(d)} for d in self.deployments]
        return out


def _to_units(value: float) -> int:
    return round(float(value) * _UNITS)


def _from_units(units: int) -> float:
    return round(units / _UNITS, 4)


def _config_dict(config: Any) -> dict[str, Any]:
    """The config as a plain dict holding only what the YAML set (validated by Serve)."""
    from ray.serve.schema import ServeDeploySchema

    schema = config if isinstance(config, ServeDeploySchema) else ServeDeploySchema.model_validate(config)
    return schema.model_dump(mode="json", exclude_unset=True)


def _replica_counts(options: dict[str, Any]) -> tuple[int, int]:
    """(replicas at start, replicas at worst) for one deployment's options."""
    from ray.serve.config import AutoscalingConfig

    num_replicas = options.get("num_replicas")
    autoscaling = options.get("autoscaling_config")
    if num_replicas == "auto" or (autoscaling and num_replicas in (None, "auto")):
        base = AutoscalingConfig.default().model_dump() if num_replicas == "auto" else {}
        conf = AutoscalingConfig(**{**base, **(autoscaling or {})})
        start = conf.initial_replicas if conf.initial_replicas is not None else conf.min_replicas
        return int(start), int(conf.max_replicas)
    count = 1 if num_replicas is None else int(num_replicas)
    return count, count


def _demands(config: dict[str, Any]) -> list[DeploymentDemand]:
    demands = []
    for app in config.get("applications", []):
        for options in app.get("deployments", []):
            actor = options.get("ray_actor_options") or {}
            num_gpus = float(actor.get("num_gpus") or 0.0)
            cpus = actor.get("num_cpus")
            num_cpus = _SERVE_DEFAULT_NUM_CPUS if cpus is None else float(cpus)
            start, worst = _replica_counts(options)
            demands.append(DeploymentDemand(
                app=app["name"], deployment=options["name"], num_gpus=num_gpus, num_cpus=num_cpus,
                replicas_at_start=start, replicas_worst=worst,
                gpus_worst=_from_units(_to_units(num_gpus) * worst),
                cpus_worst=_from_units(_to_units(num_cpus) * worst),
                gpus_at_start=_from_units(_to_units(num_gpus) * start),
                cpus_at_start=_from_units(_to_units(num_cpus) * start),
            ))
    return demands


def _gpu_bins(num_gpus: float) -> list[int]:
    """Capacity of each GPU in units: whole GPUs, plus a partial one for a fractional total."""
    whole = math.floor(num_gpus + 1e-9)
    bins = [_UNITS] * whole
    rest = _to_units(num_gpus) - whole * _UNITS
    if rest > 0:
        bins.append(rest)
    return bins


def _pack_gpus(demands: list[DeploymentDemand], num_gpus: float) -> tuple[list[list[dict[str, Any]]], list[str]]:
    """First-fit decreasing of every worst-case GPU replica onto the GPUs.

    Returns (per-GPU placements, problems); one problem per deployment that has a
    replica left over, naming it and what was free.
    """
    capacity = _gpu_bins(num_gpus)
    free = list(capacity)
    placed: list[list[dict[str, Any]]] = [[] for _ in capacity]
    problems: list[str] = []
    replicas = []
    for d in demands:
        if d.num_gpus <= 0:
            continue
        if d.num_gpus > 1 and not float(d.num_gpus).is_integer():
            problems.append(f"{d.qualified_name}: num_gpus {d.num_gpus} per replica: Ray accepts fractions below 1 "
                            f"or whole numbers of GPUs, not {d.num_gpus}")
            continue
        replicas += [(d, i + 1) for i in range(d.replicas_worst)]
    # Whole-GPU replicas first (they need empty GPUs), then the largest fractions.
    replicas.sort(key=lambda item: (-_to_units(item[0].num_gpus), item[0].qualified_name, item[1]))
    short: set[str] = set()
    for d, index in replicas:
        units = _to_units(d.num_gpus)
        if d.num_gpus >= 1:
            need = int(d.num_gpus)
            empty = [g for g in range(len(free)) if free[g] == capacity[g] == _UNITS][:need]
            targets = empty if len(empty) == need else None
        else:
            fit = next((g for g in range(len(free)) if free[g] >= units), None)
            targets = None if fit is None else [fit]
        if targets is None:
            if d.qualified_name not in short:
                short.add(d.qualified_name)
                most_free = _from_units(max(free)) if free else 0.0
                where = "whole GPUs" if d.num_gpus >= 1 else "within one GPU"
                problems.append(
                    f"{d.qualified_name}: replica {index} of {d.replicas_worst} needs {d.num_gpus:g} GPU "
                    f"({where}) but no GPU has that much free ({num_gpus:g} GPU in all, most free "
                    f"{most_free:g} after larger replicas)"
                )
            continue
        for g in targets:
            free[g] -= units if d.num_gpus < 1 else capacity[g]
            placed[g].append({"deployment": d.qualified_name, "replica": index, "num_gpus": d.num_gpus})
    return placed, problems


def check_plan(config: Any, *, num_gpus: float, num_cpus: float) -> PlanReport:
    """Check a Serve config's worst case against ``num_gpus`` GPUs and ``num_cpus`` CPUs.

    config: a ``ray.serve.schema.ServeDeploySchema`` or the dict of a Serve YAML (validated
    here; raises pydantic's ``ValidationError`` when it is not a Serve config).
    num_gpus, num_cpus: what the cluster has (``ray.cluster_resources()``, or a node count
    times each node's devices), >= 0; fractional GPU totals count as a partial last GPU.

    Returns a ``PlanReport``: per-deployment demand at start and at worst case, totals,
    the first-fit-decreasing GPU packing and ``problems`` (one line each, naming the
    deployment); ``fits`` is True when there is none. Loads nothing, starts nothing.
    """
    if num_gpus < 0 or num_cpus < 0:
        raise ValueError(f"num_gpus and num_cpus must be >= 0, got {num_gpus!r}, {num_cpus!r}")
    raw = _config_dict(config)
    demands = _demands(raw)
    problems: list[str] = []
    notes: list[str] = []

    packing, gpu_problems = _pack_gpus(demands, float(num_gpus))
    problems += gpu_problems

    cpu_units = sum(_to_units(d.num_cpus) * d.replicas_worst for d in demands)
    if cpu_units > _to_units(num_cpus):
        biggest = sorted(demands, key=lambda d: -d.cpus_worst)[:3]
        share = ", ".join(f"{d.qualified_name} {d.cpus_worst:g}" for d in biggest if d.cpus_worst > 0)
        problems.append(f"{biggest[0].qualified_name}: CPU at max replicas totals {_from_units(cpu_units):g} "
                        f"of {num_cpus:g} available (largest: {share})")
    for d in demands:
        if d.num_cpus > num_cpus:
            problems.append(f"{d.qualified_name}: one replica needs {d.num_cpus:g} CPU, the cluster has {num_cpus:g}")
    for app in raw.get("applications", []):
        if not app.get("deployments"):
            notes.append(f"application {app['name']!r} lists no deployments: their code defaults are not counted")

    gpu_units = sum(_to_units(d.num_gpus) * d.replicas_worst for d in demands)
    return PlanReport(
        fits=not problems,
        available={"GPU": float(num_gpus), "CPU": float(num_cpus)},
        needed_worst={"GPU": _from_units(gpu_units), "CPU": _from_units(cpu_units)},
        needed_at_start={
            "GPU": _from_units(sum(_to_units(d.num_gpus) * d.replicas_at_start for d in demands)),
            "CPU": _from_units(sum(_to_units(d.num_cpus) * d.replicas_at_start for d in demands)),
        },
        deployments=demands,
        gpu_packing=packing,
        problems=problems,
        notes=notes,
    )


def require_plan_fits(config: Any, *, num_gpus: float, num_cpus: float) -> PlanReport:
    """``check_plan`` that raises ``PlanDoesNotFit`` (a ``ValueError``) with a one-line
    message naming the first deployment that does not fit; returns the report otherwise."""
    report = check_plan(config, num_gpus=num_gpus, num_cpus=num_cpus)
    if not report.fits:
        more = f" (+{len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        raise PlanDoesNotFit(
            f"Serve plan does not fit {num_gpus:g} GPU / {num_cpus:g} CPU at max replicas: "
            f"{report.problems[0]}{more}",
            report,
        )
    return report
