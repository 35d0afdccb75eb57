"""Tiny random-weight models of every learned backend, built offline from the libraries'
own classes and saved in the production weights layout (``weights/clip``,
``weights/sam``, ``weights/yolo``, ``weights/inpaint``), plus a socket block.

Random weights give true compute shapes and exercise the real loaders; they say nothing
about quality. Shared by the backend tests, the backend contract test and the Serve test
of the learned backends.
"""
from __future__ import annotations

import contextlib
import json
import socket
import string
from functools import partial
from pathlib import Path

from lumograph.models.offline import ensure_offline

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


def _refuse(*args, **kwargs):
    raise OSError(f"network access attempted during an offline test: {args[1:]!r}")


@contextlib.contextmanager
def network_blocked():
    """Every socket connection and name lookup fails while the block is open."""
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        for name in ("connect", "connect_ex"):
            mp.setattr(socket.socket, name, _refuse)
        mp.setattr(socket, "create_connection", _refuse)
        mp.setattr(socket, "getaddrinfo", _refuse)
        yield mp


def build_tiny_clip(weights_root: Path, seed: int = 0) -> Path:
    """A tiny CLIP (hidden 32, 2 layers, 32 px images, 8 px patches) with a local
    byte-level tokenizer (letters and digits, no merges) and a 32 px image processor,
    saved to ``weights_root/"clip"``; returns that folder."""
    ensure_offline()
    import torch
    from transformers import (
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )

    folder = Path(weights_root) / "clip"
    folder.mkdir(parents=True, exist_ok=True)
    symbols = string.ascii_lowercase + string.digits
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for c in symbols:
            vocab[c + suffix] = len(vocab)
    # The slow-tokenizer files too, so the folder also holds the vocab.json + merges.txt layout.
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    small = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
    config = CLIPConfig(
        text_config=dict(small, vocab_size=len(vocab), max_position_embeddings=77,
                         bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(small, image_size=32, patch_size=8),
        projection_dim=16,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def tiny_sam():
    """A tiny Sam assembled directly from segment_anything.modeling (not through the
    loader), so a mismatch between ``TINY_SAM`` and the loader's builder fails the strict
    state-dict load."""
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


def build_tiny_sam(weights_root: Path) -> Path:
    """Save the tiny SAM as ``weights_root/sam/sam.pth`` + ``config.json``."""
    import torch

    folder = Path(weights_root) / "sam"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(tiny_sam().state_dict(), folder / "sam.pth")
    (folder / "config.json").write_text(json.dumps(TINY_SAM))
    return folder


def tiny_inpaint_pipeline():
    """A tiny Stable Diffusion inpainting pipeline: UNet with 9 input channels, a
    two-block VAE, a two-layer CLIP text encoder, a byte-level CLIP tokenizer built from
    an in-memory vocabulary, a DDIM scheduler."""
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
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=9, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=(2, 4), norm_num_groups=8)
    vae = AutoencoderKL(
        block_out_channels=[16, 32], in_channels=3, out_channels=3, latent_channels=4, sample_size=64,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2, norm_num_groups=8)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, projection_dim=32,
        vocab_size=len(vocab), bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"]))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False)
    return StableDiffusionInpaintPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                          scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)


def build_tiny_inpaint(weights_root: Path) -> Path:
    """Save the tiny inpainting pipeline to ``weights_root/inpaint``."""
    folder = Path(weights_root) / "inpaint"
    tiny_inpaint_pipeline().save_pretrained(folder)
    return folder


def build_tiny_yolo(weights_root: Path, class_bias=BUSY_YOLO_BIAS) -> Path:
    """A YOLO11n detector with random weights (``class_bias`` raises its head biases so
    it reports boxes) saved as ``weights_root/yolo/windows.pt``."""
    from lumograph.models import yolo_windows

    return yolo_windows.save_random_weights(Path(weights_root), class_bias=class_bias)


def build_all(weights_root: Path) -> Path:
    """Every learned backend's tiny weights under one ``weights_root``; returns it."""
    root = Path(weights_root)
    build_tiny_clip(root)
    build_tiny_sam(root)
    build_tiny_inpaint(root)
    build_tiny_yolo(root)
    return root
