"""Random-weight models of every learned backend, built offline from the libraries' own
classes and saved in the production weights layout, at a stated size.

Random weights cost exactly the compute and memory of trained ones of the same
architecture; they say nothing about quality. The tests build the ``"tiny"`` preset
(seconds, a few MB) to exercise the real loaders; ``lumograph bench models`` builds
``"real"`` to measure true per-module latency and memory.

Layout written under ``weights_root`` (what the production loaders read)::

    clip/      a transformers CLIPModel + CLIPProcessor (save_pretrained, safetensors)
    sam/       tiny: sam.pth + config.json (a "custom" architecture);
               real: vit_b.pth (segment_anything's vit_b, no config.json needed)
    yolo/      windows.pt (ultralytics yolo11n, 2 classes: window, mirror)
    inpaint/   a diffusers StableDiffusionInpaintPipeline (save_pretrained, safetensors)

Presets (``SIZES``):

* ``"tiny"``: the test sizes (hidden 32 CLIP at 32 px, a 128 px two-block SAM, a
  two-block SD UNet at 64 px). YOLO is yolo11n in both presets (it is small already).
* ``"real"``: CLIP ViT-B/32 (``CLIPConfig`` defaults: vision 768 hidden, 12 layers,
  patch 32, 224 px; text 512 hidden, 12 layers; projection 512), SAM vit_b
  (``sam_model_registry["vit_b"](checkpoint=None)``), YOLO11n, and an SD-1.5-shaped
  inpainting pipeline (UNet (320, 640, 1280, 1280), 2 layers per block, cross-attention
  768, 9 input channels, 64 latent = 512 px; the SD AutoencoderKL (128, 256, 512, 512);
  a CLIP ViT-L/14 text encoder: 768 hidden, 12 layers, 12 heads).

Tokenizers: both presets use a small local vocabulary (CLIP: letters and digits;
inpaint: the 256 byte-level symbols), one token per character, no merges: nothing can
be downloaded. In ``"real"`` the text models keep the production embedding table
(``vocab_size`` 49408), so parameter counts and memory are the production ones; only
token sequences differ (one token per character instead of BPE words: CLIP's label
prompts, embedded once at load, get longer sequences, truncated at 77; SD pads every
prompt to 77 tokens anyway, so a fill costs the same).
"""
from __future__ import annotations

import contextlib
import json
import socket
import string
from functools import partial
from pathlib import Path

from lumograph.models.common.offline import ensure_offline

SIZES = ("tiny", "real")
BACKENDS = ("clip", "sam", "yolo", "inpaint")
#: CLIP's production BPE vocabulary size (the embedding table of ViT-B/32 and ViT-L/14).
CLIP_VOCAB_SIZE = 49408

#: The tiny SAM, in the config.json vocabulary of the production loader.
TINY_SAM = {
    "model_type": "custom", "image_size": 128, "patch_size": 16,
    "encoder_embed_dim": 32, "encoder_depth": 2, "encoder_num_heads": 2,
    "encoder_global_attn_indexes": [1], "encoder_window_size": 4, "encoder_mlp_ratio": 2.0,
    "prompt_embed_dim": 32, "mask_in_chans": 4, "decoder_depth": 1, "decoder_mlp_dim": 64,
    "decoder_num_heads": 2, "iou_head_depth": 2, "iou_head_hidden_dim": 32,
}
#: YOLO head biases that make a random checkpoint report many windows and mirrors.
BUSY_YOLO_BIAS = [[-9.0, -9.0], [-9.0, 6.0], [7.0, -9.0]]


def _check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    return size


def _refuse(*args, **kwargs):
    raise OSError(f"network access attempted while building or running an offline model: {args[1:]!r}")


@contextlib.contextmanager
def sockets_blocked():
    """While open, every socket connection and name lookup raises ``OSError`` (proof that
    nothing downloads). Restores the originals on exit. Not thread-safe: process-wide."""
    saved = {name: getattr(socket.socket, name) for name in ("connect", "connect_ex")}
    saved_create, saved_lookup = socket.create_connection, socket.getaddrinfo
    try:
        for name in saved:
            setattr(socket.socket, name, _refuse)
        socket.create_connection = _refuse
        socket.getaddrinfo = _refuse
        yield
    finally:
        for name, fn in saved.items():
            setattr(socket.socket, name, fn)
        socket.create_connection, socket.getaddrinfo = saved_create, saved_lookup


# --------------------------------------------------------------------------- CLIP


