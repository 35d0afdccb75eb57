"""CLIP zero-shot: the learned backend ``clip`` of the classifier module.

A CLIP model scores an image against short text prompts; the softmax of the scaled
cosine similarities over one label set is a probability per label. The prompts for
every label set are embedded ONCE at load (replica start), so a request costs one image
embedding (one ViT forward pass) and a few dot products, whatever the number of label
sets it asks about.

Weights layout (local files only; nothing downloads)::

    weights/clip/                     a transformers CLIP saved with save_pretrained
        config.json                   CLIPConfig (model_type "clip")
        model.safetensors             or pytorch_model.bin, or a sharded *.index.json
        preprocessor_config.json      CLIPImageProcessor (transformers 5 writes it into
                                      processor_config.json instead: either is accepted)
        tokenizer.json                or vocab.json + merges.txt (CLIPTokenizer)
        tokenizer_config.json         optional

``CLIPModel.save_pretrained(d)`` and ``CLIPProcessor.save_pretrained(d)`` (or a copy of
a hub snapshot such as openai/clip-vit-base-patch32) produce it.

Label sets (``LABEL_PROMPTS``) use the classical classifiers' labels, so the two
backends answer in one vocabulary: ``scene`` (exterior / interior), ``room_type``
(``scene.ROOM_TYPES``), ``jewelry_category`` (``classifier.jewelry.CATEGORIES``) and
``metal`` (``classifier.jewelry.METALS``). A label may hold several prompts: their
normalised embeddings are averaged (CLIP's prompt ensembling).

Importing this module is cheap (no torch): ``models/classifier/__init__.py`` declares
it as the ``clip`` backend; ``load_clip`` imports torch and transformers after
``ensure_offline()``.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from lumograph.models.common.errors import BackendUnavailable, InvalidOptions
from lumograph.models.common.imageio import require_rgb_u8
from lumograph.models.common.offline import ensure_offline

BACKEND_NAME = "clip"
#: Sub-folder of the weights directory holding the CLIP model and its processor.
WEIGHTS_SUBDIR = "clip"

#: label set -> label -> prompts. Labels match the classical classifiers' labels.
LABEL_PROMPTS: dict[str, dict[str, tuple[str, ...]]] = {
    "scene": {
        "exterior": ("a photo of the exterior of a house",),
        "interior": ("a photo of a room inside a house",),
    },
    "room_type": {
        "kitchen": ("a photo of a kitchen",),
        "bathroom": ("a photo of a bathroom",),
        "bedroom": ("a photo of a bedroom",),
        "living": ("a photo of a living room",),
        "dining": ("a photo of a dining room",),
        "other": ("a photo of another room of a house, such as a hallway, an office or a laundry room",),
    },
    "jewelry_category": {
        "ring": ("a product photo of a ring",),
        "necklace": ("a product photo of a necklace or a pendant",),
        "earring": ("a product photo of an earring",),
        "bracelet": ("a product photo of a bracelet",),
        "other": ("a product photo of a piece of jewelry",),
    },
    "metal": {
        "yellow_gold": ("jewelry made of yellow gold",),
        "white_metal": ("jewelry made of a white metal, silver or platinum",),
        "rose_gold": ("jewelry made of rose gold",),
        "none": ("jewelry with no metal, made of beads, pearls, wood or fabric",),
    },
}

#: (what the file is, accepted names: the first one is quoted when all are missing)
_EXPECTED_FILES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("config", ("config.json",)),
    ("weights", ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                 "pytorch_model.bin.index.json")),
    ("image_processor", ("preprocessor_config.json", "processor_config.json")),
    ("tokenizer", ("tokenizer.json", "vocab.json")),
)
#: A slow tokenizer built from vocab.json also needs its merges.
_VOCAB_NEEDS = "merges.txt"
#: Smallest proxy side worth embedding; below it the image holds no usable content.
MIN_SIDE = 16


# ------------------------------------------------------------------- weights


def clip_dir(weights_dir: Path | str) -> Path:
    """The folder the CLIP backend loads from: ``weights_dir / "clip"``."""
    return Path(weights_dir) / WEIGHTS_SUBDIR


def missing_weights(weights_dir: Path | str) -> str | None:
    """The first missing path of the CLIP layout under ``weights_dir`` (a string, the
    folder itself when it is absent), or None when everything needed is there. Reads
    only the file listing; loads nothing."""
    folder = clip_dir(weights_dir)
    if not folder.is_dir():
        return str(folder)
    for _, names in _EXPECTED_FILES:
        if not any((folder / name).is_file() for name in names):
            return str(folder / names[0])
    if not (folder / "tokenizer.json").is_file() and not (folder / _VOCAB_NEEDS).is_file():
        return str(folder / _VOCAB_NEEDS)
    return None


def describe_weights(weights_dir: Path | str) -> dict:
    """What the CLIP backend expects under ``weights_dir`` and what is there, without
    importing torch or loading anything.

    Returns ``{"module": "classifier", "backend": "clip", "path": str, "ready": bool,
    "missing": str | None, "files": [{"role", "name", "present", "bytes"}], "total_bytes":
    int, "config": {...} | None}``; ``files`` lists, per role, the accepted file found
    (or the preferred name when none is); ``config`` summarises config.json (model type,
    hidden sizes, layers, image and patch size, projection dim) when it is readable.
    """
    folder = clip_dir(weights_dir)
    files = []
    roles = list(_EXPECTED_FILES) + [("merges", (_VOCAB_NEEDS,)), ("tokenizer_config", ("tokenizer_config.json",))]
    for role, names in roles:
        found = next((n for n in names if (folder / n).is_file()), None)
        name = found or names[0]
        files.append({"role": role, "name": name, "present": found is not None,
                      "bytes": (folder / found).stat().st_size if found else 0})
    config = None
    try:
        raw = json.loads((folder / "config.json").read_text())
        text, vision = raw.get("text_config") or {}, raw.get("vision_config") or {}
        config = {
            "model_type": raw.get("model_type"),
            "projection_dim": raw.get("projection_dim"),
            "text_hidden_size": text.get("hidden_size"),
            "text_layers": text.get("num_hidden_layers"),
            "vision_hidden_size": vision.get("hidden_size"),
            "vision_layers": vision.get("num_hidden_layers"),
            "image_size": vision.get("image_size"),
            "patch_size": vision.get("patch_size"),
        }
    except (OSError, ValueError):
        pass
    missing = missing_weights(weights_dir)
    return {
        "module": "classifier",
        "backend": BACKEND_NAME,
        "path": str(folder),
        "ready": missing is None,
        "missing": missing,
        "files": files,
        "total_bytes": int(sum(f["bytes"] for f in files)),
        "config": config,
    }


# -------------------------------------------------------------------- model


def _pooled(output):
    """transformers 5 returns a model output whose ``pooler_output`` is the projected
    embedding; 4.x returned the tensor itself."""
    return getattr(output, "pooler_output", output)


class ClipZeroShot:
    """A loaded CLIP with the prompt embeddings of every label set of ``LABEL_PROMPTS``.

    Build it with ``load_clip`` (once per replica). ``device`` is "cuda" when torch sees
    a GPU, else "cpu". Inference runs in float32 under ``torch.inference_mode``, so the
    same image gives the same probabilities on the same device.
    """

    def __init__(self, model, processor, device: str, folder: Path):
        import torch

        self._torch = torch
        self.model = model
        self.processor = processor
        self.device = device
        self.folder = folder
        # The processor's own resize runs on the full proxy; a cheap INTER_AREA pre-shrink
        # to its input side keeps it from aliasing and from resampling 1 MP per request.
        size = getattr(processor.image_processor, "size", None) or {}
        crop = getattr(processor.image_processor, "crop_size", None) or {}
        self.input_side = int(size.get("shortest_edge") or crop.get("height") or model.config.vision_config.image_size)
        self.logit_scale = float(model.logit_scale.exp().item())
        self.label_embeddings: dict[str, tuple[tuple[str, ...], object]] = {
            name: self._embed_labels(prompts) for name, prompts in LABEL_PROMPTS.items()
        }

    def _embed_labels(self, prompts: dict[str, tuple[str, ...]]):
        """label set -> (labels, L x D unit tensor): each label the normalised mean of its
        prompts' normalised embeddings."""
        torch = self._torch
        labels = tuple(prompts)
        texts = [p for label in labels for p in prompts[label]]
        counts = [len(prompts[label]) for label in labels]
        max_len = int(self.model.config.text_config.max_position_embeddings)
        tokens = self.processor.tokenizer(texts, padding=True, truncation=True, max_length=max_len,
                                          return_tensors="pt").to(self.device)
        with torch.inference_mode():
            emb = _pooled(self.model.get_text_features(**tokens)).float()
        emb = emb / emb.norm(dim=-1, keepdim=True)
        per_label = torch.stack([chunk.mean(dim=0) for chunk in torch.split(emb, counts)])
        return labels, per_label / per_label.norm(dim=-1, keepdim=True)

    def _embed_image(self, rgb: np.ndarray):
        torch = self._torch
        h, w = rgb.shape[:2]
        scale = self.input_side / min(h, w)
        if scale < 1.0:
            rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        pixels = self.processor.image_processor(images=np.ascontiguousarray(rgb), return_tensors="pt")
        with torch.inference_mode():
            emb = _pooled(self.model.get_image_features(pixel_values=pixels["pixel_values"].to(self.device))).float()
        return emb[0] / emb[0].norm()

    def zero_shot_many(self, proxy_rgb: np.ndarray, label_sets: tuple[str, ...] | list[str]) -> dict[str, dict[str, float]]:
        """Probabilities over several label sets from ONE image embedding.

        proxy_rgb: HxWx3 uint8 RGB, short side >= ``MIN_SIDE`` (not modified; the
        processor centre-crops a square). label_sets: names from ``LABEL_PROMPTS``.
        Returns ``{label_set: {label: probability}}``, each inner dict over all labels of
        the set, float in [0, 1], summing to 1 (rounded to 4 decimals).
        Raises ``InvalidImage`` for a bad image, ``InvalidOptions`` for an unknown set.
        """
        require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=MIN_SIDE, purpose="for CLIP")
        unknown = [s for s in label_sets if s not in self.label_embeddings]
        if unknown:
            raise InvalidOptions(f"unknown label set(s) {unknown!r}; known: {sorted(self.label_embeddings)}")
        image = self._embed_image(proxy_rgb)
        out = {}
        for name in label_sets:
            labels, text = self.label_embeddings[name]
            logits = (text @ image).double().cpu().numpy() * self.logit_scale
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            out[name] = {label: round(float(p), 4) for label, p in zip(labels, probs)}
        return out

    def zero_shot(self, proxy_rgb: np.ndarray, label_set: str) -> dict[str, float]:
        """``{label: probability}`` over ``LABEL_PROMPTS[label_set]`` (see ``zero_shot_many``)."""
        return self.zero_shot_many(proxy_rgb, (label_set,))[label_set]

    def describe(self) -> dict:
        """JSON-able summary of what is loaded: folder, device, parameter count, input side."""
        return {
            "backend": BACKEND_NAME,
            "path": str(self.folder),
            "device": self.device,
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "input_side": self.input_side,
            "label_sets": {k: list(v[0]) for k, v in self.label_embeddings.items()},
        }


