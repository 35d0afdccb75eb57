"""Tiny random-weight models of every learned backend, built offline from the libraries'
own classes and saved in the production weights layout (``weights/clip``,
``weights/sam``, ``weights/yolo``, ``weights/inpaint``), plus a socket block.

Thin names over ``lumograph.bench.random_models`` (the one copy of the builders, whose
``"tiny"`` preset these are; ``lumograph bench models`` builds its ``"real"`` preset).
Random weights give true compute shapes and exercise the real loaders; they say nothing
about quality. Shared by the backend tests, the backend contract test and the Serve test
of the learned backends.
"""
from __future__ import annotations

from pathlib import Path

from lumograph.bench import random_models
from lumograph.bench.random_models import BUSY_YOLO_BIAS, TINY_SAM, tiny_sam

__all__ = ["BUSY_YOLO_BIAS", "TINY_SAM", "build_all", "build_tiny_clip", "build_tiny_inpaint",
           "build_tiny_sam", "build_tiny_yolo", "network_blocked", "tiny_inpaint_pipeline", "tiny_sam"]


def network_blocked():
    """Every socket connection and name lookup fails while the block is open (the
    package's ``random_models.sockets_blocked``, so tests and ``bench models`` block the
    same way)."""
    return random_models.sockets_blocked()


def build_tiny_clip(weights_root: Path, seed: int = 0) -> Path:
    """A tiny CLIP (hidden 32, 2 layers, 32 px images, 8 px patches) with a local
    byte-level tokenizer (letters and digits, no merges) and a 32 px image processor,
    saved to ``weights_root/"clip"``; returns that folder."""
    return random_models.build_clip(weights_root, "tiny", seed)


def build_tiny_sam(weights_root: Path) -> Path:
    """Save the tiny SAM (``tiny_sam()``) as ``weights_root/sam/sam.pth`` + ``config.json``."""
    return random_models.build_sam(weights_root, "tiny")


def tiny_inpaint_pipeline():
    """A tiny Stable Diffusion inpainting pipeline: UNet with 9 input channels, a
    two-block VAE, a two-layer CLIP text encoder, a byte-level CLIP tokenizer built from
    an in-memory vocabulary, a DDIM scheduler."""
    return random_models.inpaint_pipeline("tiny")


def build_tiny_inpaint(weights_root: Path) -> Path:
    """Save the tiny inpainting pipeline to ``weights_root/inpaint``."""
    return random_models.build_inpaint(weights_root, "tiny")


def build_tiny_yolo(weights_root: Path, class_bias=BUSY_YOLO_BIAS) -> Path:
    """A YOLO11n detector with random weights (``class_bias`` raises its head biases so
    it reports boxes) saved as ``weights_root/yolo/windows.pt``."""
    return random_models.build_yolo(weights_root, "tiny", class_bias=class_bias)


def build_all(weights_root: Path) -> Path:
    """Every learned backend's tiny weights under one ``weights_root`` (the YOLO with
    ``BUSY_YOLO_BIAS``, as ``build_tiny_yolo``); returns it."""
    return random_models.build_all(weights_root, "tiny", yolo_class_bias=BUSY_YOLO_BIAS)