def clip_tokenizer_vocab() -> dict[str, int]:
    """The local CLIP vocabulary: start/end tokens, then each letter and digit alone and
    as a word end (``"a</w>"``): 74 ids, no merges."""
    symbols = string.ascii_lowercase + string.digits
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for c in symbols:
            vocab[c + suffix] = len(vocab)
    return vocab


def clip_config(size: str = "tiny"):
    """``(transformers.CLIPConfig, processor side in px)`` of the preset (see
    ``build_clip``)."""
    _check_size(size)
    ensure_offline()
    from transformers import CLIPConfig

    special = {"bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 1, "max_position_embeddings": 77}
    if size == "tiny":
        small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
        config = CLIPConfig(text_config=dict(small, vocab_size=len(clip_tokenizer_vocab()), **special),
                            vision_config=dict(small, image_size=32, patch_size=8), projection_dim=16)
        return config, 32
    # CLIPConfig's defaults are ViT-B/32; the table keeps its production size.
    config = CLIPConfig(text_config=dict(vocab_size=CLIP_VOCAB_SIZE, **special))
    return config, int(config.vision_config.image_size)


def build_clip(weights_root: Path | str, size: str = "tiny", seed: int = 0) -> Path:
    """A random CLIPModel + CLIPProcessor saved to ``weights_root/"clip"``; returns that folder.

    tiny: hidden 32, 2 layers, 32 px images, 8 px patches, projection 16, vocab = the
    local tokenizer's 74 symbols, 32 px processor. real: ViT-B/32 (CLIPConfig defaults,
    text vocab 49408, ~151 M parameters), 224 px processor. Tokenizer (both):
    ``clip_tokenizer_vocab()``, also written as vocab.json + merges.txt.
    """
    config, side = clip_config(size)
    import torch
    from transformers import CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder = Path(weights_root) / "clip"
    folder.mkdir(parents=True, exist_ok=True)
    vocab = clip_tokenizer_vocab()
    # The slow-tokenizer files too, so the folder also holds the vocab.json + merges.txt layout.
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    images = CLIPImageProcessor(size={"shortest_edge": side}, crop_size={"height": side, "width": side})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------- SAM


def tiny_sam():
    """The tiny Sam (``TINY_SAM``) assembled directly from segment_anything.modeling (not
    through the production loader's builder, so a mismatch between ``TINY_SAM`` and that
    builder fails the strict state-dict load). Seed 0, eval mode."""
    ensure_offline()
    import torch
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    torch.manual_seed(0)
    size, patch, dim = TINY_SAM["image_size"], TINY_SAM["patch_size"], TINY_SAM["prompt_embed_dim"]
    encoder = ImageEncoderViT(img_size=size, patch_size=patch, embed_dim=32, depth=2, num_heads=2,
                              mlp_ratio=2.0, out_chans=dim, qkv_bias=True,
                              norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
                              window_size=4, global_attn_indexes=(1,))
    prompt = PromptEncoder(embed_dim=dim, image_embedding_size=(size // patch, size // patch),
                           input_image_size=(size, size), mask_in_chans=4)
    decoder = MaskDecoder(transformer_dim=dim, num_multimask_outputs=3, iou_head_depth=2,
                          iou_head_hidden_dim=32,
                          transformer=TwoWayTransformer(depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2))
    return Sam(encoder, prompt, decoder, [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]).eval()


def build_sam(weights_root: Path | str, size: str = "tiny", seed: int = 0) -> Path:
    """Save a random SAM under ``weights_root/"sam"``; returns that folder.

    tiny: ``tiny_sam()`` as ``sam.pth`` + ``config.json`` (``TINY_SAM``; seed fixed at 0).
    real: ``sam_model_registry["vit_b"](checkpoint=None)`` from ``seed`` as ``vit_b.pth``
    (the official checkpoint's name and keys; ~94 M parameters, ~375 MB).
    """
    _check_size(size)
    ensure_offline()
    import torch

    folder = Path(weights_root) / "sam"
    folder.mkdir(parents=True, exist_ok=True)
    if size == "tiny":
        torch.save(tiny_sam().state_dict(), folder / "sam.pth")
        (folder / "config.json").write_text(json.dumps(TINY_SAM))
        return folder
    torch.manual_seed(seed)
    torch.save(real_sam().state_dict(), folder / "vit_b.pth")
    return folder


def real_sam():
    """SAM vit_b with random weights: ``sam_model_registry["vit_b"](checkpoint=None)``
    (the production loader's own builder for ``model_type`` vit_b), eval mode."""
    ensure_offline()
    from segment_anything import sam_model_registry

    return sam_model_registry["vit_b"](checkpoint=None).eval()


# --------------------------------------------------------------------------- inpaint


def inpaint_pipeline(size: str = "tiny", seed: int = 0):
    """A random ``StableDiffusionInpaintPipeline`` (UNet with 9 input channels, VAE, CLIP
    text encoder, a byte-level CLIP tokenizer from an in-memory vocabulary, a DDIM
    scheduler with SD's betas; no safety checker), built from ``seed``.

    tiny: UNet (32, 64) at 32 latent px, a two-block VAE (16, 32), a 2-layer 32-wide text
    encoder: native size 64 px. real: SD-1.5 shapes (see the module docstring), native
    size 512 px, ~1.07 G parameters (~4.3 GB in float32).
    """
    _check_size(size)
    ensure_offline()
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionInpaintPipeline,
        UNet2DConditionModel,
    )
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    # Byte-level symbols alone (no merges) tokenize any text, one symbol per byte.
    symbols = sorted(ByteLevel.alphabet())
    vocab = {s: i for i, s in enumerate(symbols)}
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    for special in ("<|startoftext|>", "<|endoftext|>"):
        vocab[special] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    ids = {"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"],
           "pad_token_id": vocab["<|endoftext|>"]}
    torch.manual_seed(seed)
    if size == "tiny":
        unet = UNet2DConditionModel(
            sample_size=32, in_channels=9, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32, attention_head_dim=(2, 4), norm_num_groups=8)
        vae = AutoencoderKL(
            block_out_channels=[16, 32], in_channels=3, out_channels=3, latent_channels=4, sample_size=64,
            down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
            norm_num_groups=8)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, projection_dim=32,
            vocab_size=len(vocab), **ids))
    else:
        # runwayml/stable-diffusion-inpainting's unet/vae/text_encoder config.json values.
        unet = UNet2DConditionModel(
            sample_size=64, in_channels=9, out_channels=4, layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                              "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32)
        vae = AutoencoderKL(
            block_out_channels=[128, 256, 512, 512], in_channels=3, out_channels=3, latent_channels=4,
            sample_size=512, layers_per_block=2, down_block_types=["DownEncoderBlock2D"] * 4,
            up_block_types=["UpDecoderBlock2D"] * 4, norm_num_groups=32)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
            projection_dim=768, max_position_embeddings=77, hidden_act="quick_gelu",
            vocab_size=CLIP_VOCAB_SIZE, **ids))
    # SD's own scheduler config has steps_offset 1 (the tiny preset keeps the old default 0).
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=0 if size == "tiny" else 1)
    return StableDiffusionInpaintPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                          scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)


