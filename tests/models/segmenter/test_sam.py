"""The SAM learned backend, loaded through the production loader from a TINY random-weight
Segment Anything built here with segment_anything's own modeling classes. Random weights
make the masks meaningless, so the tests assert contracts (shapes, dtypes, ranges,
determinism, one embedding per image, trimap constraints) and never mask quality.
Sockets are blocked for the whole module: nothing may reach for the network."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lumograph.bench.synthetic import ring_photo
from lumograph.bench.synthetic_listing import exterior_photo
from lumograph.models.common.backends import select_backend
from lumograph.models.common.errors import BackendUnavailable, InvalidImage, InvalidOptions
from lumograph.models.segmenter import BACKENDS, sam
from lumograph.models.segmenter.sam import SamSegmenter, describe_weights, missing_weights
from tests.tiny_models import TINY_SAM as TINY
from tests.tiny_models import build_tiny_sam, network_blocked
from tests.tiny_models import tiny_sam as _tiny_sam


@pytest.fixture(autouse=True, scope="module")
def no_network():
    with network_blocked():
        yield


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("w") / "weights"
    build_tiny_sam(root)
    return root


@pytest.fixture(scope="module")
def segmenter(weights_dir):
    return SamSegmenter.load(str(weights_dir), device="cpu")


@pytest.fixture(scope="module")
def ring():
    photo = ring_photo(640, 480, seed=3)
    photo.rgb.setflags(write=False)
    rows, cols = np.nonzero(photo.mask > 0.5)
    box = [int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1]
    return photo, box


def test_registered_and_selected_from_weights(weights_dir):
    assert BACKENDS["sam"].code() is sam
    assert missing_weights(weights_dir) is None
    assert select_backend("segmenter", "sam", str(weights_dir)).name == "sam"
    assert select_backend("segmenter", "auto", str(weights_dir)).name == "sam"
    described = describe_weights(weights_dir)
    assert described["ok"] and described["model_type"] == "custom"
    assert described["checkpoint"].endswith("sam/sam.pth")
    assert {p["path"].rsplit("/", 1)[-1] for p in described["present"]} == {"sam.pth", "config.json"}
    assert all(p["bytes"] > 0 for p in described["present"])
    json.dumps(described)


def test_loads_through_production_loader(segmenter, weights_dir):
    import torch

    assert segmenter.device == "cpu" and segmenter.model.image_encoder.img_size == 128
    reference = _tiny_sam().state_dict()
    for name, tensor in segmenter.model.state_dict().items():
        assert torch.equal(tensor, reference[name]), name
    assert segmenter.source["parameters"] == sum(t.numel() for t in _tiny_sam().parameters())
    json.dumps(segmenter.source)


def test_missing_weights_name_the_expected_path(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    expected = str(empty / "sam" / "vit_b.pth")
    assert missing_weights(empty) == expected
    with pytest.raises(BackendUnavailable) as info:
        select_backend("segmenter", "sam", str(empty))
    assert expected in info.value.message and info.value.code == "weights_missing"
    assert select_backend("segmenter", "auto", str(empty)).name == "classical"
    with pytest.raises(BackendUnavailable, match="vit_b.pth"):
        SamSegmenter.load(str(empty))
    assert not describe_weights(empty)["ok"]
    # With a config.json the expected checkpoint is sam.pth.
    (empty / "sam").mkdir()
    (empty / "sam" / "config.json").write_text(json.dumps({"model_type": "vit_l"}))
    assert missing_weights(empty) == str(empty / "sam" / "sam.pth")


def test_official_model_type_by_file_name(tmp_path):
    (tmp_path / "sam").mkdir()
    (tmp_path / "sam" / "vit_l.pth").write_bytes(b"x")
    checkpoint, config = sam.resolve_sam_weights(tmp_path)
    assert checkpoint.name == "vit_l.pth" and config == {"model_type": "vit_l"}
    assert missing_weights(tmp_path) is None


def test_bad_config_and_mismatched_checkpoint(tmp_path, weights_dir):
    (tmp_path / "sam").mkdir()
    (tmp_path / "sam" / "config.json").write_text(json.dumps({"model_type": "vit_x"}))
    (tmp_path / "sam" / "sam.pth").write_bytes((weights_dir / "sam" / "sam.pth").read_bytes())
    assert "vit_x" in missing_weights(tmp_path)
    with pytest.raises(InvalidOptions, match="vit_x"):
        SamSegmenter.load(str(tmp_path), device="cpu")
    wrong = {**TINY, "encoder_embed_dim": 48}
    (tmp_path / "sam" / "config.json").write_text(json.dumps(wrong))
    with pytest.raises(InvalidOptions, match="does not match"):
        SamSegmenter.load(str(tmp_path), device="cpu")


def test_segment_box_contract_and_determinism(segmenter, ring, weights_dir):
    photo, box = ring
    before = photo.rgb.copy()
    prob, score = segmenter.segment_box(photo.rgb, box)
    assert prob.shape == (480, 640) and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0 and np.isfinite(score)
    again, score2 = segmenter.segment_box(photo.rgb, box)
    assert np.array_equal(prob, again) and score == score2
    with_points, _ = segmenter.segment_box(photo.rgb, box, points=[[320, 240], [5, 5]], labels=[1, 0])
    assert with_points.shape == prob.shape and not np.array_equal(with_points, prob)
    assert np.array_equal(photo.rgb, before)
    # A fresh loader on the same weights gives the same mask.
    other = SamSegmenter.load(str(weights_dir), device="cpu")
    assert np.array_equal(other.segment_box(photo.rgb, box)[0], prob)


def test_embedding_computed_once_per_image(segmenter, ring):
    photo, box = ring
    calls = []
    hook = segmenter.model.image_encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        segmenter.predictor.reset_image()
        segmenter._image_key = None
        segmenter.segment_box(photo.rgb, box)
        segmenter.segment_box(photo.rgb, [box[0], box[1], box[0] + 50, box[1] + 50])
        segmenter.window_masks(photo.rgb, [box])
        assert len(calls) == 1
        copy = photo.rgb.copy()  # the same image in a new array (as every Ray call brings)
        copy.setflags(write=False)
        segmenter.segment_box(copy, box)
        assert len(calls) == 1
        other = photo.rgb.copy()
        other[200:210, 300:310] = 0  # a small local edit makes a different image
        segmenter.segment_box(other, box)
        segmenter.segment_box(photo.rgb, box)
        assert len(calls) == 3 and segmenter.embeddings_computed >= 3
    finally:
        hook.remove()


def test_refine_with_matting_keeps_trimap(segmenter, ring):
    import cv2

    photo, box = ring
    prob, _ = segmenter.segment_box(photo.rgb, box)
    # Random weights give an arbitrary mask; refine the true mask as SAM would deliver it
    # (at its 256-wide logit grid, upsampled bilinearly) as well, so the band lies where
    # a trained model's would.
    low = cv2.resize(photo.mask, (256, 192), interpolation=cv2.INTER_AREA)
    samlike = cv2.resize(low, (640, 480), interpolation=cv2.INTER_LINEAR)
    samlike.setflags(write=False)
    band = 4
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1,) * 2)
    for mask in (samlike, prob):
        alpha, report = segmenter.refine_with_matting(photo.rgb, mask, band, return_report=True)
        assert alpha.shape == (480, 640) and alpha.dtype == np.float32
        assert 0.0 <= alpha.min() and alpha.max() <= 1.0
        subject = (mask >= 0.5).astype(np.uint8)
        sure_fg = cv2.erode(subject, disc).astype(bool)
        # Parts thinner than the band (the chain) anchor the solve too.
        sure_fg |= subject.astype(bool) & ~cv2.morphologyEx(subject, cv2.MORPH_OPEN, disc).astype(bool)
        sure_bg = ~cv2.dilate((mask >= sam.UNKNOWN_FLOOR).astype(np.uint8), disc).astype(bool)
        assert np.all(alpha[sure_fg] == 1.0) and np.all(alpha[sure_bg] == 0.0)
        trimap = sam.build_trimap(mask, band)
        assert np.array_equal(trimap == 1.0, sure_fg) and np.array_equal(trimap == 0.0, sure_bg)
        assert report["method"] == "pymatting.estimate_alpha_cf" and report["tiles"] >= 1
        json.dumps(report)
    # On the ring (which contrasts with the paper) matting keeps the outline at least as
    # well as SAM's upsampled mask did.
    truth = photo.mask > 0.5
    refined, report = segmenter.refine_with_matting(photo.rgb, samlike, return_report=True)
    assert report["band_px"] == 3  # default: one cell of SAM's 256-wide logit grid
    refined = refined >= 0.5
    iou = lambda a, b: (a & b).sum() / (a | b).sum()
    assert iou(refined, truth) >= iou(samlike >= 0.5, truth) - 0.005 and iou(refined, truth) > 0.98
    empty = segmenter.refine_with_matting(photo.rgb, np.zeros((480, 640), np.float32), band)
    assert empty.shape == (480, 640) and not empty.any()
    with pytest.raises(InvalidOptions):
        segmenter.refine_with_matting(photo.rgb, prob[:10], band)
    with pytest.raises(InvalidOptions):
        segmenter.refine_with_matting(photo.rgb, prob, 0)


def test_automatic_sky_mask_and_window_masks(segmenter):
    listing = exterior_photo(320, 240, seed=1)
    proxy = listing.rgb
    proxy.setflags(write=False)
    matte, report = segmenter.automatic_sky_mask(proxy, return_report=True)
    assert matte.shape == (240, 320) and matte.dtype == np.float32
    assert 0.0 <= matte.min() and matte.max() <= 1.0
    assert np.array_equal(segmenter.automatic_sky_mask(proxy), matte)
    assert report["candidates"] == 15 and 0.0 <= report["fraction"] <= 1.0
    json.dumps(report)
    boxes = [[40, 100, 80, 160], [200, 120, 230, 150]]
    masks = segmenter.window_masks(proxy, boxes)
    assert len(masks) == 2
    for m in masks:
        assert m.shape == (240, 320) and m.dtype == np.float32 and 0.0 <= m.min() and m.max() <= 1.0
    assert segmenter.window_masks(proxy, []) == []


def test_bad_inputs_raise_typed_errors(segmenter, ring):
    photo, box = ring
    with pytest.raises(InvalidImage):
        segmenter.segment_box(np.zeros((8, 8, 3), np.uint8), [0, 0, 4, 4])
    with pytest.raises(InvalidImage):
        segmenter.automatic_sky_mask(np.zeros((100, 100), np.uint8))
    with pytest.raises(InvalidOptions, match="empty"):
        segmenter.segment_box(photo.rgb, [700, 10, 800, 20])
    with pytest.raises(InvalidOptions):
        segmenter.segment_box(photo.rgb, [1, 2, 3])
    with pytest.raises(InvalidOptions):
        segmenter.segment_box(photo.rgb, box, points=[[1, 1]], labels=[2])


class _FixedDecoder:
    """Stands in for the mask decoder: returns given candidate logits for every prompt,
    so the sky-selection rules are tested on known candidates."""

    def __init__(self, low_res, iou):
        self.low_res, self.iou = low_res, iou

    def __call__(self, *, sparse_prompt_embeddings, multimask_output, **_):
        batch = sparse_prompt_embeddings.shape[0]
        return self.low_res.expand(batch, -1, -1, -1), self.iou.expand(batch, -1)


def _candidates_in_input_frame(segmenter, masks):
    """HxW {0,1} masks on the image grid -> logits on the encoder's padded input frame."""
    import cv2
    import torch

    size = segmenter.model.image_encoder.img_size
    in_h, in_w = segmenter.predictor.input_size
    out = torch.full((1, len(masks), size, size), -8.0)
    for i, m in enumerate(masks):
        small = cv2.resize(m.astype(np.float32), (in_w, in_h), interpolation=cv2.INTER_AREA)
        out[0, i, :in_h, :in_w] = torch.from_numpy(np.where(small >= 0.5, 8.0, -8.0))
    return out


