"""A tenant's limits: the configured defaults, overridden per tenant in the database."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lumograph.models.common.errors import InvalidOptions


class Limits(BaseModel):
    """Per-tenant limits. Requests and images are token buckets (a steady rate and a burst);
    jobs and bytes are counts."""

    model_config = ConfigDict(extra="forbid")
    requests_per_s: float = Field(10.0, gt=0, le=100_000, description="Steady requests per second.")
    requests_burst: int = Field(40, ge=1, le=1_000_000, description="Requests that may arrive at once.")
    images_per_min: float = Field(300.0, gt=0, le=10_000_000, description="Steady images per minute.")
    images_burst: int = Field(600, ge=1, le=10_000_000,
                              description="Images that may arrive at once (a job or bundle takes one per photo).")
    max_active_jobs: int = Field(20, ge=1, le=10_000, description="Jobs queued or running at once.")
    bytes_per_day: int = Field(50 * 1024 ** 3, ge=1024, description="Upload bytes per UTC day.")

    def merged(self, overrides: dict[str, Any] | None) -> "Limits":
        """These limits with a tenant's overrides (unknown keys are an error)."""
        if not overrides:
            return self
        return with_overrides(self, overrides)


def with_overrides(base: Limits, overrides: dict[str, Any]) -> Limits:
    """``base`` with ``overrides`` validated on top; the message quotes a bad value."""
    from pydantic import ValidationError

    try:
        return Limits.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e.get('input')!r})"
                    for e in exc.errors()]
        raise InvalidOptions("; ".join(problems), details={"errors": problems}) from None
