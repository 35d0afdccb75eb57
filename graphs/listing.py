"""The listing-enhancement graph: auto-select, then only the modules a photo needs.

Pure async orchestration over module steps, like the jewelry graph: in Serve the steps
are deployment handles, in the CLI, tests and eval they are in-process cores
(``graphs.local``). The graph decides which modules run from the measured signals,
records for every module whether it ran and the signal that decided it, and never
holds image maths itself.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import numpy as np

from lumograph.graphs.jewelry import PROXY_LONG_SIDE
from lumograph.graphs.reports import jsonable
from lumograph.models.common.boxes import overlap_of_smaller
from lumograph.models.common.imageio import embed_xmp, resize_long_side
from lumograph.models.common.provenance import GENERATIVE_BACKENDS, listing_source_type, xmp_packet
from lumograph.models.compositor.verticals import MIN_CONFIDENCE as VERTICALS_MIN_CONFIDENCE
from lumograph.models.grader.window_pull import window_fully_blown, window_needs_pull
from lumograph.models.inpainter.diffusion import WINDOW_VIEW_DISCLOSURE
from lumograph.models.inpainter.glare_params import PARAMS as GLARE_PARAMS

Step = Callable[..., Awaitable[Any]]

#: Modules in the order they run. Bracket merging, when frames are given, comes first;
#: the grade comes before the sky and dusk edits (it balances the photo as shot; after
#: them it would re-expose a dusk back toward daylight and tint a generated sky); the
#: perspective warp comes last so that masks found on the input (sky, windows) still line
#: up with the image every other module edits.
#: A generated window view comes before the pull, which then leaves those windows alone.
MODULE_ORDER = (
    "window_view", "window_pull", "glare_removal", "mirror_cleanup", "colour_grade", "sky_replacement",
    "day_to_dusk", "verticals",
)
STANDARD_MODULES = frozenset({"window_pull", "colour_grade", "sky_replacement"})
PREMIUM_MODULES = STANDARD_MODULES | {"glare_removal", "mirror_cleanup", "verticals", "window_view"}
#: Requested explicitly only; billed as an add-on on top of the tier.
ADD_ONS = frozenset({"day_to_dusk"})
#: What may touch the primary exterior of a bundle without the client opting in.
PRIMARY_SAFE = frozenset({"colour_grade", "verticals"})
#: Modules whose output must be disclosed on an MLS listing.
DISCLOSED = {
    "sky_replacement": "Sky digitally replaced.",
    "day_to_dusk": "Twilight conversion: sky, ambient light, window glow and exterior lights digitally altered.",
    "window_view": WINDOW_VIEW_DISCLOSURE,
}
#: The learned backends that give the graph more than their classical twins: pixel glass
#: masks for the window pull, generated window views and skies.
GLASS_MASK_BACKENDS = frozenset({"sam"})

# Auto-select thresholds: the measured signal must clear these for a module to run.
#: The largest hot-spot's share of the frame from which glare removal runs (fitted with the
#: detector's thresholds by bench/fit_glare.py: glints on chrome hardware stay under it).
GLARE_MIN_REGION_SHARE = GLARE_PARAMS["auto_min_region_share"]
TILT_MIN_DEG = 1.0  # converging verticals worth straightening
CAST_MIN_DEG = 2.0  # colour cast worth a grade on its own
EXPOSURE_BAND = (0.38, 0.62)  # median luminance (0-1) a listing photo should sit in


@dataclass(frozen=True)
class ListingSteps:
    """The module methods the graph calls, each an async callable returning a dict.

    scene(proxy, room_hint) -> {"scene", "room_type", "room_source", "signals", "backend", ...}
    windows(proxy, source_hw) -> {"windows": [..], "max_stops", "backend"} (+ "lamps", "people" from a learned one)
    sky(proxy, scene) -> {"matte" (proxy HxW float32), "condition", "needs_replacement", "fraction", ...}
    merge_brackets(frames) -> {"rgb", "report", "backend"}
    pull_windows(rgb, windows, threshold_stops) -> {"rgb", "report", "backend"}
    remove_glare(rgb) -> {"rgb", "report", "applied", "backend"}
    mirror_cleanup(rgb, mirror) -> {"rgb", "report", "applied", "backend"}
    verticals(rgb, tilt_report) -> {"rgb", "report", "applied", "backend"}
    replace_sky(rgb, proxy_matte, style, seed) -> {"rgb", "report", "halo", "backend"}
    dusk(rgb, proxy_matte, windows, lamps) -> {"rgb", "report", "backend"}
    grade(rgb, room_type) -> {"rgb", "report", "backend"}
    encode(rgb, fmt, quality, max_long_side) -> {"encoded", "media_type", "format", "width", "height"}
    check(before_proxy, after_proxy, applied, halo, warp, people) -> {"verdict", "score", "checks", "backend"}

    Optional (None: the host has only the classical twins):
    backends() -> {module: {"backend", "reason", ...}}: what each module runs now;
    window_glass_masks(proxy, windows, source_hw) -> {"masks": [hxw float32 | None], "report", "backend"}
    window_views(rgb, windows, glass_masks, seed) -> {"rgb", "report", "applied", "backend"}
    sky_plate(proxy, proxy_matte, style, seed) -> {"plate", "box_norm", "report", "backend"}
    """

    scene: Step
    windows: Step
    sky: Step
    merge_brackets: Step
    pull_windows: Step
    remove_glare: Step
    mirror_cleanup: Step
    verticals: Step
    replace_sky: Step
    dusk: Step
    grade: Step
    encode: Step
    check: Step
    backends: Step | None = None
    window_glass_masks: Step | None = None
    window_views: Step | None = None
    sky_plate: Step | None = None


@dataclass
class ListingOutcome:
    encoded: bytes | None
    media_type: str | None
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Decision:
    run: bool
    reason: str
    signal: Any = None


def plan_modules(
    signals: dict[str, Any],
    *,
    tier: str,
    requested: list[str] | None,
    dusk: bool,
    primary: bool,
    alter_primary: bool,
    brackets: bool,
    window_threshold_stops: float,
) -> dict[str, _Decision]:
    """Decide, per module, whether it runs and why (pure: signals in, decisions out).

    ``signals``: scene (exterior|interior), room_type, max_window_stops, blown_windows
    (windows at or under the threshold whose clipped glass makes that a lower bound),
    fully_blown_windows (windows whose view is lost, see ``exposure.window_fully_blown``),
    view_synthesis (a generative inpainter is loaded), sky_condition,
    sky_needs_replacement, hotspot_share, mirror_present, tilt_deg, roll_deg,
    tilt_confidence, cast_deg, median_luminance.
    ``tier``: standard | premium | auto; ``requested``: an explicit module list (wins
    over the tier). ``primary``: this photo is the bundle's primary exterior.
    """
    exterior = signals["scene"] == "exterior"
    allowed = set(requested) if requested else (
        set(STANDARD_MODULES) if tier == "standard" else set(PREMIUM_MODULES))
    if dusk:
        allowed.add("day_to_dusk")
    out: dict[str, _Decision] = {}

    def decide(name: str, needed: bool, reason: str, signal: Any) -> None:
        if name not in allowed:
            out[name] = _Decision(False, f"not in tier {tier!r}" if not requested
                                  else "not requested", signal)
        elif primary and not alter_primary and name not in PRIMARY_SAFE and not (
                name == "day_to_dusk" and dusk):
            out[name] = _Decision(False, "primary exterior: only exposure, white balance and "
                                         "lens corrections without opt-in", signal)
        else:
            out[name] = _Decision(bool(needed), reason, signal)

    stops = float(signals.get("max_window_stops") or 0.0)
    blown = int(signals.get("blown_windows") or 0)
    if brackets:
        decide("window_pull", False, "bracket set merged: the real exposures show the view", stops)
    elif exterior:
        decide("window_pull", False, "exterior: no interior windows to pull", stops)
    else:
        decide("window_pull", stops > window_threshold_stops or blown > 0,
               f"brightest window {stops:.1f} stops over the room (threshold "
               f"{window_threshold_stops:.1f}); {blown} blown (clipped, so the stops are "
               f"a lower bound)", stops)

    lost = int(signals.get("fully_blown_windows") or 0)
    generative = bool(signals.get("view_synthesis"))
    if brackets:
        decide("window_view", False, "bracket set merged: the real exposures show the view", lost)
    elif exterior:
        decide("window_view", False, "exterior: no interior windows", lost)
    elif not lost:
        decide("window_view", False, "no fully blown window: the pull recovers every view", lost)
    else:
        decide("window_view", generative,
               f"{lost} fully blown window(s): "
               + ("generate the view (disclosed)" if generative else
                  "a view can only be generated by the 'diffusers' inpainter; the pull tones "
                  "the glass soft white"), lost)

    share = float(signals.get("hotspot_share") or 0.0)
    largest = float(signals.get("hotspot_largest_share") or 0.0)
    # Flash glare is an interior problem; outdoors the bright specks are sun glints on
    # glass, chrome and water that an editor keeps. A flash spot is one large hot-spot;
    # small ones are mostly highlights on hardware that keeps its shine.
    decide("glare_removal", largest >= GLARE_MIN_REGION_SHARE and not exterior,
           f"hot-spots cover {share:.2%} of the frame, the largest {largest:.3%} (threshold "
           f"{GLARE_MIN_REGION_SHARE:.3%})" + ("; exterior: sun glints are kept" if exterior else ""), largest)

    mirror = bool(signals.get("mirror_present"))
    decide("mirror_cleanup", mirror and not exterior,
           "mirror found: look for a reflected photographer" if mirror else "no mirror found",
           mirror)

    tilt = float(signals.get("tilt_deg") or 0.0)
    roll = float(signals.get("roll_deg") or 0.0)
    tilt_confidence = float(signals.get("tilt_confidence") or 0.0)
    confident = tilt_confidence >= VERTICALS_MIN_CONFIDENCE
    lean = float(signals.get("edge_lean_deg") or 0.0)
    # An unconfirmed reading (a few unrelated lines that happen to meet) is not a
    # measurement: the note must not tell the client the photo leans 40 degrees.
    reading = (f"verticals converge by {tilt:+.1f} deg (frame-edge lines lean {lean:+.1f} deg), "
               f"roll {roll:+.1f} deg (threshold {TILT_MIN_DEG:.1f}, confidence {tilt_confidence:.2f})"
               if confident else
               f"no reliable vertical lines (confidence {tilt_confidence:.2f} < "
               f"{VERTICALS_MIN_CONFIDENCE:.2f}): left as shot")
    decide("verticals", confident and max(abs(tilt), abs(roll)) >= TILT_MIN_DEG, reading,
           tilt if confident else None)

    condition = signals.get("sky_condition", "none")
    if dusk:
        decide("sky_replacement", False, "day-to-dusk paints its own sky", condition)
    else:
        decide("sky_replacement", exterior and bool(signals.get("sky_needs_replacement")),
               f"sky is {condition}" if exterior else "interior: no sky", condition)
    decide("day_to_dusk", dusk and exterior,
           "requested" if exterior else "requested, but day-to-dusk needs an exterior",
           dusk)

    cast = float(signals.get("cast_deg") or 0.0)
    lum = float(signals.get("median_luminance") or 0.5)
    off = not EXPOSURE_BAND[0] <= lum <= EXPOSURE_BAND[1]
    if tier == "auto" and not requested:
        decide("colour_grade", cast >= CAST_MIN_DEG or off or signals.get("room_type") is not None,
               f"cast {cast:.1f} deg, median luminance {lum:.2f}; room-aware grade", cast)
    else:
        decide("colour_grade", True, "always part of the tier", cast)
    return out


def billed_tier(applied: list[str]) -> str:
    """The cheapest tier whose modules cover everything applied (add-ons excluded)."""
    core = set(applied) - ADD_ONS
    if not core:
        return "none"
    return "standard" if core <= STANDARD_MODULES else "premium"


async def run_enhance(
    frames: list[np.ndarray],
    options: dict[str, Any],
    steps: ListingSteps,
    *,
    request_id: str,
    primary: bool = False,
    input_info: dict[str, Any] | None = None,
    scene: dict[str, Any] | None = None,
) -> ListingOutcome:
    """Enhance one listing photo (or merge one bracket set and enhance the result).

    frames: one or more HxWx3 uint8 RGB images (several = a bracket set of one shot).
    options: a dumped ``EnhanceOptions``; scene: a classification already made for this
    photo (a bundle classifies first to find its primary exterior). Returns the encoded
    image (None on ``fail``)
    and the report: per module whether it ran and the signal that decided it, timings,
    backends, disclosures and the billed tier.
    """
    t_start = time.perf_counter()
    timings: dict[str, float] = {}

    async def timed(name: str, awaitable: Awaitable[Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return await awaitable
        finally:
            timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - t0, 4)

    backends: dict[str, str] = {}
    report: dict[str, Any] = {"request_id": request_id, "input": dict(input_info or {}),
                              "primary": primary}
    brackets = len(frames) > 1
    if brackets:
        merged = await timed("bracket_merge", steps.merge_brackets(frames))
        rgb = merged["rgb"]
        report["brackets"] = jsonable(merged["report"])
        backends["bracket_merge"] = merged.get("backend", "classical")
    else:
        rgb = frames[0]
    h, w = rgb.shape[:2]
    report["input"].update(width=w, height=h, frames=len(frames))

    t0 = time.perf_counter()
    proxy = resize_long_side(rgb, PROXY_LONG_SIDE)
    timings["proxy"] = round(time.perf_counter() - t0, 4)
    if scene is None:
        scene, capabilities = await asyncio.gather(
            timed("classify", steps.scene(proxy, options.get("room"))), _capabilities(steps))
    else:
        capabilities = await _capabilities(steps)
    backends["classifier"] = scene.get("backend", "classical")
    exterior = scene["scene"] == "exterior"
    # Window detection matters indoors (pull); outdoors only a learned detector runs: the
    # classical one is fitted on interior glass (bright regions) and put 1 of its 27
    # boxes on the 30 eval exteriors on a window (dusk finds facade windows itself),
    # while a learned one gives dusk its windows and lamps and the people check the
    # persons it names. The sky matters outdoors only. Both are independent: run them
    # side by side.
    want_windows = not exterior or capabilities["facade_windows"]
    windows, sky = await asyncio.gather(
        timed("detect_windows", steps.windows(proxy, (h, w))) if want_windows else _none(),
        # The scene is decided once (classifier or client label); the matte trusts it.
        timed("sky", steps.sky(proxy, scene["scene"])) if exterior else _none(),
    )
    if windows is not None:
        backends["window_detector"] = windows.get("backend", "classical")
    if sky is not None:
        backends["segmenter"] = sky.get("backend", "classical")
    signals = {
        **scene.get("signals", {}),
        "scene": scene["scene"],
        "room_type": scene.get("room_type"),
        "max_window_stops": windows["max_stops"] if windows else 0.0,
        "blown_windows": sum(
            1 for w in (windows or {}).get("windows", [])
            if window_needs_pull(w, float(options["window_threshold_stops"]))[0]
            and w.get("stops_over_interior", 0.0) <= float(options["window_threshold_stops"])),
        "fully_blown_windows": sum(
            1 for w in (windows or {}).get("windows", []) if window_fully_blown(w)),
        "view_synthesis": capabilities["generative"],
        "sky_condition": sky["condition"] if sky else "none",
        "sky_needs_replacement": bool(sky and sky["needs_replacement"]),
    }
    report["classification"] = jsonable({k: v for k, v in scene.items() if k != "signals"})
    report["signals"] = jsonable(signals)
    if windows is not None:
        report["windows"] = jsonable(windows["windows"])
    if sky is not None:
        report["sky"] = jsonable({k: v for k, v in sky.items() if k != "matte"})

    plan = plan_modules(
        signals, tier=options["tier"], requested=options.get("modules"),
        dusk=bool(options.get("dusk")), primary=primary,
        alter_primary=bool(options.get("alter_primary")), brackets=brackets,
        window_threshold_stops=float(options["window_threshold_stops"]),
    )
    glass = None
    if windows and windows["windows"] and capabilities["glass_masks"] and (
            plan["window_pull"].run or plan["window_view"].run):
        glass = await timed("window_glass_masks", steps.window_glass_masks(proxy, windows["windows"], (h, w)))
        report["glass_masks"] = {"backend": glass.get("backend"), "windows": jsonable(glass.get("report", []))}
    work = _ModuleInputs(windows=windows, sky=sky, scene=scene, glass=glass, proxy_long_side=PROXY_LONG_SIDE,
                         generative_sky=capabilities["generative"])
    modules: dict[str, dict[str, Any]] = {}
    applied: list[str] = []
    current = rgb
    before_warp = rgb
    halo = None
    for name in MODULE_ORDER:
        decision = plan[name]
        entry: dict[str, Any] = {"ran": False, "applied": False, "reason": decision.reason,
                                 "signal": jsonable(decision.signal)}
        modules[name] = entry
        if not decision.run:
            continue
        result = await timed(name, _run_module(name, steps, current, options, work))
        entry["ran"] = True
        entry["applied"] = bool(result.get("applied", True))
        entry["report"] = jsonable(result.get("report", {}))
        entry["backend"] = result.get("backend", "classical")
        if name == "window_view":
            work.synthesized = {i for i, wv in enumerate(result.get("report", {}).get("windows", []))
                                if wv.get("synthesized")}
        if entry["applied"]:
            applied.append(name)
            if name != "verticals":
                before_warp = result["rgb"]
            current = result["rgb"]
            if result.get("halo") is not None:
                halo = float(result["halo"])
    report["modules"] = modules
    report["modules_run"] = [n for n in MODULE_ORDER if modules[n]["ran"]]
    report["modules_applied"] = applied

    # Structure and clipping are compared pixel for pixel, so QA sees the edit before the
    # perspective warp; the warp reports its own crop and correction, and QA carries the
    # MLS boxes through it into the delivered frame.
    after_proxy = resize_long_side(before_warp, PROXY_LONG_SIDE)
    warp = None
    vr = modules["verticals"].get("report", {}) if "verticals" in applied else {}
    if vr.get("matrix") is not None:
        warp = {"matrix": vr["matrix"], "input_size": [before_warp.shape[1], before_warp.shape[0]],
                "output_size": vr["output_size"]}
    # QA reads the proxies, not the encoded bytes: encoding (single-threaded libjpeg on
    # the full frame) and the checks run side by side.
    encoded, qa = await asyncio.gather(
        timed("encode", steps.encode(current, options["format"], options["quality"], options.get("max_long_side"))),
        timed("qa", steps.check(proxy, after_proxy, applied, halo, warp, _people_left(windows, modules))),
    )
    backends["qa"] = qa.get("backend", "classical")
    report["checks"] = qa["checks"]
    report["verdict"] = qa["verdict"]
    report["score"] = float(qa["score"])
    report["disclosures"] = [DISCLOSED[m] for m in applied if m in DISCLOSED]
    report["billing"] = {"tier": billed_tier(applied),
                         "add_ons": sorted(set(applied) & ADD_ONS),
                         "billable": qa["verdict"] != "fail" and billed_tier(applied) != "none"}
    report["backends"] = {**backends, **{n: m["backend"] for n, m in modules.items()
                                         if m.get("backend")}}
    data, provenance = _with_provenance(
        encoded["encoded"], options["format"], bool(options.get("iptc_source_type")),
        listing_source_type(applied, report["backends"], merged=brackets), report["disclosures"])
    report["output"] = {k: encoded[k] for k in ("format", "media_type", "width", "height")}
    report["output"].update(bytes=len(data), **provenance)
    encoded = {**encoded, "encoded": data}
    timings["total"] = round(time.perf_counter() - t_start, 4)
    report["timings_s"] = timings
    if qa["verdict"] == "fail":
        return ListingOutcome(None, None, report)
    return ListingOutcome(encoded["encoded"], encoded["media_type"], report)


def _with_provenance(data: bytes, fmt: str, wanted: bool, source_type: str | None,
                     disclosures: list[str]) -> tuple[bytes, dict[str, Any]]:
    """The delivered bytes, with IPTC's digital source type (and the disclosures) in XMP
    when the client asked and a type applies; what the report says about it."""
    written = wanted and source_type is not None
    if written:
        data = embed_xmp(data, fmt, xmp_packet(source_type, description=" ".join(disclosures) or None))
    return data, {"digital_source_type": source_type, "xmp": written}


@dataclass(frozen=True)
class BundlePhoto:
    """One photo of a bundle as the graph takes it: ``proxy`` (long side
    ``PROXY_LONG_SIDE``) for the scene pass over the whole listing, and ``load``, which
    gives the full-resolution RGB when the photo's turn to be enhanced comes. The caller
    decides what ``load`` costs (a photo it kept, or one it decodes again), so a listing
    never needs all its photos at full resolution at once."""

    proxy: np.ndarray
    load: Callable[[], Awaitable[np.ndarray]]

    @classmethod
    def of(cls, rgb: np.ndarray) -> "BundlePhoto":
        """A photo already in memory."""
        async def load() -> np.ndarray:
            return rgb
        return cls(resize_long_side(rgb, PROXY_LONG_SIDE), load)


@dataclass
class BundleOutcome:
    """Per photo an outcome or the error it raised; the listing's disclosures and bill."""

    photos: list[ListingOutcome | Exception]
    summary: dict[str, Any]