def load_clip(weights_dir: Path | str) -> ClipZeroShot:
    """Load ``weights_dir/clip`` (local files only) onto cuda when available, else cpu,
    and embed every label set's prompts. Raises ``BackendUnavailable`` (code
    ``weights_missing``) naming the missing path, or (code ``weights_invalid``) when
    the files are there but transformers cannot load them."""
    missing = missing_weights(weights_dir)
    if missing is not None:
        raise BackendUnavailable(f"classifier: backend 'clip' weights missing: {missing}", code="weights_missing")
    ensure_offline()
    import torch
    from transformers import CLIPModel, CLIPProcessor

    folder = clip_dir(weights_dir)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        model = CLIPModel.from_pretrained(str(folder), local_files_only=True)
        processor = CLIPProcessor.from_pretrained(str(folder), local_files_only=True)
    # Start-up boundary: a corrupt or foreign file surfaces as many library types
    # (OSError, ValueError, safetensors' own error); all of them mean "these weights
    # cannot serve", said in one line naming the folder.
    except Exception as exc:
        raise BackendUnavailable(f"classifier: backend 'clip' cannot load {folder}: "
                                 f"{type(exc).__name__}: {exc}", code="weights_invalid") from exc
    model = model.float().to(device).eval()
    return ClipZeroShot(model, processor, device, folder)


def top_label(probs: dict[str, float]) -> tuple[str, float]:
    """The most probable label of ``{label: probability}`` and its probability."""
    label = max(probs, key=probs.get)
    return label, float(probs[label])


__all__ = [
    "BACKEND_NAME", "LABEL_PROMPTS", "ClipZeroShot", "clip_dir", "describe_weights", "load_clip",
    "missing_weights", "top_label",
]
