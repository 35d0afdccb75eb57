"""One contract over every registered backend of every module: shapes, dtypes, ranges,
no input mutation, a typed error on bad input. Every backend a module
package declares in its ``BACKENDS`` is picked up here without new tests: each runs on the tiny
random-weight models of ``tests.tiny_models``, loaded through its production loader,
with the network blocked."""
import numpy as np
import pytest

from lumograph.bench.synthetic import ring_photo
from lumograph.models.classifier.core import ClassifierCore
from lumograph.models.common.backends import module_backends
from lumograph.models.common.errors import LumographError
from lumograph.models.common.imageio import resize_long_side, sniff_format
from lumograph.models.compositor.core import CompositorCore
from lumograph.models.grader.core import GraderCore
from lumograph.models.segmenter.core import SegmenterCore

CORES = {"classifier": ClassifierCore, "segmenter": SegmenterCore, "grader": GraderCore, "compositor": CompositorCore}
CASES = [(m, b) for m in CORES for b in module_backends(m)]


@pytest.fixture(scope="module")
def learned_weights(tmp_path_factory):
    """Tiny weights of every learned backend, built and used with sockets blocked."""
    import torch

    from tests.tiny_models import build_all, network_blocked

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: thread start-up costs more than it saves
    with network_blocked():
        yield str(build_all(tmp_path_factory.mktemp("contract") / "weights"))
    torch.set_num_threads(threads)


def make_core(cores, module, backend, weights_dir):
    """The module's core on ``backend``; learned backends load the tiny weights."""
    if backend == "classical":
        return cores[module](backend=backend)
    extra = {"diffusion_steps": 2} if module == "inpainter" else {}
    return cores[module](backend=backend, weights_dir=weights_dir, **extra)


@pytest.fixture(scope="module")
def photo():
    rgb = ring_photo(1280, 1024, cast=(1.0, 0.95, 0.85), seed=7).rgb
    rgb.setflags(write=False)
    proxy = resize_long_side(rgb, 1024)
    proxy.setflags(write=False)
    return rgb, proxy


@pytest.mark.parametrize("module, backend", CASES)
def test_backend_contract(module, backend, photo, request):
    rgb, proxy = photo
    before = rgb.copy(), proxy.copy()
    weights = request.getfixturevalue("learned_weights") if backend != "classical" else None
    core = make_core(CORES, module, backend, weights)
    assert core.selection.name == backend
    if module == "classifier":
        out = core.classify_jewelry(proxy)
        assert out["category"] in {"ring", "necklace", "earring", "bracelet", "other"}
        assert out["metal"] in {"yellow_gold", "white_metal", "rose_gold", "none"}
        assert 0.0 <= out["skin_fraction"] <= 1.0 and out["backend"] == backend
        bad = lambda: core.classify_jewelry(np.zeros((10, 10), np.uint8))  # noqa: E731
    elif module == "segmenter":
        out = core.segment_jewelry(rgb, proxy.shape[:2])
        m = out["matte"]
        assert m.alpha.dtype == np.float32 and m.alpha.shape == m.foreground.shape[:2]
        assert m.foreground.dtype == np.uint8 and m.foreground.shape[2] == 3
        assert 0.0 <= m.alpha.min() and m.alpha.max() <= 1.0
        assert out["proxy_alpha"].shape == proxy.shape[:2] and out["proxy_alpha"].dtype == np.float32
        x0, y0, x1, y1 = m.bbox
        assert 0 <= x0 < x1 <= rgb.shape[1] and 0 <= y0 < y1 <= rgb.shape[0]
        bad = lambda: core.segment_jewelry(np.zeros((8, 8, 3), np.uint8), (8, 8))  # noqa: E731
    elif module == "grader":
        fg = read_only(rgb[200:600, 300:800])
        alpha = read_only(np.ones(fg.shape[:2], np.float32))
        out = core.grade_jewelry(fg, alpha, proxy, read_only(np.zeros(proxy.shape[:2], np.float32)), "white_metal")
        assert out["rgb"].shape == fg.shape and out["rgb"].dtype == np.uint8
        assert np.isclose(np.linalg.norm(out["illuminant"]["rgb"]), 1.0, atol=1e-3)
        bad = lambda: core.grade_jewelry(fg, alpha, proxy, np.zeros(proxy.shape[:2], np.float32), "platinum")  # noqa: E731
    else:
        fg = read_only(rgb[200:600, 300:800])
        alpha = np.zeros(fg.shape[:2], np.float32)
        alpha[100:300, 100:400] = 1.0
        alpha = read_only(alpha)
        opts = {"marketplace": "etsy", "size": 800, "format": "png", "shadow": "soft", "quality": 90}
        out = core.compose_lightbox(fg, alpha, proxy, read_only(np.zeros(proxy.shape[:2], np.float32)), opts)
        assert sniff_format(out["encoded"]) == "png" and out["media_type"] == "image/png"
        bad = lambda: core.compose_lightbox(fg, alpha, proxy, np.zeros(proxy.shape[:2], np.float32), opts | {"marketplace": "x"})  # noqa: E731
    assert np.array_equal(rgb, before[0]) and np.array_equal(proxy, before[1])
    with pytest.raises(LumographError) as info:
        bad()
    assert info.value.code and info.value.message