def test_sky_selection_rules_on_known_candidates(segmenter, monkeypatch):
    import torch

    listing = exterior_photo(320, 240, seed=1)
    sky = listing.sky > 0.5
    segmenter.set_image(listing.rgb)  # so input_size is this image's
    low_res = _candidates_in_input_frame(segmenter, [~sky, sky, np.ones_like(sky)])
    # The ground and the whole frame get the better predicted IoU: the rules, not the
    # score, must reject them.
    decoder = _FixedDecoder(low_res, torch.tensor([[0.9, 0.5, 0.95]]))
    monkeypatch.setattr(segmenter, "model", _ModelWithDecoder(segmenter.model, decoder))
    matte, report = segmenter.automatic_sky_mask(listing.rgb, return_report=True)
    chosen = matte >= 0.5
    assert (chosen & sky).sum() / (chosen | sky).sum() > 0.9
    assert report["chosen"] and all(c["mask"] == 1 for c in report["chosen"])
    # No sky-like candidate: an all-zero matte, not the least bad one.
    decoder.low_res = _candidates_in_input_frame(segmenter, [~sky, np.ones_like(sky), ~sky])
    matte, report = segmenter.automatic_sky_mask(listing.rgb, return_report=True)
    assert not matte.any() and report["chosen"] == [] and report["fraction"] == 0.0


