"""Every request option, module knob and report of the API, as pydantic v2 models.

Validators reject bad input with a message that quotes the bad value; nothing is
silently rewritten. The same models are used by the HTTP routes, the CLI and the eval,
so the future batch-job and tenant layers can store and replay them unchanged.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Marketplace = Literal["amazon", "amazon_jewelry", "etsy", "shopify", "google", "ebay"]
OutputFormat = Literal["jpeg", "png", "webp"]
ShadowStyle = Literal["none", "contact", "soft", "drop", "reflection"]
MetalHint = Literal["auto", "yellow_gold", "white_metal", "rose_gold", "none"]
Verdict = Literal["pass", "review", "fail"]
BackendChoice = Literal["auto", "classical"]


class LightboxOptions(BaseModel):
    """Options of ``POST /jewelry/lightbox``."""

    model_config = ConfigDict(extra="forbid")

    marketplace: Marketplace = Field("amazon", description="Marketplace profile the output must pass.")
    size: int | None = Field(
        None, ge=100, le=10000,
        description="Canvas side in pixels (square canvas). Default: the profile's recommended size.",
    )
    format: OutputFormat = Field("jpeg", description="Encoded output format.")
    transparent: bool = Field(
        False, description="Deliver the cut-out on a transparent background (PNG or WebP only)."
    )
    shadow: ShadowStyle = Field("soft", description="Shadow style under the piece.")
    metal: MetalHint = Field("auto", description="Metal hint; 'auto' uses the classifier's guess.")
    fill_ratio: float | None = Field(
        None, ge=0.3, le=0.98,
        description="Longest side of the piece over the canvas side. Default: the profile's target.",
    )
    quality: int = Field(92, ge=60, le=100, description="JPEG/WebP quality.")
    min_short_side: int | None = Field(
        None, ge=64, le=8000,
        description="Input floor override: minimum short side of the upload in pixels "
        "(default from the QA module's configuration, 1024).",
    )

    @model_validator(mode="after")
    def _transparent_needs_alpha_format(self) -> "LightboxOptions":
        if self.transparent and self.format == "jpeg":
            raise ValueError(
                f"transparent=true needs format png or webp, got format={self.format!r}"
            )
        return self


class CheckModel(BaseModel):
    """One QA check: what was measured, against which limit, and whether it passed."""

    name: str
    passed: bool
    severity: Literal["fail", "review", "info"]
    value: float | int | str | bool | None = None
    limit: float | int | str | None = None
    message: str = ""


class QAModel(BaseModel):
    verdict: Verdict
    score: float = Field(ge=0.0, le=1.0)
    checks: list[CheckModel]


class LightboxReport(BaseModel):
    """The full report of one lightbox request (``?report=json``)."""

    request_id: str
    verdict: Verdict
    score: float = Field(ge=0.0, le=1.0)
    billable: bool = Field(description="Only a 'pass' is billable.")
    marketplace: Marketplace
    input: dict[str, Any] = Field(description="Source size, format and conversions applied.")
    output: dict[str, Any] = Field(default_factory=dict, description="Delivered size, format, bytes.")
    classification: dict[str, Any] = Field(default_factory=dict)
    illuminant: dict[str, Any] = Field(default_factory=dict)
    light: dict[str, Any] = Field(default_factory=dict)
    segmentation: dict[str, Any] = Field(default_factory=dict)
    grading: dict[str, Any] = Field(default_factory=dict)
    composition: dict[str, Any] = Field(default_factory=dict)
    input_checks: list[CheckModel] = Field(default_factory=list)
    output_checks: list[CheckModel] = Field(default_factory=list)
    modules_run: list[str] = Field(default_factory=list)
    backends: dict[str, str] = Field(default_factory=dict)
    timings_s: dict[str, float] = Field(default_factory=dict, description="Per-stage wall time.")


class ErrorBody(BaseModel):
    """Every error the API returns."""

    code: str = Field(description="Stable machine-readable error code.")
    message: str
    request_id: str
    details: dict[str, Any] = Field(default_factory=dict)


class SegmenterConfig(BaseModel):
    """``user_config`` of the segmenter deployment."""

    model_config = ConfigDict(extra="forbid")
    backend: BackendChoice = "auto"
    weights_dir: str | None = None
    target_long_side: int = Field(2048, ge=256, le=8192, description="Working resolution of the matte.")


class QAConfig(BaseModel):
    """``user_config`` of the QA deployment: thresholds that change without a restart."""

    model_config = ConfigDict(extra="forbid")
    min_short_side: int = Field(1024, ge=64, le=8000)


class ModuleConfig(BaseModel):
    """``user_config`` of a module with only a backend choice."""

    model_config = ConfigDict(extra="forbid")
    backend: BackendChoice = "auto"
    weights_dir: str | None = None