# --------------------------------------------------------------- listing methods

from lumograph.bench.synthetic_listing import exterior_photo, room_photo  # noqa: E402
from lumograph.models.inpainter.core import InpainterCore  # noqa: E402
from lumograph.models.qa.core import QACore  # noqa: E402
from lumograph.models.window_detector.core import WindowDetectorCore  # noqa: E402
from tests.arrays import read_only

LISTING_CORES = {**CORES, "window_detector": WindowDetectorCore, "inpainter": InpainterCore, "qa": QACore}
LISTING_CASES = [(m, b) for m in LISTING_CORES for b in module_backends(m)]


@pytest.fixture(scope="module")
def listing_photos():
    room, ext = room_photo(1200, 900, seed=2).rgb, exterior_photo(1200, 900, seed=2).rgb
    frozen = []
    for rgb in (room, ext):
        proxy = resize_long_side(rgb, 1024)
        rgb.setflags(write=False)
        proxy.setflags(write=False)
        frozen.append((rgb, proxy))
    return frozen


def _is_image_like(out, like):
    return out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and out.shape[0] > 0.6 * like.shape[0]


@pytest.mark.parametrize("module, backend", LISTING_CASES)
def test_listing_backend_contract(module, backend, listing_photos, request):
    (room, room_proxy), (ext, ext_proxy) = listing_photos
    before = [a.copy() for a in (room, room_proxy, ext, ext_proxy)]
    weights = request.getfixturevalue("learned_weights") if backend != "classical" else None
    core = make_core(LISTING_CORES, module, backend, weights)
    assert core.selection.name == backend
    if module == "classifier":
        out = core.classify_scene(room_proxy, None)
        assert out["scene"] in {"interior", "exterior"} and out["backend"] == backend
        assert {"hotspot_share", "mirror_present", "tilt_deg", "cast_deg", "median_luminance"} <= set(out["signals"])
        hinted = core.classify_scene(room_proxy, "dining")
        assert hinted["room_type"] == "dining" and hinted["room_source"] == "client"
        bad = lambda: core.classify_scene(np.zeros((10, 10), np.uint8))  # noqa: E731
    elif module == "segmenter":
        out = core.sky_matte(ext_proxy)
        assert out["matte"].shape == ext_proxy.shape[:2] and out["matte"].dtype == np.float32
        assert 0.0 <= out["matte"].min() and out["matte"].max() <= 1.0
        assert out["condition"] in {"clear", "overcast", "grey", "none"}
        bad = lambda: core.sky_matte(np.zeros((10, 10), np.float32))  # noqa: E731
    elif module == "window_detector":
        out = core.detect_windows(room_proxy, room.shape[:2])
        assert out["windows"] and out["max_stops"] > 0 and out["backend"] == backend
        for w in out["windows"]:
            x0, y0, x1, y1 = w["bbox"]
            assert 0 <= x0 < x1 <= room.shape[1] and 0 <= y0 < y1 <= room.shape[0]
        bad = lambda: core.detect_windows(np.zeros((10, 10), np.uint8), (10, 10))  # noqa: E731
    elif module == "inpainter":
        out = core.remove_glare(room)
        assert _is_image_like(out["rgb"], room) and out["rgb"].shape == room.shape
        assert isinstance(out["applied"], bool) and out["backend"] == backend
        out = core.mirror_cleanup(room, None)
        assert out["applied"] is False and out["rgb"].shape == room.shape
        bad = lambda: core.remove_glare(np.zeros((10, 10), np.uint8))  # noqa: E731
    elif module == "grader":
        for room_type in ("kitchen", "exterior"):
            out = core.grade_room(room, room_type)
            assert out["rgb"].shape == room.shape and out["rgb"].dtype == np.uint8
        out = core.merge_brackets([read_only(room // 2), room])
        assert out["rgb"].shape == room.shape and out["report"]["frames"] == 2
        bad = lambda: core.grade_room(room, "garage")  # noqa: E731
    elif module == "compositor":
        matte = read_only(np.zeros(ext_proxy.shape[:2], np.float32))
        out = core.replace_sky(ext, matte, "clear_blue", 0)
        assert out["rgb"].shape == ext.shape and out["rgb"].dtype == np.uint8
        out = core.day_to_dusk(ext, None, [])
        assert out["rgb"].shape == ext.shape
        out = core.correct_verticals(room, None)
        assert out["applied"] is False and out["rgb"].shape == room.shape
        enc = core.encode_photo(room, "webp", 85, 600)
        assert sniff_format(enc["encoded"]) == "webp" and max(enc["width"], enc["height"]) == 600
        bad = lambda: core.replace_sky(ext, matte, "purple_rain", 0)  # noqa: E731
    else:
        out = core.check_listing(room_proxy, room_proxy, [], None)
        assert out["verdict"] == "pass" and 0.0 <= out["score"] <= 1.0 and out["checks"]
        bad = lambda: core.check_listing(room_proxy, np.zeros((4, 4), np.float32), [], None)  # noqa: E731
    for a, b in zip((room, room_proxy, ext, ext_proxy), before):
        assert np.array_equal(a, b)
    with pytest.raises(LumographError) as info:
        bad()
    assert info.value.code and info.value.message