class _ModelWithDecoder:
    """The loaded Sam with its mask decoder swapped (attribute lookups pass through)."""

    def __init__(self, model, decoder):
        self._model, self.mask_decoder = model, decoder

    def __getattr__(self, name):
        return getattr(self._model, name)


def test_segmenter_core_runs_sam_on_both_verticals(weights_dir, ring):
    from lumograph.bench.synthetic_listing import exterior_photo
    from lumograph.models.common.imageio import resize_long_side
    from lumograph.models.segmenter.core import SegmenterCore

    core = SegmenterCore(backend="auto", weights_dir=str(weights_dir))
    assert core.selection.name == "sam" and core.sam is not None
    photo, _ = ring
    out = core.segment_jewelry(photo.rgb, (480, 640))
    matte = out["matte"]
    assert matte.backend == "sam" and out["backend"] == "sam"
    assert matte.alpha.shape == matte.foreground.shape[:2] and matte.alpha.dtype == np.float32
    assert 0.0 <= matte.alpha.min() and matte.alpha.max() <= 1.0
    assert "predicted_iou" in matte.stats["sam"]
    ext = resize_long_side(exterior_photo(640, 480, seed=1).rgb, 1024)
    sky = core.sky_matte(ext, "exterior")
    assert sky["matte"].shape == ext.shape[:2] and sky["backend"] == "sam"
    assert sky["condition"] in {"clear", "overcast", "grey", "none"}


