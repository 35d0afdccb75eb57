"""Smart retry: from the checks an attempt failed, the options of one more attempt.

Only checks that an option can fix are acted on; the rest are defects of the photo (too
small for the canvas, two pieces in frame, text in the scene) and a second attempt would
only cost time, so none is made and the report says why. Pure: options and a report in,
a plan out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lumograph.models.common.marketplaces import get_profile

#: A JPEG/WebP quality step down for an output over the marketplace's file size.
QUALITY_STEP = 12
MIN_QUALITY = 70
#: Margin over a marketplace's minimum fill (its measurement rounds the piece's box).
FILL_MARGIN = 0.03


@dataclass
class RetryPlan:
    options: dict[str, Any]
    changes: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)


def failing_checks(report: dict[str, Any]) -> list[dict[str, Any]]:
    checks = list(report.get("input_checks", [])) + list(report.get("output_checks", [])) \
        + list(report.get("checks", []))
    return [c for c in checks if not c.get("passed", True) and c.get("severity") in ("fail", "review")]


def _jewelry(options: dict[str, Any], failed: dict[str, dict[str, Any]]) -> RetryPlan:
    plan = RetryPlan(options=dict(options))
    profile = get_profile(options.get("marketplace", "amazon"))
    if "output_fill_ratio" in failed and profile.min_fill is not None:
        fill = round(max(profile.default_fill, profile.min_fill + FILL_MARGIN), 3)
        if options.get("fill_ratio") != fill:
            plan.changes["fill_ratio"] = fill
            plan.reasons.append(f"output_fill_ratio {failed['output_fill_ratio'].get('value')} under "
                                f"{profile.display_name}'s {profile.min_fill}: fill {fill}")
    if ("output_border_white" in failed or "output_frame_border" in failed) and options.get("shadow") != "none":
        # A shadow that reaches the canvas edge greys the border: a contact shadow stays under
        # the piece; without one the border is pure white for sure.
        shadow = "contact" if options.get("shadow") not in ("contact",) else "none"
        plan.changes["shadow"] = shadow
        plan.reasons.append(f"border not pure white: shadow {options.get('shadow')!r} -> {shadow!r}")
    if "output_file_size" in failed and options.get("format") in ("jpeg", "webp"):
        quality = max(MIN_QUALITY, int(options.get("quality", 92)) - QUALITY_STEP)
        if quality < int(options.get("quality", 92)):
            plan.changes["quality"] = quality
            plan.reasons.append(f"output_file_size over the limit: quality {quality}")
    plan.options.update(plan.changes)
    return plan


def _listing(options: dict[str, Any], failed: dict[str, dict[str, Any]], report: dict[str, Any]) -> RetryPlan:
    plan = RetryPlan(options=dict(options))
    applied = list(report.get("modules_applied", []))
    if "listing_sky_halo" in failed and "sky_replacement" in applied:
        # A halo along the roofline: deliver the real sky rather than a fringed new one.
        plan.changes["modules"] = [m for m in applied if m != "sky_replacement"]
        plan.reasons.append("listing_sky_halo: the sky is not replaced")
    plan.options.update(plan.changes)
    return plan


def plan_retry(vertical: str, options: dict[str, Any], report: dict[str, Any], *,
               locked: set[str] = frozenset()) -> RetryPlan | None:
    """The second attempt's options, or None when no option fixes what failed. locked:
    options a job's consistency lock holds fixed (never changed by a retry)."""
    failed = {c["name"]: c for c in failing_checks(report)}
    if not failed:
        return None
    plan = _jewelry(options, failed) if vertical == "jewelry" else _listing(options, failed, report)
    for name in locked & set(plan.changes):
        del plan.changes[name]
        plan.options[name] = options.get(name)
        plan.reasons.append(f"{name} is locked by the job's consistency lock: not changed")
    return plan if plan.changes else None


def better(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether the second attempt's report beats the first: a better verdict, then a
    higher score."""
    rank = {"pass": 2, "review": 1, "fail": 0, None: -1}
    a, b = rank.get(first.get("verdict"), -1), rank.get(second.get("verdict"), -1)
    return b > a or (b == a and float(second.get("score", 0)) > float(first.get("score", 0)))