async def run_bundle(
    photos: list[np.ndarray | BundlePhoto],
    options: dict[str, Any],
    steps: ListingSteps,
    *,
    request_id: str,
    rooms: list[str | None] | None = None,
    primary_index: int | None = None,
    dusk_primary: bool = False,
    concurrency: int = 4,
    input_infos: list[dict[str, Any]] | None = None,
) -> BundleOutcome:
    """Enhance a whole listing: classify every photo, find the primary exterior, then
    enhance the photos concurrently (at most ``concurrency`` in flight).

    photos: HxWx3 uint8 RGB each, or ``BundlePhoto``s loaded only when their turn comes
    (then at most ``concurrency`` full-resolution photos are in the graph's hands). rooms: optional client room label per photo (wins over
    the guess). primary_index: the hero photo; default the first photo classified
    exterior. dusk_primary: day-to-dusk on the primary exterior (the client's opt-in).
    A photo that fails is reported with its error; the others are still delivered.
    """
    t_start = time.perf_counter()
    rooms = list(rooms or [None] * len(photos))
    photos = [p if isinstance(p, BundlePhoto) else BundlePhoto.of(p) for p in photos]
    proxies = [p.proxy for p in photos]
    scenes = await asyncio.gather(
        *(steps.scene(proxy, room) for proxy, room in zip(proxies, rooms)),
        return_exceptions=True)
    if primary_index is None:
        primary_index = next((i for i, s in enumerate(scenes)
                              if isinstance(s, dict) and s["scene"] == "exterior"), None)
    gate = asyncio.Semaphore(max(1, int(concurrency)))

    async def one(i: int) -> ListingOutcome:
        if isinstance(scenes[i], Exception):
            raise scenes[i]
        photo_options = {**options, "room": rooms[i] or options.get("room")}
        if i == primary_index and dusk_primary:
            photo_options["dusk"] = True
        async with gate:
            return await run_enhance(
                [await photos[i].load()], photo_options, steps, request_id=f"{request_id}-{i}",
                primary=i == primary_index, scene=scenes[i],
                input_info=(input_infos or [{}] * len(photos))[i])

    results = await asyncio.gather(*(one(i) for i in range(len(photos))),
                                   return_exceptions=True)
    by_tier: dict[str, int] = {}
    add_ons: dict[str, int] = {}
    disclosures = []
    for i, result in enumerate(results):
        if isinstance(result, Exception) or result.encoded is None:
            by_tier["not_billed"] = by_tier.get("not_billed", 0) + 1
            continue
        bill = result.report["billing"]
        key = bill["tier"] if bill["billable"] else "not_billed"
        by_tier[key] = by_tier.get(key, 0) + 1
        for extra in bill["add_ons"]:
            add_ons[extra] = add_ons.get(extra, 0) + 1
        if result.report["disclosures"]:
            disclosures.append({"index": i, "disclosures": result.report["disclosures"]})
    summary = {
        "n_photos": len(photos),
        "delivered": sum(1 for r in results if not isinstance(r, Exception) and r.encoded),
        "primary_index": primary_index,
        "disclosures": disclosures,
        "billing": {"by_tier": by_tier, "add_ons": add_ons},
        "wall_s": round(time.perf_counter() - t_start, 3),
    }
    return BundleOutcome(photos=list(results), summary=summary)


