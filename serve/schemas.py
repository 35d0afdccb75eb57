"""Every request option, module knob and report of the API, as pydantic v2 models.

Validators reject bad input with a message that quotes the bad value; nothing is
silently rewritten. The same models are used by the HTTP routes, the CLI and the eval,
so the future batch-job and tenant layers can store and replay them unchanged.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lumograph.access.limits import Limits
from lumograph.models.common.errors import InvalidOptions
from lumograph.models.compositor.lamp_glow import MAX_LAMP_SHARE

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
    iptc_source_type: bool = Field(
        False, description="Write IPTC DigitalSourceType 'composite' (the piece on a made backdrop and "
        "shadow) into the image's XMP, as Google Merchant Center asks of edited product images; without it "
        "the file carries no metadata but its sRGB profile.")
    min_short_side: int | None = Field(
        None, ge=64, le=8000,
        description="A fixed input floor: minimum short side of the upload in pixels. Default: the "
        "QA module's configuration (none): the floor is then the piece's magnification at the "
        "delivered size, at most 2x; a small photo is delivered on a smaller canvas.",
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
    rule: str | None = Field(None, description="The platform rule the check serves (listing MLS "
                             "checks: no branding, no people), or null.")
    boxes: list[dict[str, Any]] | None = Field(
        None, description="Where the check found what it flags: each item has \"box\": [x0, y0, x1, y1] "
        "as fractions of the checked image's width and height, plus the check's own details (score, "
        "what); null when the check does not locate anything.")


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
    canvas: dict[str, Any] = Field(
        default_factory=dict, description="The canvas planned for the piece: side (px), fill, magnification "
        "(canvas px per source px of the piece) and reduced (lowered from the profile's default to stay sharp).")
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


ListingTier = Literal["standard", "premium", "auto"]
ListingModule = Literal["window_pull", "window_view", "sky_replacement", "colour_grade", "glare_removal",
                        "mirror_cleanup", "verticals", "day_to_dusk"]
RoomLabel = Literal["kitchen", "bathroom", "bedroom", "living", "dining", "other", "exterior"]
SkyStyle = Literal["clear_blue", "light_clouds", "high_clouds"]


#: Most light fixtures a client may mark on one photo, and the largest one (share of the
#: frame): day-to-dusk lights no box larger, so a larger one is refused, not left dark.
MAX_DUSK_LAMPS = 24
MAX_DUSK_LAMP_SHARE = MAX_LAMP_SHARE


def _lamp_boxes(value: Any) -> Any:
    """``"x0,y0,x1,y1;x0,y0,x1,y1"`` (a form field) or a list of 4-number lists, as a list
    of 4-float lists; anything else is left for the field's type check."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return [[float(v) for v in box.split(",")] for box in text.split(";") if box.strip()]
        except ValueError:
            raise ValueError(f"dusk_lamps must be 'x0,y0,x1,y1;...' fractions, got {value!r}") from None
    return value