def test_segmenter_core_gives_glass_masks_spanning_each_window_box(weights_dir):
    from lumograph.bench.synthetic_listing import room_photo
    from lumograph.models.common.imageio import resize_long_side
    from lumograph.models.segmenter.core import SegmenterCore

    room = room_photo(800, 600, seed=2)
    proxy = resize_long_side(room.rgb, 1024)
    proxy.setflags(write=False)
    windows = [{"bbox": list(b)} for b in room.windows]
    core = SegmenterCore(backend="sam", weights_dir=str(weights_dir))
    out = core.window_glass_masks(proxy, windows, room.rgb.shape[:2])
    assert out["backend"] == "sam" and len(out["masks"]) == len(windows) == len(out["report"])
    scale = proxy.shape[1] / room.rgb.shape[1]
    for window, mask in zip(windows, out["masks"]):
        x0, y0, x1, y1 = window["bbox"]
        assert mask.dtype == np.float32 and 0.0 <= mask.min() and mask.max() <= 1.0
        # The mask spans the box on the proxy grid (rounded outward by at most a pixel).
        assert abs(mask.shape[1] - (x1 - x0) * scale) <= 2 and abs(mask.shape[0] - (y1 - y0) * scale) <= 2
    json.dumps(out["report"])
    again = core.window_glass_masks(proxy, windows, room.rgb.shape[:2])
    assert all(np.array_equal(a, b) for a, b in zip(out["masks"], again["masks"]))
    assert core.window_glass_masks(proxy, [], room.rgb.shape[:2])["masks"] == []
    classical = SegmenterCore(backend="classical").window_glass_masks(proxy, windows, room.rgb.shape[:2])
    assert classical == {"masks": [None, None], "report": [], "backend": "classical"}
    with pytest.raises(InvalidOptions, match="source_hw"):
        core.window_glass_masks(proxy, windows, (0, 10))