async def _none() -> None:
    return None


def _people_left(windows: dict | None, modules: dict[str, dict[str, Any]]) -> list[dict] | None:
    """The learned window detector's person boxes for the people check (None when no
    detector that names people ran), less a photographer the mirror clean-up removed."""
    if windows is None or "people" not in windows:
        return None
    cleanup = modules.get("mirror_cleanup", {})
    removed = cleanup.get("report", {}).get("person_box_norm") if cleanup.get("applied") else None
    if removed is None:
        return list(windows["people"])

    def inside_removed(p) -> bool:
        try:
            return overlap_of_smaller([float(v) for v in p["bbox_norm"]], removed) > 0.5
        except (TypeError, ValueError, KeyError):
            return False  # malformed: passed on for the QA step to refuse with a clear error

    return [p for p in windows["people"] if not inside_removed(p)]


async def _capabilities(steps: ListingSteps) -> dict[str, bool]:
    """Which learned extras the modules offer now (from ``steps.backends``; none without it)."""
    if steps.backends is None:
        return {"glass_masks": False, "generative": False, "facade_windows": False}
    backends = await steps.backends()

    def name(module: str) -> str:
        entry = backends.get(module) or {}
        return entry.get("backend", "classical") if isinstance(entry, dict) else str(entry)

    return {"glass_masks": steps.window_glass_masks is not None and name("segmenter") in GLASS_MASK_BACKENDS,
            "generative": steps.window_views is not None and steps.sky_plate is not None
            and name("inpainter") in GENERATIVE_BACKENDS,
            # A learned window detector finds facade windows too; the classical one does not.
            "facade_windows": name("window_detector") != "classical"}


