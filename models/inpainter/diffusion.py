"""Learned inpainter backend ``diffusers``: a local diffusers inpainting pipeline.

Weights layout (nothing is ever downloaded)::

    weights/
      inpaint/                      # a pipeline saved with ``pipeline.save_pretrained``
        model_index.json            # names the pipeline class and its components
        unet/        config.json  diffusion_pytorch_model[.fp16].safetensors
        vae/         config.json  diffusion_pytorch_model[.fp16].safetensors
        text_encoder/ config.json model[.fp16].safetensors   (SDXL: also text_encoder_2/)
        tokenizer/   vocab.json merges.txt ...               (SDXL: also tokenizer_2/)
        scheduler/   scheduler_config.json
        [safety_checker/ feature_extractor/]                 optional

Any Stable Diffusion or SDXL *inpainting* layout works (``AutoPipelineForInpainting``
reads the class from ``model_index.json``; the UNet takes 9 input channels). A folder
that only holds ``*.fp16.*`` weight files is loaded with ``variant="fp16"``. The
pipeline is loaded once (replica start), on ``cuda`` in float16 when
``torch.cuda.is_available()``, else on the CPU in float32. A safety checker shipped in
the folder runs; a crop it flags is left unedited and counted in the report.

Processing. A photo is never pushed through the model whole at full resolution: each
group of nearby mask components gets a context crop (the hole plus a margin, at least
half the model's native size), resized so its long side is the model's native size
(``unet.sample_size * vae_scale_factor``: 512 for SD 1.5/2 inpainting, 1024 for SDXL)
and both sides are multiples of 8. The generated crop is resized back, its level matched
to the source in a ring around the hole (the VAE and a few denoising steps shift tone),
and feathered in at full resolution; pixels outside the feathered hole are bit-identical
to the input. Each request takes a seed (a CPU ``torch.Generator`` per crop, so the
same seed gives the same pixels on either device).

Images are HxWx3 ``uint8`` RGB; masks HxW ``float32`` in [0, 1] (>= 0.5 is the hole).
Inputs are never mutated. Module import is cheap (no torch):
``models/inpainter/__init__.py`` declares it as the ``diffusers`` backend.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lumograph.models.common.errors import InvalidImage, InvalidOptions
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.numeric import rounded

BACKEND_NAME = "diffusers"
#: Sub-folder of the weights directory holding the pipeline.
WEIGHTS_SUBDIR = "inpaint"
MIN_SIDE = 16
#: Denoising steps per fill unless a request says otherwise (DDIM/PNDM/Euler schedulers
#: of SD inpainting checkpoints give clean fills from ~25 steps).
DEFAULT_STEPS = 30
MAX_STEPS = 200
DEFAULT_GUIDANCE = 7.5
#: Context around a hole, as a share of the hole's long side on each side: the model
#: continues the surface it sees, so it must see enough of it.
CONTEXT_MARGIN = 0.75
#: A crop's long side is at least this share of the native size (in source pixels,
#: clipped to the image): a tiny glare spot still gets a room-sized context.
MIN_CROP_SHARE = 0.5
#: Source pixels the hole grows by before the feather (covers JPEG ringing at its edge).
HOLE_GROW_PX = 2
#: Minimum work-crop side (pixels): the UNet downsamples by 2 per block.
MIN_WORK_SIDE = 64

#: task -> (prompt, negative prompt).
PROMPTS: dict[str, tuple[str, str]] = {
    "glare": ("clean matte surface, no reflections, even soft lighting, same material",
              "glare, specular highlight, flash reflection, shiny spot, light source, text"),
    "reflection": ("mirror reflecting an empty room, clean reflection, interior, no people",
                   "person, photographer, camera, tripod, hands, face, text"),
    "sky": ("clear blue sky with a few soft white clouds, natural daylight, high quality photo",
            "buildings, birds, aircraft, text, watermark, sun flare"),
    "window_view": ("view through a window of green trees and a garden on a bright day, natural exposure",
                    "overexposed, blown out, white, text, watermark, people"),
}

#: Sky synthesis: the sky style of a request (``models.compositor.sky_replace.SKY_STYLES``) -> its prompt;
#: the negative prompt is the one of ``PROMPTS["sky"]``.
SKY_PROMPTS: dict[str, str] = {
    "clear_blue": "clear deep blue sky, cloudless, natural daylight, high quality photo",
    "light_clouds": PROMPTS["sky"][0],
    "high_clouds": "blue sky with high thin wispy cirrus clouds, natural daylight, high quality photo",
}
#: A sky matte value from which a pixel belongs to the sky hole: the compositor blends
#: the generated sky wherever its alpha is above zero, so the hole takes the soft edge too.
SKY_HOLE_MIN = 0.004
#: The sky's context crop is at least this share of the frame's width tall (a thin strip of
#: sky above a roof line still shows the model the house and the light).
SKY_MIN_CROP_ASPECT = 0.5
#: A window's glass is refilled where it is this bright (8-bit luma): the blown glass,
#: not the mullions, the frame or the sill.
VIEW_MIN_LUMA = 200

#: Virtual staging: room type -> the words used in the prompt.
STAGING_ROOMS: dict[str, str] = {
    "living": "living room with a sofa, coffee table, rug and armchair",
    "bedroom": "bedroom with a made bed, bedside tables and lamps",
    "dining": "dining room with a dining table and chairs",
    "office": "home office with a desk, chair and bookshelf",
    "kitchen": "kitchen with bar stools and a small dining table",
    "other": "furnished room",
}
#: Style -> prompt words.
STAGING_STYLES: dict[str, str] = {
    "modern": "modern contemporary furniture, neutral tones",
    "scandinavian": "scandinavian furniture, light wood, white and grey textiles",
    "mid_century": "mid-century modern furniture, walnut wood, warm accents",
    "farmhouse": "modern farmhouse furniture, natural wood, linen",
    "industrial": "industrial furniture, leather, black metal, reclaimed wood",
    "coastal": "coastal furniture, light blue and sand tones, rattan",
    "traditional": "traditional classic furniture, rich fabrics",
}
STAGING_NEGATIVE = "people, clutter, text, watermark, distorted walls, extra windows, blurry"
#: Where furniture goes when no floor mask is given: the lower part of the frame inside a
#: border (fractions of height / width). Walls, ceiling and windows above stay original.
STAGING_TOP, STAGING_BOTTOM, STAGING_SIDE = 0.42, 0.98, 0.03
#: Listing platforms require virtually staged photos to say so.
STAGING_DISCLOSURE = "Virtually staged: furniture is computer-generated."
#: ... and when the view through a blown-out window was generated.
WINDOW_VIEW_DISCLOSURE = ("Window view digitally generated: the view through blown-out windows is "
                          "computer-generated.")


# ------------------------------------------------------------------------ weights


def pipeline_dir(weights_dir: str | Path) -> Path:
    """The pipeline folder under ``weights_dir``: ``weights_dir / "inpaint"``."""
    return Path(weights_dir) / WEIGHTS_SUBDIR


def _read_index(folder: Path) -> dict:
    return json.loads((folder / "model_index.json").read_text())


def _components(index: dict) -> dict[str, tuple[str, str]]:
    """model_index entries that name a component (``[library, class]``, not null)."""
    out = {}
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or len(spec) != 2:
            continue
        if spec[0] is None or spec[1] is None:
            continue
        out[name] = (str(spec[0]), str(spec[1]))
    return out


def _weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix in (".safetensors", ".bin", ".ckpt", ".pt"))


def missing_weights(weights_dir: Path) -> str | None:
    """The first missing path of the pipeline under ``weights_dir`` (a str), or None when
    ``inpaint/model_index.json``, every component folder it names and a weights file in
    each model folder (unet, vae, text encoders) are present. Reads no weights."""
    folder = pipeline_dir(weights_dir)
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        return str(index_path)
    try:
        index = _read_index(folder)
    except (OSError, ValueError) as err:
        return f"{index_path} (unreadable: {err})"
    for name, (library, _cls) in _components(index).items():
        sub = folder / name
        if not sub.is_dir():
            return str(sub)
        if library in ("diffusers", "transformers") and (sub / "config.json").is_file() and not _weight_files(sub):
            return str(sub / "*.safetensors")
    return None


def describe_weights(weights_dir: str | Path) -> dict:
    """What the backend expects under ``weights_dir`` and what is there, without loading.

    Returns ``{"module": "inpainter", "backend": "diffusers", "path": str (the pipeline
    folder), "expected": [str], "ready": bool, "missing": str | None, "pipeline_class":
    str | None, "variant": "fp16" | None, "components": {name: {"library": str, "class":
    str, "present": bool, "files": int, "bytes": int}}, "total_bytes": int}``.
    """
    folder = pipeline_dir(weights_dir)
    missing = missing_weights(Path(weights_dir))
    out: dict[str, Any] = {
        "module": "inpainter", "backend": BACKEND_NAME, "path": str(folder),
        "expected": ["model_index.json", "unet/", "vae/", "text_encoder/", "tokenizer/", "scheduler/"],
        "ready": missing is None, "missing": missing, "pipeline_class": None, "variant": None,
        "components": {}, "total_bytes": 0,
    }
    try:
        index = _read_index(folder)
    except (OSError, ValueError):
        return out
    out["pipeline_class"] = index.get("_class_name")
    out["variant"] = _variant(folder, index)
    total = 0
    for name, (library, cls) in _components(index).items():
        sub = folder / name
        files = [p for p in sub.rglob("*") if p.is_file()] if sub.is_dir() else []
        size = sum(p.stat().st_size for p in files)
        total += size
        out["components"][name] = {"library": library, "class": cls, "present": sub.is_dir(),
                                   "files": len(files), "bytes": int(size)}
    out["total_bytes"] = int(total)
    return out


def _variant(folder: Path, index: dict) -> str | None:
    """``"fp16"`` when the UNet folder only holds ``*.fp16.*`` weights (diffusers then
    needs ``variant="fp16"`` to find them), else None."""
    unet = folder / "unet"
    files = _weight_files(unet) if unet.is_dir() else []
    if files and all(".fp16." in p.name for p in files):
        return "fp16"
    return None


# ------------------------------------------------------------------------ loading


#: (pipeline folder, device, model_index mtime) -> loaded inpainter. A deployment's
#: ``reconfigure`` rebuilds its core on every ``user_config`` change; the pipeline
#: (seconds to load, GBs of GPU memory) must not be loaded again for a new step count.
_LOADED: dict[tuple[str, str, float], DiffusionInpainter] = {}


def load_inpainter(weights_dir: str | Path, *, device: str | None = None) -> DiffusionInpainter:
    """Load the pipeline under ``weights_dir / "inpaint"`` (offline, local files only),
    once per process: a second call for the same folder and device returns the same
    object.

    device: ``"cuda"`` / ``"cpu"``; default ``cuda`` when ``torch.cuda.is_available()``.
    float16 on CUDA, float32 on the CPU. Raises ``BackendUnavailable`` (code
    ``weights_missing``) naming the missing path when the folder is incomplete.
    """
    from lumograph.models.common.errors import BackendUnavailable
    from lumograph.models.common.offline import ensure_offline

    missing = missing_weights(Path(weights_dir))
    if missing is not None:
        raise BackendUnavailable(f"inpainter: backend 'diffusers' weights missing: {missing}",
                                 code="weights_missing")
    ensure_offline()
    import torch
    from diffusers import AutoPipelineForInpainting
    from diffusers.utils import logging as diffusers_logging

    # Load-time progress bars are noise in replica logs.
    diffusers_logging.disable_progress_bar()
    folder = pipeline_dir(weights_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    key = (str(folder.resolve()), device, (folder / "model_index.json").stat().st_mtime)
    if key in _LOADED:
        return _LOADED[key]
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": dtype}
    variant = _variant(folder, _read_index(folder))
    if variant:
        kwargs["variant"] = variant
    started = time.perf_counter()
    pipe = AutoPipelineForInpainting.from_pretrained(str(folder), **kwargs)
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    loaded = DiffusionInpainter(pipe, device=device, dtype=str(dtype).replace("torch.", ""),
                                source=str(folder), load_seconds=time.perf_counter() - started)
    _LOADED[key] = loaded
    return loaded


@dataclass(frozen=True)
class _Crop:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 source pixels, exclusive ends
    work_wh: tuple[int, int]


def _round8(v: float) -> int:
    return max(MIN_WORK_SIDE, int(round(v / 8.0)) * 8)


class DiffusionInpainter:
    """A loaded inpainting pipeline and the crop / paste-back logic around it.

    Built by ``load_inpainter``; ``native_size`` is the side the model was trained at.
    """

    def __init__(self, pipe, *, device: str, dtype: str, source: str, load_seconds: float = 0.0):
        self.pipe = pipe
        self.device = device
        self.dtype = dtype
        self.source = source
        self.load_seconds = float(load_seconds)
        scale = int(getattr(pipe, "vae_scale_factor", 8))
        sample = getattr(getattr(getattr(pipe, "unet", None), "config", None), "sample_size", None) or 64
        # A few configs give (h, w); the long side is what the model was trained at.
        sample = max(sample) if isinstance(sample, (list, tuple)) else sample
        self.native_size = int(sample) * scale
        self.pipeline_class = type(pipe).__name__
        # A replica runs calls in a thread pool; a pipeline call mutates its scheduler's
        # state (timesteps), so one generation runs at a time.
        self._lock = threading.Lock()

    def describe(self) -> dict:
        """JSON-able summary: pipeline class, device, dtype, native size, load time."""
        return {"pipeline": self.pipeline_class, "device": self.device, "dtype": self.dtype,
                "native_size": self.native_size, "source": self.source,
                "load_seconds": rounded(self.load_seconds, 3)}

    # -------------------------------------------------------------- public API

    def inpaint(self, rgb: np.ndarray, mask: np.ndarray, prompt: str, seed: int = 0,
                steps: int = DEFAULT_STEPS, *, negative_prompt: str = "",
                guidance_scale: float = DEFAULT_GUIDANCE,
                within: tuple[int, int, int, int] | None = None, match_levels: bool = True) -> dict:
        """Fill the hole ``mask >= 0.5`` of ``rgb`` with the diffusion model.

        rgb: HxWx3 uint8 RGB (any size, short side >= 16; not modified). mask: HxW float32
        in [0, 1] (same HxW). prompt / negative_prompt: text. seed: int >= 0; the same
        seed, image and mask give the same pixels. steps: 1..200 denoising steps.
        within: optional (x0, y0, x1, y1) source box the context crops stay inside (a
        mirror). match_levels: shift the fill's mean colour to the ring around the hole
        (right for a surface continued under glare; wrong for a new view or sky, whose
        surroundings are a wall or a roof). Returns ``{"rgb": HxWx3 uint8 (new array; pixels outside the feathered
        hole bit-identical to rgb), "report": {"applied": bool, "prompt", "seed",
        "steps", "guidance_scale", "crops": [{"box": [x0, y0, x1, y1], "work_hw": [h,
        w]}], "hole_share": float, "changed_share": float, "nsfw_skipped": int,
        "seconds": float, "device", "dtype", "pipeline"}}``.
        Raises ``InvalidImage`` / ``InvalidOptions`` on bad input (message quotes it).
        """
        require_rgb_u8(rgb, "rgb", min_side=MIN_SIDE)
        hole = self._check_mask(mask, rgb.shape[:2])
        self._check_request(prompt, seed, steps, guidance_scale)
        h, w = rgb.shape[:2]
        bounds = self._check_within(within, (h, w))
        if within is not None:
            # Only what lies inside ``within`` is filled (the fill must not leave a mirror).
            inside = np.zeros_like(hole)
            bx0, by0, bx1, by1 = bounds
            inside[by0:by1, bx0:bx1] = hole[by0:by1, bx0:bx1]
            hole = inside
        started = time.perf_counter()
        report: dict[str, Any] = {
            "applied": False, "prompt": prompt, "negative_prompt": negative_prompt, "seed": int(seed),
            "steps": int(steps), "guidance_scale": rounded(guidance_scale, 3), "crops": [],
            "hole_share": rounded(float(hole.mean()), 6), "changed_share": 0.0, "nsfw_skipped": 0,
            "device": self.device, "dtype": self.dtype, "pipeline": self.pipeline_class,
        }
        out = rgb.copy()
        if not hole.any():
            report["seconds"] = rounded(time.perf_counter() - started, 3)
            return {"rgb": out, "report": report}
        changed = 0
        for crop in self._plan_crops(hole, bounds):
            x0, y0, x1, y1 = crop.box
            generated = self._generate(rgb[y0:y1, x0:x1], hole[y0:y1, x0:x1], crop.work_wh,
                                       prompt, negative_prompt, seed, steps, guidance_scale)
            report["crops"].append({"box": [x0, y0, x1, y1], "work_hw": [crop.work_wh[1], crop.work_wh[0]]})
            if generated is None:
                report["nsfw_skipped"] += 1
                continue
            changed += self._paste(out, rgb, hole, crop.box, generated, match_levels)
        report["applied"] = changed > 0
        report["changed_share"] = rounded(changed / (h * w), 6)
        report["seconds"] = rounded(time.perf_counter() - started, 3)
        return {"rgb": out, "report": report}

    def fill(self, rgb: np.ndarray, mask: np.ndarray, task: str, seed: int = 0,
             steps: int = DEFAULT_STEPS, *, within: tuple[int, int, int, int] | None = None,
             match_levels: bool = True) -> dict:
        """``inpaint`` with the prompt pair of ``task`` in ``PROMPTS`` ("glare",
        "reflection", "sky", "window_view"); same arguments and return value, plus
        ``report["task"]``. Raises ``InvalidOptions`` for an unknown task."""
        if task not in PROMPTS:
            raise InvalidOptions(f"inpaint task must be one of {sorted(PROMPTS)}, got {task!r}")
        prompt, negative = PROMPTS[task]
        result = self.inpaint(rgb, mask, prompt, seed, steps, negative_prompt=negative, within=within,
                              match_levels=match_levels)
        result["report"]["task"] = task
        return result

    def sky_plate(self, rgb: np.ndarray, sky_matte: np.ndarray, style: str = "light_clouds",
                  seed: int = 0, steps: int = DEFAULT_STEPS) -> dict:
        """Generate a new sky for the compositor to blend in through its own matte.

        rgb: HxWx3 uint8 RGB (a proxy is enough: the model works at its native size);
        sky_matte: HxW float32 [0, 1] on the same grid; style: a key of ``SKY_PROMPTS``.
        The hole is every pixel with matte > ``SKY_HOLE_MIN`` (the soft edge included);
        one context crop spans the full width from the top row down past the sky, at
        least ``SKY_MIN_CROP_ASPECT`` of the width tall. Returns ``{"plate": hxwx3 uint8
        at the model's work size or None (no sky, or the safety checker flagged it),
        "box_norm": [x0, y0, x1, y1] the plate covers, as fractions of the frame, or
        None, "report": {"style", "prompt", "seed", "steps", "work_hw", "hole_share",
        "nsfw_skipped", "seconds", "device", "dtype", "pipeline"}}``. Outside the hole the
        plate is the model's reconstruction of the photo and must not be used.
        """
        require_rgb_u8(rgb, "rgb", min_side=MIN_SIDE)
        if not isinstance(sky_matte, np.ndarray) or sky_matte.shape != rgb.shape[:2]:
            raise InvalidImage(f"sky_matte must be an HxW float32 array matching the image's "
                               f"{rgb.shape[:2]!r}, got {getattr(sky_matte, 'shape', None)!r}")
        if style not in SKY_PROMPTS:
            raise InvalidOptions(f"sky style must be one of {sorted(SKY_PROMPTS)}, got {style!r}")
        self._check_request(SKY_PROMPTS[style], seed, steps, DEFAULT_GUIDANCE)
        started = time.perf_counter()
        h, w = rgb.shape[:2]
        hole = (np.nan_to_num(sky_matte.astype(np.float32, copy=False)) > SKY_HOLE_MIN).astype(np.uint8)
        report: dict[str, Any] = {
            "style": style, "prompt": SKY_PROMPTS[style], "seed": int(seed), "steps": int(steps),
            "hole_share": rounded(float(hole.mean()), 6), "work_hw": None, "nsfw_skipped": 0,
            "device": self.device, "dtype": self.dtype, "pipeline": self.pipeline_class,
        }
        plate, box_norm = None, None
        rows = np.nonzero(hole.any(axis=1))[0]
        if rows.size:
            bottom = min(h, int(rows[-1]) + 1 + max(2, int(round(0.02 * h))))
            y1 = min(h, max(bottom, int(math.ceil(SKY_MIN_CROP_ASPECT * w))))
            scale = self.native_size / max(w, y1)
            work_wh = (_round8(w * scale), _round8(y1 * scale))
            report["work_hw"] = [work_wh[1], work_wh[0]]
            generated = self._generate(rgb[:y1], hole[:y1], work_wh, SKY_PROMPTS[style], PROMPTS["sky"][1],
                                       seed, steps, DEFAULT_GUIDANCE, at_work_size=True)
            if generated is None:
                report["nsfw_skipped"] = 1
            else:
                plate = np.clip(generated * 255.0 + 0.5, 0, 255).astype(np.uint8)
                box_norm = [0.0, 0.0, 1.0, rounded(y1 / h, 6)]
        report["seconds"] = rounded(time.perf_counter() - started, 3)
        return {"plate": plate, "box_norm": box_norm, "report": report}

    def synthesize_window_view(self, rgb: np.ndarray, window_box: tuple[int, int, int, int],
                               seed: int = 0, steps: int = DEFAULT_STEPS, *,
                               glass: np.ndarray | None = None, inset: float = 0.04) -> dict:
        """A view generated inside a fully blown window.

        rgb: HxWx3 uint8 RGB; window_box: (x0, y0, x1, y1) source pixels, exclusive ends.
        glass: optional hxw float32 [0, 1] mask of the glass spanning ``window_box`` (the
        segmenter's, any size); without it the box less ``inset`` of each side is the
        glass. Only the bright glass (luma >= ``VIEW_MIN_LUMA``) is refilled, so mullions,
        frame and sill stay the camera's. The fill keeps the model's own exposure (no
        level match to the wall around it). See ``inpaint`` for the return value, plus
        ``report["window_box"]`` and ``report["glass"]`` ("mask" | "box").
        """
        require_rgb_u8(rgb, "rgb", min_side=MIN_SIDE)
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = self._check_within(window_box, (h, w))
        region = np.zeros((y1 - y0, x1 - x0), np.uint8)
        if glass is not None:
            if not isinstance(glass, np.ndarray) or glass.ndim != 2 or min(glass.shape) < 2:
                raise InvalidImage(f"glass must be an hxw float32 mask, got {getattr(glass, 'shape', None)!r}")
            region[:] = cv2.resize(np.nan_to_num(glass.astype(np.float32)), (x1 - x0, y1 - y0),
                                   interpolation=cv2.INTER_LINEAR) >= 0.5
        else:
            dx, dy = int(round(inset * (x1 - x0))), int(round(inset * (y1 - y0)))
            region[dy:(y1 - y0) - dy, dx:(x1 - x0) - dx] = 1
        luma = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
        hole = region & (luma >= VIEW_MIN_LUMA).astype(np.uint8)
        # JPEG speckle in blown glass would leave pinholes of the old white in the view.
        k = max(3, 2 * int(round(0.005 * max(x1 - x0, y1 - y0))) + 1)
        hole = cv2.morphologyEx(hole, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8)) & region
        mask = np.zeros((h, w), np.float32)
        mask[y0:y1, x0:x1] = hole
        result = self.fill(rgb, mask, "window_view", seed, steps, match_levels=False)
        result["report"].update(window_box=[x0, y0, x1, y1], glass="mask" if glass is not None else "box")
        return result

    def stage_room(self, rgb: np.ndarray, room_type: str, style: str, seed: int = 0,
                   steps: int = DEFAULT_STEPS, *, mask: np.ndarray | None = None) -> dict:
        """Virtually stage an empty room: furniture of ``style`` for ``room_type`` is
        generated on the floor area.

        rgb: HxWx3 uint8 RGB (not modified). room_type: one of ``STAGING_ROOMS``; style:
        one of ``STAGING_STYLES``. mask: optional HxW float32 [0, 1] floor/placement
        mask; default the lower part of the frame (``STAGING_TOP``..``STAGING_BOTTOM``
        inside a ``STAGING_SIDE`` border). Returns ``{"rgb": HxWx3 uint8, "report":
        {..."inpaint" report keys..., "room_type", "style", "disclosure": str},
        "applied": bool}``. Raises ``InvalidOptions`` for an unknown room type or style.
        """
        validate_staging(room_type, style)
        require_rgb_u8(rgb, "rgb", min_side=MIN_SIDE)
        h, w = rgb.shape[:2]
        if mask is None:
            mask = np.zeros((h, w), np.float32)
            side = int(round(STAGING_SIDE * w))
            mask[int(STAGING_TOP * h):int(math.ceil(STAGING_BOTTOM * h)), side:w - side] = 1.0
        prompt = (f"a {STAGING_STYLES[style]} {STAGING_ROOMS[room_type]}, professionally staged, "
                  "real estate listing photo, natural light, photorealistic")
        result = self.inpaint(rgb, mask, prompt, seed, steps, negative_prompt=STAGING_NEGATIVE)
        report = result["report"]
        report.update(room_type=room_type, style=style, disclosure=STAGING_DISCLOSURE)
        return {"rgb": result["rgb"], "report": report, "applied": bool(report["applied"])}

    # -------------------------------------------------------------- internals

    @staticmethod
    def _check_mask(mask, hw: tuple[int, int]) -> np.ndarray:
        if not isinstance(mask, np.ndarray) or mask.ndim != 2:
            shape = getattr(mask, "shape", None)
            raise InvalidImage(f"mask must be an HxW float32 array in [0, 1], got {type(mask).__name__!r} {shape!r}")
        if mask.shape != tuple(hw):
            raise InvalidImage(f"mask must match the image's HxW {tuple(hw)!r}, got {mask.shape!r}")
        return (mask >= 0.5).astype(np.uint8)

    @staticmethod
    def _check_request(prompt, seed, steps, guidance_scale) -> None:
        if not isinstance(prompt, str) or not prompt.strip():
            raise InvalidOptions(f"prompt must be a non-empty string, got {prompt!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2 ** 63:
            raise InvalidOptions(f"seed must be an int in [0, 2**63), got {seed!r}")
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= int(steps) <= MAX_STEPS:
            raise InvalidOptions(f"steps must be an int in [1, {MAX_STEPS}], got {steps!r}")
        if not isinstance(guidance_scale, (int, float)) or not 0.0 <= float(guidance_scale) <= 30.0:
            raise InvalidOptions(f"guidance_scale must be a number in [0, 30], got {guidance_scale!r}")

    @staticmethod
    def _check_within(box, hw: tuple[int, int]) -> tuple[int, int, int, int]:
        h, w = hw
        if box is None:
            return 0, 0, w, h
        try:
            x0, y0, x1, y1 = (int(v) for v in box)
        except (TypeError, ValueError):
            raise InvalidOptions(f"box must be (x0, y0, x1, y1) pixels, got {box!r}") from None
        if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
            raise InvalidOptions(f"box must lie inside the {w}x{h} image with x0 < x1, y0 < y1, got {box!r}")
        return x0, y0, x1, y1

    def _plan_crops(self, hole: np.ndarray, bounds: tuple[int, int, int, int]) -> list[_Crop]:
        """Context boxes around the hole's components, merged where they overlap (one
        model call per group), each with its work size (long side = native size,
        multiples of 8)."""
        bx0, by0, bx1, by1 = bounds
        n, _, stats, _ = cv2.connectedComponentsWithStats(hole, connectivity=8)
        boxes = []
        min_side = MIN_CROP_SHARE * self.native_size
        for i in range(1, n):
            x, y, cw, ch = (int(v) for v in stats[i, :4])
            side = max(cw, ch)
            want_w = max(cw + 2 * CONTEXT_MARGIN * side, min_side)
            want_h = max(ch + 2 * CONTEXT_MARGIN * side, min_side)
            boxes.append(self._fit_box(x + cw / 2, y + ch / 2, want_w, want_h, bounds))
        merged = True
        while merged and len(boxes) > 1:
            merged = False
            for i in range(len(boxes)):
                for j in range(i + 1, len(boxes)):
                    a, b = boxes[i], boxes[j]
                    if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                        boxes[i] = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                        del boxes[j]
                        merged = True
                        break
                if merged:
                    break
        crops = []
        for x0, y0, x1, y1 in boxes:
            x0, y0, x1, y1 = max(bx0, x0), max(by0, y0), min(bx1, x1), min(by1, y1)
            cw, ch = x1 - x0, y1 - y0
            scale = self.native_size / max(cw, ch)
            crops.append(_Crop((x0, y0, x1, y1), (_round8(cw * scale), _round8(ch * scale))))
        return crops

    @staticmethod
    def _fit_box(cx: float, cy: float, want_w: float, want_h: float,
                 bounds: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A want_w x want_h box centred on (cx, cy), shifted (not shrunk) to stay inside
        ``bounds`` where it fits, so a hole near an edge still gets its context."""
        bx0, by0, bx1, by1 = bounds
        bw, bh = min(want_w, bx1 - bx0), min(want_h, by1 - by0)
        x0 = min(max(bx0, cx - bw / 2), bx1 - bw)
        y0 = min(max(by0, cy - bh / 2), by1 - bh)
        return (int(math.floor(x0)), int(math.floor(y0)),
                min(bx1, int(math.ceil(x0 + bw))), min(by1, int(math.ceil(y0 + bh))))

    def _generate(self, crop: np.ndarray, hole: np.ndarray, work_wh: tuple[int, int], prompt: str,
                  negative_prompt: str, seed: int, steps: int, guidance_scale: float, *,
                  at_work_size: bool = False) -> np.ndarray | None:
        """Run the pipeline on one crop; returns the generated crop as ch x cw x 3 float32
        in [0, 1] at the crop's own size (at the work size with ``at_work_size``), or None
        when the safety checker flagged it."""
        import torch
        from PIL import Image

        ww, wh = work_wh
        ch, cw = crop.shape[:2]
        shrinking = ww < cw
        image = cv2.resize(crop, (ww, wh), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC)
        # INTER_AREA then "> 0" keeps every work pixel the hole touches; the extra grow
        # covers the latent grid (the pipeline downsamples the mask by vae_scale_factor).
        work_hole = cv2.resize(hole.astype(np.float32), (ww, wh), interpolation=cv2.INTER_AREA) > 0
        grow = int(getattr(self.pipe, "vae_scale_factor", 8))
        work_hole = cv2.dilate(work_hole.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        with self._lock, torch.inference_mode():
            result = self.pipe(prompt=prompt, negative_prompt=negative_prompt or None,
                               image=Image.fromarray(image), mask_image=Image.fromarray(work_hole * 255),
                               height=wh, width=ww, strength=1.0, num_inference_steps=int(steps),
                               guidance_scale=float(guidance_scale), generator=generator, output_type="np")
        flagged = getattr(result, "nsfw_content_detected", None)
        if flagged and any(flagged):
            return None
        generated = np.asarray(result.images[0], dtype=np.float32)
        generated = np.nan_to_num(generated, nan=0.0)
        if at_work_size:
            return np.clip(generated, 0.0, 1.0)
        interp = cv2.INTER_CUBIC if shrinking else cv2.INTER_AREA
        return np.clip(cv2.resize(generated, (cw, ch), interpolation=interp), 0.0, 1.0)

    @staticmethod
    def _paste(out: np.ndarray, src: np.ndarray, hole: np.ndarray, box: tuple[int, int, int, int],
               generated: np.ndarray, match_levels: bool = True) -> int:
        """Feather ``generated`` into ``out[box]`` over the (grown) hole; returns how many
        pixels changed. Pixels with zero feather weight are not written at all."""
        x0, y0, x1, y1 = box
        crop = src[y0:y1, x0:x1].astype(np.float32) / 255.0
        hole_crop = hole[y0:y1, x0:x1]
        side = max(x1 - x0, y1 - y0)
        grown = cv2.dilate(hole_crop, np.ones((2 * HOLE_GROW_PX + 1, 2 * HOLE_GROW_PX + 1), np.uint8))
        # Level match: the generated fill must continue the surrounding surface's tone.
        ring_px = max(3, int(round(0.02 * side)))
        ring = (cv2.dilate(grown, np.ones((2 * ring_px + 1, 2 * ring_px + 1), np.uint8)) > 0) & (grown == 0)
        if match_levels and ring.sum() >= 16:
            offset = crop[ring].mean(axis=0) - generated[ring].mean(axis=0)
            generated = np.clip(generated + offset[None, None, :], 0.0, 1.0)
        sigma = max(1.0, 0.01 * side)
        weight = cv2.GaussianBlur(grown.astype(np.float32), (0, 0), sigma)
        weight = np.maximum(weight, grown.astype(np.float32))
        touched = weight > 1.0 / 512.0
        blended = crop + weight[:, :, None] * (generated - crop)
        region = out[y0:y1, x0:x1]
        new = np.clip(blended * 255.0 + 0.5, 0, 255).astype(np.uint8)
        region[touched] = new[touched]
        return int(touched.sum())


def validate_staging(room_type, style) -> None:
    """Raise ``InvalidOptions`` (quoting the bad value) unless ``room_type`` is one of
    ``STAGING_ROOMS`` and ``style`` one of ``STAGING_STYLES``. Needs no weights."""
    if room_type not in STAGING_ROOMS:
        raise InvalidOptions(f"room_type must be one of {sorted(STAGING_ROOMS)}, got {room_type!r}")
    if style not in STAGING_STYLES:
        raise InvalidOptions(f"style must be one of {sorted(STAGING_STYLES)}, got {style!r}")