class EnhanceOptions(BaseModel):
    """Options of ``POST /listing/enhance`` (and of each photo of a bundle)."""

    model_config = ConfigDict(extra="forbid")

    tier: ListingTier = Field(
        "auto", description="standard (window pull, colour grade, sky where needed), premium "
        "(all modules) or auto (run what the photo needs; billed at the tier that covers it).")
    modules: list[ListingModule] | None = Field(
        None, description="Explicit module list; wins over the tier. Each still runs only "
        "where the photo needs it.")
    room: RoomLabel | None = Field(
        None, description="Client-supplied room label; wins over the classifier's guess.")
    dusk: bool = Field(False, description="Day-to-dusk conversion (exteriors).")
    dusk_lamps: list[list[float]] | None = Field(
        None, max_length=MAX_DUSK_LAMPS,
        description="Exterior light fixtures to switch on at dusk, as boxes in fractions of the "
        "photo: 'x0,y0,x1,y1;x0,y0,x1,y1' in a form, or a list of [x0, y0, x1, y1]. Each at most "
        f"{MAX_DUSK_LAMP_SHARE:.0%} of the frame. Lit beside any a learned detector finds; the "
        "laptop path finds none itself.")
    sky_style: SkyStyle = Field("clear_blue", description="Replacement sky.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed for generated skies.")
    window_threshold_stops: float = Field(
        2.5, ge=0.5, le=8.0, description="A window this many stops over the room gets pulled.")
    alter_primary: bool = Field(
        False, description="Allow sky and retouching edits on a bundle's primary exterior.")
    format: OutputFormat = Field("jpeg", description="Encoded output format.")
    quality: int = Field(90, ge=60, le=100, description="JPEG/WebP quality.")
    max_long_side: int | None = Field(
        None, ge=256, le=10000, description="Downscale the output to this long side.")
    iptc_source_type: bool = Field(
        False, description="Write IPTC DigitalSourceType (and the MLS disclosures as dc:description) into "
        "the image's XMP, as Google Merchant Center asks of AI-edited images; without it the file carries "
        "no metadata but its sRGB profile. Not written on a photo nothing was applied to.")

    @model_validator(mode="before")
    @classmethod
    def _split_module_list(cls, data: Any) -> Any:
        # A form field arrives as "window_pull,colour_grade"; a JSON body as a list.
        if isinstance(data, dict) and isinstance(data.get("modules"), str):
            text = data["modules"].strip()
            data = {**data, "modules": [m.strip() for m in text.split(",") if m.strip()]
                    if text else None}
        if isinstance(data, dict) and "dusk_lamps" in data:
            data = {**data, "dusk_lamps": _lamp_boxes(data["dusk_lamps"])}
        return data

    @model_validator(mode="after")
    def _modules_not_empty(self) -> "EnhanceOptions":
        if self.modules is not None and not self.modules:
            raise ValueError(f"modules must name at least one module, got {self.modules!r}")
        for box in self.dusk_lamps or []:
            if len(box) != 4:
                raise ValueError(f"each dusk_lamps box needs 4 fractions x0,y0,x1,y1, got {box!r}")
            x0, y0, x1, y1 = box
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise ValueError(f"a dusk_lamps box must be fractions with x0 < x1, y0 < y1, got {box!r}")
            if (x1 - x0) * (y1 - y0) > MAX_DUSK_LAMP_SHARE:
                raise ValueError(f"a dusk_lamps box covers {(x1 - x0) * (y1 - y0):.1%} of the frame; a light "
                                 f"fixture is at most {MAX_DUSK_LAMP_SHARE:.0%}, got {box!r}")
        return self


class BundleFields(BaseModel):
    """Bundle-level fields of ``POST /listing/bundle`` (the rest are ``EnhanceOptions``)."""

    model_config = ConfigDict(extra="forbid")

    rooms: str | None = Field(
        None, description="Comma-separated room label per photo, in upload order; empty "
        "entries leave the guess, e.g. 'exterior,,kitchen'.")
    primary: int | None = Field(
        None, ge=0, description="Index of the primary (hero) exterior; default: the first "
        "photo classified exterior.")
    dusk_primary: bool = Field(False, description="Day-to-dusk on the primary exterior.")

    def room_list(self, n_photos: int) -> list[str | None]:
        """One room label (or None) per photo; a wrong count or label is an error."""
        if self.rooms is None:
            return [None] * n_photos
        labels = [r.strip() or None for r in self.rooms.split(",")]
        if len(labels) != n_photos:
            raise InvalidOptions(f"rooms names {len(labels)} photos but {n_photos} were "
                             f"uploaded, got rooms={self.rooms!r}")
        allowed = set(RoomLabel.__args__)
        bad = [r for r in labels if r is not None and r not in allowed]
        if bad:
            raise InvalidOptions(f"rooms: unknown label(s) {bad!r}; allowed: {sorted(allowed)}")
        return labels


class ModuleRun(BaseModel):
    """One module of the listing graph: whether it ran, and the signal that decided it."""

    ran: bool
    applied: bool
    reason: str
    signal: Any = None
    backend: str | None = None
    report: dict[str, Any] = Field(default_factory=dict)