def build_inpaint(weights_root: Path | str, size: str = "tiny", seed: int = 0) -> Path:
    """Save ``inpaint_pipeline(size, seed)`` to ``weights_root/"inpaint"`` (safetensors);
    returns that folder."""
    folder = Path(weights_root) / "inpaint"
    inpaint_pipeline(size, seed).save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------- YOLO


def build_yolo(weights_root: Path | str, size: str = "tiny", class_bias=None, seed: int = 0) -> Path:
    """A yolo11n detector with random weights (both presets: yolo11n is already the
    production size) saved as ``weights_root/yolo/windows.pt``; returns the checkpoint
    path. class_bias: optional head biases (e.g. ``BUSY_YOLO_BIAS``) so it reports boxes."""
    _check_size(size)
    from lumograph.models.window_detector import yolo

    return yolo.save_random_weights(Path(weights_root), class_bias=class_bias, seed=seed)


# --------------------------------------------------------------------------- all


def build(backend: str, weights_root: Path | str, size: str = "tiny", *, yolo_class_bias=None) -> Path:
    """Build one backend (``BACKENDS``: clip | sam | yolo | inpaint) at ``size``; returns
    what its builder returns (a folder, or the YOLO checkpoint). yolo_class_bias: passed
    to ``build_yolo`` as ``class_bias`` (ignored for the other backends)."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "yolo":
        return build_yolo(weights_root, size, class_bias=yolo_class_bias)
    return {"clip": build_clip, "sam": build_sam, "inpaint": build_inpaint}[backend](weights_root, size)


def build_all(weights_root: Path | str, size: str = "tiny", *, yolo_class_bias=None) -> Path:
    """Every learned backend's random weights under one ``weights_root`` (clip, sam,
    inpaint, yolo, in that order); returns it. yolo_class_bias: see ``build_yolo``."""
    root = Path(weights_root)
    for backend in ("clip", "sam", "inpaint", "yolo"):
        build(backend, root, size, yolo_class_bias=yolo_class_bias)
    return root
