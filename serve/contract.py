"""The HTTP contract as FastAPI sees it: the form models, file fields, query parameters
and responses each route declares, so ``/jewelry/docs``, ``/listing/docs`` and their
``openapi.json`` show every field with its allowed values, limits and description, the
media types of a success and every error status with the ``ErrorBody`` schema.

The declared form models are twins of the option models in ``schemas.py`` that ignore
fields they do not know (the file parts, the other model's fields of a bundle); the
ingress then validates the form and the query string together against the real option
model, which forbids unknown fields, so the option models stay the one source of truth.
"""
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model

from lumograph.serve.errors import ERROR_CODES
from lumograph.serve.schemas import (
    BundleFields,
    EnhanceOptions,
    ErrorBody,
    LightboxOptions,
    LightboxReport,
    ListingModule,
    ListingReport,
    StageOptions,
)

IMAGE_DOC = ("The photo: JPEG, PNG, WebP, HEIC/HEIF, AVIF, TIFF, BMP or GIF (still; an embedded "
             "colour profile is converted to sRGB), at most the deployment's "
             "max_upload_bytes and max_pixels. The same bytes may instead be sent as the raw "
             "request body with Content-Type image/*, options then in the query string.")
REPORT_DOC = ("json: answer {report, image_base64, media_type} instead of the image. A request "
              "whose Accept header asks for application/json gets the same.")
ReportFormat = Optional[Literal["json"]]

#: A form field is a string; the module list arrives comma-separated.
_MODULES_AS_FORM = (Optional[str], Field(
    None, description="Comma-separated module list among " + ", ".join(ListingModule.__args__)
    + "; wins over the tier (each still runs only where the photo needs it).",
    examples=["window_pull,colour_grade"]))
#: The lamp boxes arrive as 'x0,y0,x1,y1;x0,y0,x1,y1'.
_LAMPS_AS_FORM = (Optional[str], Field(
    None, description=EnhanceOptions.model_fields["dusk_lamps"].description,
    examples=["0.30,0.55,0.33,0.60;0.62,0.55,0.65,0.60"]))
_ENHANCE_AS_FORM = {"modules": _MODULES_AS_FORM, "dusk_lamps": _LAMPS_AS_FORM}


def _form_twin(name: str, *models: type[BaseModel], overrides: Optional[dict[str, Any]] = None) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for model in models:
        for field_name, info in model.model_fields.items():
            fields[field_name] = (info.annotation, info)
    fields.update(overrides or {})
    return create_model(name, __config__=ConfigDict(extra="ignore"), __doc__=models[0].__doc__, **fields)


LightboxForm = _form_twin("LightboxForm", LightboxOptions)
EnhanceForm = _form_twin("EnhanceForm", EnhanceOptions, overrides=_ENHANCE_AS_FORM)
BundleForm = _form_twin("BundleForm", BundleFields, EnhanceOptions, overrides=_ENHANCE_AS_FORM)
StageForm = _form_twin("StageForm", StageOptions)


class LightboxJSON(BaseModel):
    """``?report=json`` answer of ``/jewelry/lightbox``."""

    report: LightboxReport
    image_base64: str = Field(description="The delivered image, base64.")
    media_type: str


class EnhanceJSON(BaseModel):
    """``?report=json`` answer of ``/listing/enhance``."""

    report: ListingReport
    image_base64: str = Field(description="The delivered image, base64.")
    media_type: str


class BundlePhoto(BaseModel):
    """One photo of a bundle: ``ok`` with its image and report, or ``error`` with an ``ErrorBody``."""

    model_config = ConfigDict(extra="allow")
    index: int
    filename: Optional[str] = None
    status: Literal["ok", "error"]
    verdict: Optional[str] = None
    media_type: Optional[str] = None
    image_base64: Optional[str] = None
    report: Optional[ListingReport] = None
    error: Optional[ErrorBody] = None


class BundleJSON(BaseModel):
    """Answer of ``/listing/bundle``: every photo, the primary, disclosures and the bill."""

    model_config = ConfigDict(extra="allow")
    request_id: str
    photos: list[BundlePhoto]
    primary_index: Optional[int] = None
    n_photos: int
    delivered: int
    disclosures: list[dict[str, Any]] = Field(default_factory=list)
    billing: dict[str, Any] = Field(default_factory=dict)


def image_response(json_model: Optional[type[BaseModel]], what: str) -> dict:
    """The 200 of a route answering an image (or, on request, ``json_model``)."""
    content: dict[str, Any] = {f"image/{f}": {"schema": {"type": "string", "format": "binary"}}
                               for f in ("jpeg", "png", "webp")}
    ok: dict[str, Any] = {"description": what, "content": content,
                          "headers": {"X-Lumograph-Verdict": {"description": "pass | review",
                                                              "schema": {"type": "string"}}}}
    if json_model is not None:
        ok["model"] = json_model  # FastAPI puts its schema under application/json
    return {200: ok}


def error_responses(*statuses: int) -> dict:
    """``{status: {model: ErrorBody, description: the codes answered with it}}``."""
    out = {}
    for status in statuses:
        codes = sorted(code for code, (s, _) in ERROR_CODES.items() if s == status)
        out[status] = {"model": ErrorBody, "description": "JSON error; code: " + ", ".join(codes)}
    return out