class ListingReport(BaseModel):
    """The full report of one enhanced listing photo."""

    request_id: str
    verdict: Verdict
    score: float = Field(ge=0.0, le=1.0)
    primary: bool = False
    input: dict[str, Any]
    output: dict[str, Any] = Field(default_factory=dict)
    classification: dict[str, Any] = Field(default_factory=dict)
    signals: dict[str, Any] = Field(default_factory=dict)
    windows: list[dict[str, Any]] = Field(default_factory=list)
    glass_masks: dict[str, Any] = Field(
        default_factory=dict, description="Pixel glass masks of the windows (learned segmenter "
        "only): backend and per-window coverage.")
    sky: dict[str, Any] = Field(default_factory=dict)
    brackets: dict[str, Any] = Field(default_factory=dict)
    modules: dict[str, ModuleRun]
    modules_run: list[str]
    modules_applied: list[str]
    checks: list[CheckModel]
    disclosures: list[str] = Field(description="MLS disclosures this photo must carry.")
    billing: dict[str, Any]
    backends: dict[str, str] = Field(default_factory=dict)
    timings_s: dict[str, float] = Field(default_factory=dict)


StagingRoom = Literal["living", "bedroom", "dining", "office", "kitchen", "other"]
StagingStyle = Literal["modern", "scandinavian", "mid_century", "farmhouse", "industrial", "coastal",
                       "traditional"]


class StageOptions(BaseModel):
    """Options of ``POST /listing/stage`` (virtual staging of an empty room)."""

    model_config = ConfigDict(extra="forbid")

    room_type: StagingRoom = Field("living", description="Room to furnish.")
    style: StagingStyle = Field("modern", description="Furniture style.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed: the same seed gives the same staging.")
    format: OutputFormat = Field("jpeg", description="Encoded output format.")
    quality: int = Field(90, ge=60, le=100, description="JPEG/WebP quality.")


class ErrorBody(BaseModel):
    """Every error the API returns."""

    code: str = Field(description="Stable machine-readable error code.")
    message: str
    request_id: str
    details: dict[str, Any] = Field(default_factory=dict)


class ShedArgs(BaseModel):
    """Latency-aware shedding of a vertical's heavy routes (``serve/shedding.py``)."""

    model_config = ConfigDict(extra="forbid")
    parallel: int = Field(2, ge=1, le=100_000, description="Requests the modules serve side by side without "
                                                          "queueing (from `lumograph bench load`'s capacity).")
    max_wait_s: float = Field(10.0, gt=0, le=3600, description="Longest a request may wait to start; beyond it "
                                                              "the request is refused at once (503 overloaded).")
    initial_service_s: float = Field(2.0, gt=0, le=3600, description="A request's time until one is measured.")


class ServiceDataArgs(BaseModel):
    """Where the service database lives (jobs, tenants, API keys, rate limits) and the
    tenants' default limits: the same in every application of a deployment."""

    model_config = ConfigDict(extra="forbid")
    data_dir: str = Field("data", description="Folder of the embedded database and storage (relative: to the "
                                              "directory `lumograph serve` runs in).")
    database_url: str | None = Field(None, description="SQLAlchemy URL (postgresql+psycopg://...); default: "
                                                       "$LUMOGRAPH_JOBS_DATABASE_URL, else SQLite (WAL) at "
                                                       "DATA_DIR/jobs.sqlite3.")
    limits: Limits = Field(default_factory=Limits, description="Every tenant's limits unless the database "
                                                               "overrides them (`lumograph keys limits`).")
    upload_timeout_s: float = Field(20.0, gt=0, le=3600, description="A request body gets this long, plus one "
                                    "second per upload_min_bytes_per_s received, to arrive (else 408).")
    upload_min_bytes_per_s: float = Field(1000.0, ge=1, description="The slowest pace an upload may keep once past "
                                          "upload_timeout_s.")

    def apply_upload_pace(self, state) -> None:
        """Hand the upload pace to the app's ``AccessState``."""
        state.upload_timeout_s = self.upload_timeout_s
        state.upload_min_bytes_per_s = self.upload_min_bytes_per_s


class JewelryAppArgs(ServiceDataArgs):
    """``args`` of the ``jewelry`` application (``lumograph.serve.apps:jewelry_app``)."""

    max_upload_bytes: int = Field(40 * 1024 * 1024, ge=1024, le=2**31, description="Largest upload accepted.")
    max_pixels: int = Field(64_000_000, ge=10_000, le=400_000_000, description="Largest image accepted, in pixels.")
    max_request_pixels: int = Field(256_000_000, ge=10_000, le=4_000_000_000,
                                    description="Pixels one request may bring, every photo (read from headers, "
                                                "before any decode) and the output canvas together.")
    shed: ShedArgs = Field(default_factory=ShedArgs, description="Refuse at once what could not start in time.")
    deadline_s: float = Field(110.0, gt=0, le=3600, description="A request still running after this is cancelled "
                                                               "and answered 504 (keep it under the proxy's "
                                                               "request_timeout_s, which answers in plain text).")

    def body_limits(self) -> dict[str, int]:
        """Largest body per route (path suffix -> bytes), for the ingress and the proxy."""
        return {"/lightbox": self.max_upload_bytes}


