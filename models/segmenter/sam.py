"""Segment Anything (``segment-anything`` 1.0) as the segmenter's learned backend.

What it does, per vertical:

* jewelry: the classical detector's box (plus optional points) prompts SAM; its mask,
  whose detail is that of a 256x256 logit grid, is then refined at full resolution with
  closed-form matting in a band around the outline, because SAM's masks alone lose
  two-pixel chains and prong tips (``segment_box`` then ``refine_with_matting``);
* listings: a sky matte prompted by points along the top border, keeping the candidate
  masks that hang from the top and are brighter and smoother than the rest of the
  frame (``automatic_sky_mask``), and pixel masks for the boxes of the window detector
  (``window_masks``).

The image embedding (the ViT encoder, >95% of SAM's cost) is computed once per image
and reused by every prompt on that image (``set_image``).

Weights layout (under the configured weights directory)::

    weights/sam/vit_b.pth            an official checkpoint named after its model type
    weights/sam/vit_l.pth            (first found wins, in the order vit_h, vit_l, vit_b)
    weights/sam/vit_h.pth
  or
    weights/sam/sam.pth + weights/sam/config.json   {"model_type": "vit_b"}

``config.json`` may also describe a non-standard architecture; every key is optional
and defaults to the official value of ``model_type`` (``vit_b`` when absent)::

    {"model_type": "vit_b",                # vit_b | vit_l | vit_h | custom
     "image_size": 1024,                   # encoder input side; masks come back at any size
     "patch_size": 16,
     "encoder_embed_dim": 768, "encoder_depth": 12, "encoder_num_heads": 12,
     "encoder_global_attn_indexes": [2, 5, 8, 11], "encoder_window_size": 14,
     "encoder_mlp_ratio": 4.0,
     "prompt_embed_dim": 256, "mask_in_chans": 16,
     "decoder_depth": 2, "decoder_mlp_dim": 2048, "decoder_num_heads": 8,
     "iou_head_depth": 3, "iou_head_hidden_dim": 256}

With only ``model_type`` (or no config) the model is built by ``segment_anything``'s own
``sam_model_registry[model_type](checkpoint=None)`` (``checkpoint=None`` makes the
registry skip its own ``torch.load``, verified in ``build_sam.py``) and the state dict is
loaded here with ``torch.load(..., weights_only=True)`` (no pickled code runs). With
architecture keys the same modeling classes are assembled with those sizes, which is how
the tests load a tiny random-weight SAM through this very loader. The state dict must
match the architecture exactly (``strict=True``): a wrong ``model_type`` fails at
start-up, not with garbage masks.

Nothing here downloads: ``ensure_offline()`` runs before torch is imported, and torch,
``segment_anything`` and ``pymatting`` are imported lazily so that registering the
backend (at import of this module) stays cheap.

Conventions: images HxWx3 uint8 RGB (never mutated; read-only arrays are fine);
masks and mattes HxW float32 in [0, 1].
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lumograph.models.common.errors import BackendUnavailable, InvalidOptions
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.masks import disc

BACKEND_NAME = "sam"
MODEL_TYPES = ("vit_h", "vit_l", "vit_b")  # search order when no config.json names one

#: Official encoder sizes per model type (segment_anything/build_sam.py).
_OFFICIAL_ENCODERS: dict[str, dict[str, Any]] = {
    "vit_b": {"encoder_embed_dim": 768, "encoder_depth": 12, "encoder_num_heads": 12,
              "encoder_global_attn_indexes": [2, 5, 8, 11]},
    "vit_l": {"encoder_embed_dim": 1024, "encoder_depth": 24, "encoder_num_heads": 16,
              "encoder_global_attn_indexes": [5, 11, 17, 23]},
    "vit_h": {"encoder_embed_dim": 1280, "encoder_depth": 32, "encoder_num_heads": 16,
              "encoder_global_attn_indexes": [7, 15, 23, 31]},
}
#: Architecture keys shared by every official model type.
_COMMON_ARCH: dict[str, Any] = {
    "image_size": 1024, "patch_size": 16, "encoder_window_size": 14, "encoder_mlp_ratio": 4.0,
    "prompt_embed_dim": 256, "mask_in_chans": 16, "decoder_depth": 2, "decoder_mlp_dim": 2048,
    "decoder_num_heads": 8, "iou_head_depth": 3, "iou_head_hidden_dim": 256,
}
_ARCH_KEYS = frozenset(_COMMON_ARCH) | frozenset(_OFFICIAL_ENCODERS["vit_b"])
_CONFIG_KEYS = _ARCH_KEYS | {"model_type"}

# Rows hashed to fingerprint an image for the embedding cache (every n-th).
_FINGERPRINT_ROW_STEP = 2
# Matting tiles: pymatting's closed-form Laplacian allocates ~25 int64 + 25 float64 per
# pixel of its input (whether known or not), so it is solved in tiles of this side (plus
# an overlap that gives each tile's centre its true neighbours): ~70 MB per tile.
_MATTING_TILE = 384
_MATTING_OVERLAP = 16
# Closed-form matting regulariser: pymatting's default 1e-7 converges more slowly on flat
# backdrops; on a 2048 px ring 1e-5 was ~40% faster (4.1 -> 2.5 s, band 8) for the same
# IoU and the same band alpha.
_MATTING_EPSILON = 1e-5
#: SAM probability from which a pixel may be subject (enters the matting band): thin
#: chains come out of SAM's 256x256 logits as faint probabilities, well under 0.5.
UNKNOWN_FLOOR = 0.1
# Sky prompts: this many points along the top border, this far down (share of height).
_SKY_POINTS = 5
_SKY_POINT_DEPTH = 0.03
# A candidate is sky-like when it covers at least this share of the top strip (its own
# part of it), this much of the frame at least / at most, and is brighter and smoother
# than what it leaves out.
_SKY_TOP_STRIP = 0.04
_SKY_MIN_TOP_COVER = 0.5
_SKY_MIN_AREA = 0.01
_SKY_MAX_AREA = 0.85
_SKY_SCORE_LONG_SIDE = 256


# --------------------------------------------------------------------------- weights


def _sam_dir(weights_dir: Path | str) -> Path:
    return Path(weights_dir) / "sam"


def _read_config(sam_dir: Path) -> dict[str, Any] | None:
    path = sam_dir / "config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidOptions(f"unreadable SAM config {path}: {exc}", code="weights_invalid") from exc
    if not isinstance(config, dict):
        raise InvalidOptions(f"SAM config {path} must be a JSON object, got {config!r}",
                             code="weights_invalid")
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise InvalidOptions(f"SAM config {path}: unknown keys {unknown}; known: {sorted(_CONFIG_KEYS)}",
                             code="weights_invalid")
    model_type = config.get("model_type", "vit_b")
    has_arch = bool(set(config) & _ARCH_KEYS)
    if model_type not in _OFFICIAL_ENCODERS and not (model_type == "custom" and has_arch):
        raise InvalidOptions(
            f"SAM config {path}: model_type {model_type!r} is not one of {list(_OFFICIAL_ENCODERS)} "
            "(or 'custom' with architecture keys)", code="weights_invalid")
    return config


def resolve_sam_weights(weights_dir: Path | str) -> tuple[Path | None, dict[str, Any]]:
    """Find the SAM checkpoint under ``weights_dir`` and the config it is built with.

    Returns ``(checkpoint path or None when absent, config dict)``; the config always has
    ``model_type``. With ``sam/config.json`` the checkpoint is ``sam/sam.pth`` (or
    ``sam/<model_type>.pth``); without, the first of ``sam/vit_h.pth``, ``vit_l.pth``,
    ``vit_b.pth`` that exists. Raises ``InvalidOptions`` (code ``weights_invalid``) for an
    unreadable or inconsistent config.json.
    """
    sam_dir = _sam_dir(weights_dir)
    config = _read_config(sam_dir)
    if config is not None:
        model_type = config.get("model_type", "vit_b")
        for name in ("sam.pth", f"{model_type}.pth"):
            if (sam_dir / name).is_file():
                return sam_dir / name, {**config, "model_type": model_type}
        return None, {**config, "model_type": model_type}
    for model_type in MODEL_TYPES:
        if (sam_dir / f"{model_type}.pth").is_file():
            return sam_dir / f"{model_type}.pth", {"model_type": model_type}
    return None, {"model_type": "vit_b"}


def missing_weights(weights_dir: Path) -> str | None:
    """The registered availability check: None when a loadable checkpoint is present,
    else the path expected (``.../sam/sam.pth`` when a config.json exists, else
    ``.../sam/vit_b.pth``; vit_l.pth / vit_h.pth are accepted too). An invalid
    config.json is reported as missing with its reason, so ``auto`` falls back."""
    try:
        checkpoint, _ = resolve_sam_weights(weights_dir)
    except InvalidOptions as exc:
        return str(exc)
    if checkpoint is not None:
        return None
    name = "sam.pth" if (_sam_dir(weights_dir) / "config.json").is_file() else "vit_b.pth"
    return str(_sam_dir(weights_dir) / name)


def describe_weights(weights_dir: Path | str) -> dict:
    """What the SAM backend expects under ``weights_dir`` and what is there, without
    importing torch or loading anything.

    Returns ``{"backend": "sam", "module": "segmenter", "directory": str,
    "expected": [str], "present": [{"path", "bytes"}], "checkpoint": str | None,
    "model_type": str | None, "config": dict | None, "ok": bool, "missing": str | None,
    "error": str | None}``.
    """
    sam_dir = _sam_dir(weights_dir)
    expected = [str(sam_dir / f"{t}.pth") for t in MODEL_TYPES] + \
        [str(sam_dir / "sam.pth") + " + " + str(sam_dir / "config.json")]
    present = []
    if sam_dir.is_dir():
        present = [{"path": str(p), "bytes": int(p.stat().st_size)}
                   for p in sorted(sam_dir.iterdir()) if p.is_file()]
    error = None
    checkpoint, config = None, None
    try:
        checkpoint, config = resolve_sam_weights(weights_dir)
    except InvalidOptions as exc:
        error = exc.message
    if checkpoint is None and not (sam_dir / "config.json").is_file():
        config = None  # nothing there: no model type to report
    missing = missing_weights(Path(weights_dir))
    return {
        "backend": BACKEND_NAME, "module": "segmenter", "directory": str(sam_dir),
        "expected": expected, "present": present,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "model_type": config.get("model_type") if config else None,
        "config": config, "ok": missing is None, "missing": missing, "error": error,
    }


# --------------------------------------------------------------------------- model


def default_device() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"`` (never Ray's GPU ids)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def build_sam(config: dict[str, Any]):
    """A random-weight ``segment_anything.modeling.Sam`` for ``config`` (see the module
    docstring), in eval mode on the CPU. Official model types without architecture
    keys come from ``sam_model_registry[model_type](checkpoint=None)``."""
    from lumograph.models.common.offline import ensure_offline

    ensure_offline()
    from functools import partial

    import torch
    from segment_anything import sam_model_registry
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    model_type = config.get("model_type", "vit_b")
    if not set(config) & _ARCH_KEYS:
        return sam_model_registry[model_type](checkpoint=None).eval()
    arch = {**_COMMON_ARCH, **_OFFICIAL_ENCODERS.get(model_type, _OFFICIAL_ENCODERS["vit_b"]),
            **{k: v for k, v in config.items() if k in _ARCH_KEYS}}
    size, patch, dim = int(arch["image_size"]), int(arch["patch_size"]), int(arch["prompt_embed_dim"])
    if size % patch:
        raise InvalidOptions(f"SAM config: image_size {size} is not a multiple of patch_size {patch}",
                             code="weights_invalid")
    grid = size // patch
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=int(arch["encoder_depth"]), embed_dim=int(arch["encoder_embed_dim"]), img_size=size,
            mlp_ratio=float(arch["encoder_mlp_ratio"]), norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=int(arch["encoder_num_heads"]), patch_size=patch, qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=tuple(int(i) for i in arch["encoder_global_attn_indexes"]),
            window_size=int(arch["encoder_window_size"]), out_chans=dim),
        prompt_encoder=PromptEncoder(
            embed_dim=dim, image_embedding_size=(grid, grid), input_image_size=(size, size),
            mask_in_chans=int(arch["mask_in_chans"])),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=int(arch["decoder_depth"]), embedding_dim=dim,
                                          mlp_dim=int(arch["decoder_mlp_dim"]),
                                          num_heads=int(arch["decoder_num_heads"])),
            transformer_dim=dim, iou_head_depth=int(arch["iou_head_depth"]),
            iou_head_hidden_dim=int(arch["iou_head_hidden_dim"])),
        pixel_mean=[123.675, 116.28, 103.53], pixel_std=[58.395, 57.12, 57.375])
    return sam.eval()


def _check_box(box_xyxy, shape: tuple[int, int]) -> np.ndarray:
    box = np.asarray(box_xyxy, np.float64).reshape(-1)
    h, w = shape
    if box.size != 4 or not np.isfinite(box).all():
        raise InvalidOptions(f"box must be [x0, y0, x1, y1], got {box_xyxy!r}")
    x0, y0, x1, y1 = box
    x0, x1 = np.clip([x0, x1], 0, w)
    y0, y1 = np.clip([y0, y1], 0, h)
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise InvalidOptions(f"box {list(map(float, np.asarray(box_xyxy).reshape(-1)))} is empty "
                             f"inside the {w}x{h} image")
    return np.array([x0, y0, x1, y1], np.float64)


def build_trimap(sam_prob: np.ndarray, band_px: int) -> np.ndarray:
    """Trimap for matting from a soft SAM mask.

    sam_prob: HxW float [0, 1]; band_px: integer >= 1. Returns HxW float64 in
    pymatting's convention: 1.0 sure subject, 0.0 sure backdrop, 0.5 unknown.

    Sure subject is ``sam_prob >= 0.5`` eroded by ``band_px``, plus the parts of that
    mask thinner than the band (what an opening by the band's disc removes: chains,
    prongs): erosion leaves no anchor on them, and closed-form matting propagates alpha
    only from anchors, so without them it fades a faint chain that SAM did find. Sure
    backdrop is outside ``sam_prob >= UNKNOWN_FLOOR`` dilated by ``band_px``, so faint
    structures below 0.5 still fall in the unknown band.
    """
    kernel = disc(int(band_px))
    subject = (sam_prob >= 0.5).astype(np.uint8)
    thin = subject.astype(bool) & ~cv2.morphologyEx(subject, cv2.MORPH_OPEN, kernel).astype(bool)
    sure_fg = cv2.erode(subject, kernel).astype(bool) | thin
    reach = cv2.dilate((sam_prob >= UNKNOWN_FLOOR).astype(np.uint8), kernel).astype(bool)
    return np.where(sure_fg, 1.0, np.where(reach, 0.5, 0.0))


class SamSegmenter:
    """A loaded SAM with its predictor and a one-image embedding cache.

    Build with ``SamSegmenter.load(weights_dir)`` (production) or
    ``SamSegmenter.from_state_dict_file(path, builder)``. Methods are thread-safe (one
    lock: the predictor holds one image's embedding at a time).
    """

    def __init__(self, sam_model, device: str, *, source: dict | None = None):
        """sam_model: a ``segment_anything.modeling.Sam`` already on ``device``, eval mode."""
        from segment_anything import SamPredictor

        self.model = sam_model
        self.device = str(device)
        self.predictor = SamPredictor(sam_model)
        self.source = dict(source or {})
        self.embeddings_computed = 0
        self._image_key: tuple | None = None
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- loading

    @classmethod
    def load(cls, weights_dir: str | Path, device: str | None = None) -> SamSegmenter:
        """Load the checkpoint found under ``weights_dir`` (layout in the module
        docstring) onto ``device`` (default: cuda if available, else cpu).

        Raises ``BackendUnavailable`` naming the missing path when there is no
        checkpoint, ``InvalidOptions`` (code ``weights_invalid``) for a bad config or
        a state dict that does not match the architecture.
        """
        checkpoint, config = resolve_sam_weights(weights_dir)
        if checkpoint is None:
            raise BackendUnavailable(f"segmenter: backend 'sam' weights missing: "
                                     f"{missing_weights(Path(weights_dir))}", code="weights_missing")
        return cls.from_state_dict_file(checkpoint, lambda: build_sam(config), device=device,
                                        source={"model_type": config["model_type"]})

    @classmethod
    def from_state_dict_file(cls, path: str | Path, builder: Callable[[], Any],
                             device: str | None = None, *, source: dict | None = None) -> SamSegmenter:
        """Build the architecture with ``builder()`` (a random-weight Sam), load the state
        dict saved at ``path`` with ``weights_only=True`` and ``strict=True``, move it to
        ``device``. The returned object's ``source`` records path, bytes, parameter
        count, device and load seconds."""
        from lumograph.models.common.offline import ensure_offline

        ensure_offline()
        import torch

        start = time.perf_counter()
        device = device or default_device()
        path = Path(path)
        # Random weights moved first, so the checkpoint's tensors (loaded straight onto
        # the device) are copied device to device and never round-trip through the host.
        sam = builder().to(device)
        state = torch.load(path, map_location=device, weights_only=True)
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        try:
            sam.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise InvalidOptions(f"SAM checkpoint {path} does not match the configured architecture: "
                                 f"{first}", code="weights_invalid") from exc
        del state
        sam.eval()
        parameters = int(sum(p.numel() for p in sam.parameters()))
        info = {**(source or {}), "checkpoint": str(path), "bytes": int(path.stat().st_size),
                "parameters": parameters, "image_size": int(sam.image_encoder.img_size),
                "device": str(device), "load_s": round(time.perf_counter() - start, 3)}
        return cls(sam, device, source=info)

    # ----------------------------------------------------------------- embedding

    @staticmethod
    def _fingerprint(rgb: np.ndarray) -> tuple:
        # Content, not id(): over Ray every call brings a fresh (read-only) copy of the
        # same image, so an id never matches twice. Every other row is hashed (~2 ms on
        # a 1024 px proxy, ~20 ms at 12 MP, against ~0.05 s / ~85 s for a vit_b encoder
        # on GPU / 2 CPU cores): a few sampled pixels would miss a local retouch.
        rows = np.ascontiguousarray(rgb[::_FINGERPRINT_ROW_STEP])
        return (rgb.shape, hashlib.sha1(memoryview(rows).cast("B"), usedforsecurity=False).hexdigest())

    def set_image(self, rgb: np.ndarray) -> bool:
        """Compute SAM's image embedding for ``rgb`` (HxWx3 uint8 RGB, any size: the
        predictor resizes the long side to the encoder's ``image_size``), unless it is
        the image already set (same shape and the same pixels in every other row, whatever
        the array object: a copy of the same image reuses the embedding).

        Returns True when the embedding was computed, False when the cached one was reused.
        """
        require_rgb_u8(rgb, "image", min_side=16, purpose="to segment")
        key = self._fingerprint(rgb)
        with self._lock:
            if key == self._image_key and self.predictor.is_image_set:
                return False
            self._image_key = None
            self.predictor.set_image(np.ascontiguousarray(rgb), image_format="RGB")
            self._image_key = key
            self.embeddings_computed += 1
            return True

    def _predict_logits(self, point_coords=None, point_labels=None, boxes=None,
                        multimask_output: bool = False, output_hw: tuple[int, int] | None = None):
        """Batched prompts in image pixels -> (logits BxCxHxW torch at ``output_hw``
        (default: the image's size), iou BxC torch, SAM's low-res logits BxCx256x256)."""
        import torch

        predictor = self.predictor
        size = predictor.original_size
        coords_t = labels_t = boxes_t = None
        if point_coords is not None:
            coords = predictor.transform.apply_coords(np.asarray(point_coords, np.float64), size)
            coords_t = torch.as_tensor(coords, dtype=torch.float, device=predictor.device)
            labels_t = torch.as_tensor(np.asarray(point_labels), dtype=torch.int, device=predictor.device)
        if boxes is not None:
            boxes_np = predictor.transform.apply_boxes(np.asarray(boxes, np.float64).reshape(-1, 4), size)
            boxes_t = torch.as_tensor(boxes_np, dtype=torch.float, device=predictor.device)
        with torch.no_grad():
            sparse, dense = self.model.prompt_encoder(
                points=(coords_t, labels_t) if coords_t is not None else None, boxes=boxes_t, masks=None)
            low_res, iou = self.model.mask_decoder(
                image_embeddings=predictor.features, image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                multimask_output=multimask_output)
            logits = self._upsample(low_res, output_hw or tuple(size))
        return logits, iou, low_res

    def _upsample(self, low_res, output_hw: tuple[int, int]):
        """SAM's low-res logits -> logits on an ``output_hw`` grid spanning the image set."""
        import torch

        with torch.no_grad():
            return self.model.postprocess_masks(low_res, self.predictor.input_size,
                                                (int(output_hw[0]), int(output_hw[1])))

    # ----------------------------------------------------------------- jewelry

    def segment_box(self, rgb: np.ndarray, box_xyxy, points=None, labels=None,
                    ) -> tuple[np.ndarray, float]:
        """SAM mask for the object in ``box_xyxy`` (the classical detector's box).

        rgb: HxWx3 uint8 RGB. box_xyxy: [x0, y0, x1, y1] in rgb pixels (clipped to the
        frame). points: optional Nx2 (x, y) pixels with labels N (1 subject, 0 not).
        Returns ``(probability HxW float32 in [0, 1] at rgb's resolution, SAM's predicted
        IoU score as a float)``. The probability is the sigmoid of SAM's 256x256 logits
        upsampled bilinearly, so its outline is soft and thin parts may be missing:
        refine it with ``refine_with_matting``. One mask (``multimask_output=False``), as
        the SAM authors advise for unambiguous box prompts.
        """
        import torch

        require_rgb_u8(rgb, "image", min_side=16, purpose="to segment")
        box = _check_box(box_xyxy, rgb.shape[:2])
        coords = lab = None
        if points is not None:
            coords = np.asarray(points, np.float64).reshape(-1, 2)
            lab = np.asarray(labels if labels is not None else np.ones(len(coords)), np.int64).reshape(-1)
            if lab.size != len(coords) or not np.isin(lab, (0, 1)).all():
                raise InvalidOptions(f"labels must be one 0/1 per point, got {labels!r} for {len(coords)} points")
            coords, lab = coords[None], lab[None]
        with self._lock:
            self.set_image(rgb)
            logits, iou, _ = self._predict_logits(coords, lab, box[None], multimask_output=False)
            probability = torch.sigmoid(logits[0, 0]).float().cpu().numpy()
        return np.ascontiguousarray(probability, np.float32), float(iou[0, 0])

    def refine_with_matting(self, rgb: np.ndarray, sam_prob: np.ndarray, trimap_band_px: int | None = None,
                            *, return_report: bool = False):
        """Full-resolution alpha from SAM's soft mask by closed-form matting in a band.

        rgb: HxWx3 uint8 RGB; sam_prob: HxW float32 [0, 1] on the same grid (from
        ``segment_box``); trimap_band_px: half-width in pixels of the unknown band around
        the outline (integer >= 1; None: one cell of SAM's 256-wide logit grid, i.e.
        ``ceil(long side / 256)``, at least 2: SAM's outline is uncertain by about a cell,
        and a wider band lets matting pull soft cast shadows into the subject). Trimap (``build_trimap``): sure subject = ``sam_prob >= 0.5``
        eroded by the band, plus SAM's parts thinner than the band; sure backdrop = the
        complement of ``sam_prob >= UNKNOWN_FLOOR`` dilated by the band; unknown in
        between. The low floor matters: a chain thinner than SAM's 4-pixel logit grid
        survives only as a faint probability, and it must land in the unknown band.
        Alpha in the band comes from pymatting's ``estimate_alpha_cf`` (Levin et al.'s
        closed-form matting), solved inside the mask's bounding box only, in overlapping
        tiles so memory stays bounded (~70 MB per tile).

        Closed-form rather than KNN matting: its local colour-line model gives each
        pixel the alpha that its 3x3 neighbourhood's colours imply, so a chain two pixels
        wide that SAM blurred into the band comes back at its true width; KNN matting
        mixes non-local neighbours of similar colour (made for wide fuzzy bands such as
        hair), softens thin high-contrast structures and builds a kd-tree over the whole
        crop.

        Returns alpha HxW float32 in [0, 1] (exactly 1 on sure subject, 0 on sure
        backdrop); with ``return_report`` also a JSON-able report dict.
        """
        from lumograph.models.common.offline import ensure_offline

        ensure_offline()
        from pymatting import estimate_alpha_cf

        start = time.perf_counter()
        require_rgb_u8(rgb, "image", min_side=16, purpose="to segment")
        prob = np.asarray(sam_prob)
        if prob.shape != rgb.shape[:2]:
            raise InvalidOptions(f"sam_prob shape {prob.shape} != image shape {rgb.shape[:2]}")
        if trimap_band_px is None:
            trimap_band_px = max(2, -(-max(rgb.shape[:2]) // 256))
        band = int(trimap_band_px)
        if band < 1 or band != trimap_band_px:
            raise InvalidOptions(f"trimap_band_px must be an integer >= 1, got {trimap_band_px!r}")
        height, width = prob.shape
        alpha = np.zeros((height, width), np.float32)
        report = {"method": "pymatting.estimate_alpha_cf", "band_px": band, "tiles": 0,
                  "tiles_unanchored": 0, "unknown_px": 0, "crop": None}
        trimap = build_trimap(prob, band)
        sure_fg, reach = trimap == 1.0, trimap > 0.0
        unknown = reach & ~sure_fg
        if not reach.any():
            report["seconds"] = round(time.perf_counter() - start, 3)
            return (alpha, report) if return_report else alpha
        alpha[sure_fg] = 1.0
        rows, cols = np.nonzero(reach)
        pad = _MATTING_OVERLAP
        y0, y1 = max(0, rows.min() - pad), min(height, rows.max() + 1 + pad)
        x0, x1 = max(0, cols.min() - pad), min(width, cols.max() + 1 + pad)
        report["crop"] = [int(x0), int(y0), int(x1), int(y1)]
        report["unknown_px"] = int(unknown.sum())
        for ty in range(y0, y1, _MATTING_TILE):
            for tx in range(x0, x1, _MATTING_TILE):
                cy1, cx1 = min(ty + _MATTING_TILE, y1), min(tx + _MATTING_TILE, x1)
                if not unknown[ty:cy1, tx:cx1].any():
                    continue
                oy0, ox0 = max(0, ty - _MATTING_OVERLAP), max(0, tx - _MATTING_OVERLAP)
                oy1, ox1 = min(height, cy1 + _MATTING_OVERLAP), min(width, cx1 + _MATTING_OVERLAP)
                tile_trimap = trimap[oy0:oy1, ox0:ox1]
                if (tile_trimap == 1.0).any() and (tile_trimap == 0.0).any():
                    tile_rgb = rgb[oy0:oy1, ox0:ox1].astype(np.float64) / 255.0
                    solved = estimate_alpha_cf(tile_rgb, tile_trimap,
                                               laplacian_kwargs={"epsilon": _MATTING_EPSILON})
                else:
                    # Closed-form matting needs both sure subject and sure backdrop to
                    # anchor its solve; without (a chain's far end) SAM's probability stays.
                    solved = prob[oy0:oy1, ox0:ox1]
                    report["tiles_unanchored"] += 1
                centre = solved[ty - oy0:cy1 - oy0, tx - ox0:cx1 - ox0]
                where = unknown[ty:cy1, tx:cx1]
                alpha[ty:cy1, tx:cx1][where] = np.clip(centre[where], 0.0, 1.0)
                report["tiles"] += 1
        report["seconds"] = round(time.perf_counter() - start, 3)
        report["mean_band_alpha"] = round(float(alpha[unknown].mean()), 4) if unknown.any() else None
        return (alpha, report) if return_report else alpha

    # ----------------------------------------------------------------- listings

    def automatic_sky_mask(self, proxy_rgb: np.ndarray, *, return_report: bool = False):
        """Soft sky matte of a listing proxy, from point prompts along the top border.

        proxy_rgb: HxWx3 uint8 RGB (~1024 px long side). SAM's automatic mask generator
        (a 32x32 point grid and crops) costs seconds on a GPU; sky always touches the top
        border, so ``_SKY_POINTS`` single-point prompts near the top, three candidate
        masks each, all decoded in one batch on one embedding, suffice. A candidate is
        sky-like when it covers most of its point's stretch of the top strip, covers
        1-85% of the frame, and is brighter and smoother (lower mean gradient) than the
        rest of the frame; per point the sky-like candidate with the best predicted IoU
        is kept, and the matte is the per-pixel maximum of their probabilities (a tree
        or a gable splitting the sky yields several). Returns HxW float32 in [0, 1]
        (all zeros when no candidate is sky-like); with ``return_report`` also a report.
        """
        import torch

        require_rgb_u8(proxy_rgb, "proxy", min_side=16, purpose="to segment")
        height, width = proxy_rgb.shape[:2]
        xs = (np.arange(_SKY_POINTS) + 0.5) * width / _SKY_POINTS
        ys = np.full(_SKY_POINTS, max(1.0, _SKY_POINT_DEPTH * height))
        coords = np.stack([xs, ys], axis=1)[:, None, :]
        labels = np.ones((_SKY_POINTS, 1), np.int64)
        # Candidates are judged on a small grid (a few ms each) and only the chosen ones
        # are upsampled to the proxy.
        scale = min(1.0, _SKY_SCORE_LONG_SIDE / max(height, width))
        small_hw = (max(1, round(height * scale)), max(1, round(width * scale)))
        with self._lock:
            self.set_image(proxy_rgb)
            logits, iou, low_res = self._predict_logits(coords, labels, None, multimask_output=True,
                                                        output_hw=small_hw)
            inside_all = (logits > self.model.mask_threshold).cpu().numpy()  # P x 3 x h x w
            iou = iou.float().cpu().numpy()
            small = cv2.resize(np.ascontiguousarray(proxy_rgb), small_hw[::-1], interpolation=cv2.INTER_AREA)
            grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
            gradient = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1))
            strip = max(1, round(_SKY_TOP_STRIP * small_hw[0]))
            small_w = small_hw[1]
            chosen, picks = [], []
            for p in range(_SKY_POINTS):
                span = slice(int(p * small_w / _SKY_POINTS), max(int(p * small_w / _SKY_POINTS) + 1,
                                                                int((p + 1) * small_w / _SKY_POINTS)))
                best, best_iou = None, -np.inf
                for c in range(inside_all.shape[1]):
                    inside = inside_all[p, c]
                    area = float(inside.mean())
                    if not (_SKY_MIN_AREA <= area <= _SKY_MAX_AREA):
                        continue
                    if float(inside[:strip, span].mean()) < _SKY_MIN_TOP_COVER:
                        continue
                    outside = ~inside
                    if grey[inside].mean() <= grey[outside].mean() or \
                            gradient[inside].mean() >= gradient[outside].mean():
                        continue
                    if iou[p, c] > best_iou:
                        best, best_iou = c, float(iou[p, c])
                if best is not None:
                    picks.append((p, best))
                    chosen.append({"point": [round(float(xs[p]), 1), round(float(ys[p]), 1)],
                                   "mask": int(best), "iou": round(best_iou, 4)})
            matte = np.zeros((height, width), np.float32)
            if picks:
                selected = torch.stack([low_res[p, c] for p, c in picks])[:, None]
                probability = torch.sigmoid(self._upsample(selected, (height, width))).float().cpu().numpy()
                matte = np.ascontiguousarray(probability[:, 0].max(axis=0), np.float32)
        if not return_report:
            return matte
        return matte, {"backend": BACKEND_NAME, "prompts": _SKY_POINTS,
                       "candidates": int(inside_all.shape[0] * inside_all.shape[1]),
                       "chosen": chosen, "fraction": round(float((matte >= 0.5).mean()), 4)}

    def window_masks(self, proxy_rgb: np.ndarray, boxes) -> list[np.ndarray]:
        """Pixel masks for the window detector's boxes, decoded in one batch on one
        embedding.

        proxy_rgb: HxWx3 uint8 RGB; boxes: sequence of [x0, y0, x1, y1] in proxy pixels.
        Returns one HxW float32 [0, 1] probability per box, in order ([] for no boxes).
        """
        import torch

        require_rgb_u8(proxy_rgb, "proxy", min_side=16, purpose="to segment")
        checked = [_check_box(b, proxy_rgb.shape[:2]) for b in boxes]
        if not checked:
            return []
        with self._lock:
            self.set_image(proxy_rgb)
            logits, _, _ = self._predict_logits(None, None, np.stack(checked), multimask_output=False)
            probability = torch.sigmoid(logits[:, 0]).float().cpu().numpy()
        return [np.ascontiguousarray(m, np.float32) for m in probability]
