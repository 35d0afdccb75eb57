"""``user_config`` of every module deployment, as pydantic models.

A replica validates its ``user_config`` on every ``reconfigure`` (start-up and each
``serve deploy`` that changes it), and ``lumograph serve`` validates a whole config before
deploying: a typo in a YAML fails with a message that quotes the key, instead of a
replica crash-looping on an unexpected keyword.
"""
from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lumograph.deployments.directory import MODULE_DEPLOYMENTS
from lumograph.models.common.backends import module_backends
from lumograph.models.inpainter.diffusion import DEFAULT_STEPS, MAX_STEPS
from lumograph.models.window_detector.yolo import DEFAULT_CONF


class ModuleConfig(BaseModel):
    """Knobs every module has: which backend, and where the weights are."""

    model_config = ConfigDict(extra="forbid")
    module: ClassVar[str]

    backend: str = Field("auto", description="auto (learned where its weights are complete, else "
                         "classical), classical, or a learned backend's name.")
    weights_dir: str | None = Field(None, description="Local folder holding the learned backends' weights.")

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        known = ["auto", *module_backends(cls.module)]
        if value not in known:
            raise ValueError(f"unknown backend {value!r} for the {cls.module}; known: {known}")
        return value


class ClassifierConfig(ModuleConfig):
    module = "classifier"


class SegmenterConfig(ModuleConfig):
    module = "segmenter"
    target_long_side: int = Field(2048, ge=256, le=8192, description="Working resolution of the jewelry matte.")


class WindowDetectorConfig(ModuleConfig):
    module = "window_detector"
    yolo_conf: float = Field(DEFAULT_CONF, ge=0.0, le=1.0, description="YOLO box confidence threshold.")


class GraderConfig(ModuleConfig):
    module = "grader"
    strength: float = Field(1.0, ge=0.0, le=1.0, description="Share of the white-balance correction applied.")


class CompositorConfig(ModuleConfig):
    module = "compositor"


class InpainterConfig(ModuleConfig):
    module = "inpainter"
    diffusion_steps: int = Field(DEFAULT_STEPS, ge=1, le=MAX_STEPS, description="Denoising steps per fill.")


class QAConfig(ModuleConfig):
    module = "qa"
    min_short_side: int | None = Field(
        None, ge=64, le=8000,
        description="A fixed input floor (shortest side in pixels); null: the floor is the piece's "
        "magnification at the delivered size.")


#: Deployment name (``directory.MODULE_DEPLOYMENTS``) -> its user_config model.
USER_CONFIGS: dict[str, type[ModuleConfig]] = {
    MODULE_DEPLOYMENTS[model.module]: model
    for model in (ClassifierConfig, SegmenterConfig, WindowDetectorConfig, GraderConfig, CompositorConfig,
                  InpainterConfig, QAConfig)
}


def validate_user_config(deployment: str, config: dict | None) -> ModuleConfig:
    """The validated ``user_config`` of ``deployment``; raises ``ValueError`` with one line
    per problem, each quoting the key and the value it got."""
    model = USER_CONFIGS[deployment]
    try:
        return model.model_validate(dict(config or {}))
    except ValidationError as err:
        problems = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"]) or "user_config"
            problems.append(f"{key}: {e['msg']} (got {e.get('input')!r})")
        raise ValueError(f"{deployment} user_config is invalid: " + "; ".join(problems)) from None