class ListingAppArgs(JewelryAppArgs):
    """``args`` of the ``listing`` application (``lumograph.serve.apps:listing_app``)."""

    def body_limits(self) -> dict[str, int]:
        return {"/enhance": self.max_upload_bytes * self.max_brackets, "/bundle": self.max_bundle_bytes,
                "/stage": self.max_upload_bytes}

    max_bundle_photos: int = Field(60, ge=1, le=500, description="Most photos in one bundle.")
    max_bundle_bytes: int = Field(400 * 1024 * 1024, ge=1024, le=2**33, description="Largest bundle upload.")
    max_brackets: int = Field(9, ge=2, le=16, description="Most exposures in one bracket set.")
    bundle_concurrency: int = Field(4, ge=1, le=64, description="Photos of a bundle processed at once.")
    bundle_hold_pixels: int = Field(48_000_000, ge=0, le=4_000_000_000,
                                    description="Full-resolution pixels a bundle keeps decoded between its "
                                                "scene pass and its enhancement; beyond them a photo is "
                                                "decoded again when its turn comes.")


class JobsAppArgs(ServiceDataArgs):
    """``args`` of the ``jobs`` application (``lumograph.serve.apps:jobs_app``): where job
    state and files live, how many items run at once, and the bounds of a job."""

    storage_root: str | None = Field(None, description="fsspec root for inputs and outputs (s3://bucket/prefix); "
                                                       "default: $LUMOGRAPH_JOBS_STORAGE, else DATA_DIR/store.")
    input_roots: list[str] = Field(default_factory=list, description="Server-side folders a job's 'source' may "
                                                                     "name; empty: none.")
    webhook_secret_env: str = Field("LUMOGRAPH_WEBHOOK_SECRET", description="Environment variable holding the "
                                    "webhook signing secret; unset: a random secret kept in DATA_DIR/webhook_secret.")
    allow_private_callbacks: bool = Field(False, description="Allow callback URLs on private/loopback addresses.")
    allow_private_inputs: bool = Field(False, description="Allow job photo URLs on private/loopback addresses.")
    fetch_timeout_s: float = Field(30.0, gt=0, le=600, description="Time cap of one photo URL's fetch, "
                                                                  "redirects included.")
    concurrency: int = Field(2, ge=1, le=256, description="Items run at once per jobs replica.")
    steps: Literal["modules", "actors"] = Field(
        "modules", description="modules: items run through the shared module deployments (Serve sees the load and "
                               "autoscales them; GPU fractions are shared). actors: a pool of `concurrency` Ray "
                               "actors, each with its own classical cores, runs one item at a time (as `lumograph "
                               "batch` does: fastest on a CPU-only node, invisible to the modules' autoscaling).")
    lease_s: float = Field(30.0, ge=0.5, le=3600, description="An item's lease; a dead worker's items are taken "
                                                               "again after it.")
    shutdown_grace_s: float = Field(45.0, ge=0, le=3600, description="On shutdown, job items in hand get this long "
                                    "to finish before they go back to the queue (keep it under the deployment's "
                                    "graceful_shutdown_timeout_s).")
    max_items: int = Field(5000, ge=1, le=100_000, description="Most photos in one job.")
    max_job_bytes: int = Field(20 * 1024 ** 3, ge=1024, description="Largest job, all photos together.")
    max_upload_bytes: int = Field(40 * 1024 * 1024, ge=1024, le=2**31, description="Largest photo.")
    max_pixels: int = Field(64_000_000, ge=10_000, le=400_000_000, description="Largest image, in pixels.")

    def body_limits(self) -> dict[str, int]:
        """Largest body per route (path suffix -> bytes), for the ingress and the proxy."""
        return {"/jobs": self.max_job_bytes}