@dataclass
class _ModuleInputs:
    """What the modules read besides the image: the measurements made before they run."""

    windows: dict | None
    sky: dict | None
    scene: dict
    glass: dict | None
    proxy_long_side: int
    generative_sky: bool
    synthesized: set[int] = field(default_factory=set)

    def window_list(self) -> tuple[list[dict], list | None]:
        """The windows a pull should work on (those without a generated view) and their
        glass masks (None when there are none)."""
        entries = (self.windows or {}).get("windows", [])
        masks = (self.glass or {}).get("masks")
        keep = [i for i in range(len(entries)) if i not in self.synthesized]
        return [entries[i] for i in keep], ([masks[i] for i in keep] if masks is not None else None)


async def _run_module(name: str, steps: ListingSteps, rgb: np.ndarray, options: dict[str, Any],
                      work: _ModuleInputs) -> dict:
    scene = work.scene
    if name == "window_view":
        entries = (work.windows or {}).get("windows", [])
        return await steps.window_views(rgb, entries, (work.glass or {}).get("masks"), int(options["seed"]))
    if name == "window_pull":
        entries, masks = work.window_list()
        return await steps.pull_windows(rgb, entries, float(options["window_threshold_stops"]), masks)
    if name == "glare_removal":
        return await steps.remove_glare(rgb)
    if name == "mirror_cleanup":
        return await steps.mirror_cleanup(rgb, scene.get("signals", {}).get("mirror"))
    if name == "verticals":
        return await steps.verticals(rgb, scene.get("signals", {}).get("verticals"))
    if name == "sky_replacement":
        plate = None
        if work.generative_sky:
            # The sky is generated on a proxy of the photo as edited so far (graded): the
            # model works at its native ~512 px, so full resolution would buy nothing.
            proxy = resize_long_side(rgb, work.proxy_long_side)
            plate = await steps.sky_plate(proxy, work.sky["matte"], options["sky_style"], int(options["seed"]))
        learned = plate is not None and plate.get("plate") is not None
        result = await steps.replace_sky(rgb, work.sky["matte"], options["sky_style"], int(options["seed"]),
                                         plate if learned else None)
        if plate is not None:
            result = {**result, "report": {**result.get("report", {}), "sky_plate": plate.get("report", {})}}
        if learned:
            result["backend"] = plate.get("backend", result.get("backend"))
        return result
    if name == "day_to_dusk":
        # A learned window detector also names light fixtures (``lamps``), and the client
        # may mark them (``dusk_lamps``, fractions): dusk switches both on. The classical
        # path finds none itself.
        h, w = rgb.shape[:2]
        marked = [{"bbox": [x0 * w, y0 * h, x1 * w, y1 * h]} for x0, y0, x1, y1 in options.get("dusk_lamps") or []]
        return await steps.dusk(rgb, work.sky["matte"] if work.sky else None,
                                work.windows["windows"] if work.windows else [],
                                (work.windows.get("lamps", []) if work.windows else []) + marked)
    if name == "colour_grade":
        return await steps.grade(rgb, scene.get("room_type") or scene["scene"])
    raise ValueError(f"unknown module {name!r}")
