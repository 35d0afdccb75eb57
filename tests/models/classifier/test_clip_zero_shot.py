"""The CLIP zero-shot classifier backend, through its production loader, on a tiny
random-weight CLIP built here from the library's own classes (no hub, sockets blocked).

Random weights make the answers arbitrary, so the tests assert the contract (keys,
label sets, probabilities summing to 1, determinism, the client hint winning, the
classical signals kept), not which label wins."""
import json
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from lumograph.bench.synthetic import ring_photo
from lumograph.bench.synthetic_listing import exterior_photo, room_photo
from lumograph.models.classifier import BACKENDS, clip_zero_shot
from lumograph.models.classifier.core import ClassifierCore
from lumograph.models.classifier.jewelry import CATEGORIES, METALS
from lumograph.models.classifier.scene import ROOM_TYPES
from lumograph.models.common.errors import BackendUnavailable, InvalidImage, InvalidOptions, LumographError
from lumograph.models.common.imageio import resize_long_side
from tests.tiny_models import build_tiny_clip, network_blocked

SCENE_KEYS = {"scene", "scene_confidence", "room_type", "room_confidence", "room_scores", "room_source",
              "guess", "features", "signals", "backend", "classical", "agrees"}
SIGNAL_KEYS = {"hotspot_share", "mirror", "mirror_present", "verticals", "tilt_deg", "tilt_confidence",
               "cast_deg", "median_luminance", "cast"}
JEWELRY_FLAGS = ("skin_fraction", "on_model", "busy_background", "background_complexity", "multiple_pieces",
                 "n_pieces")


@pytest.fixture(scope="module", autouse=True)
def no_network():
    """Every socket connection and name lookup fails for the whole module: building,
    saving, loading and running the model must never reach for the hub."""
    with network_blocked():
        yield


@pytest.fixture(scope="module")
def weights(tmp_path_factory, no_network):
    root = tmp_path_factory.mktemp("clip") / "weights"
    build_tiny_clip(root)
    return root


@pytest.fixture(scope="module")
def core(weights):
    return ClassifierCore(backend="clip", weights_dir=str(weights))


@pytest.fixture(scope="module")
def photos():
    frozen = {}
    for name, rgb in (("room", room_photo(800, 600, seed=3).rgb), ("exterior", exterior_photo(800, 600, seed=3).rgb),
                      ("ring", ring_photo(1000, 800, cast=(1.0, 0.95, 0.85), seed=7).rgb)):
        proxy = resize_long_side(rgb, 640)
        proxy.setflags(write=False)
        frozen[name] = proxy
    return frozen


def _assert_distribution(probs, labels):
    assert set(probs) == set(labels)
    assert all(0.0 <= p <= 1.0 for p in probs.values())
    assert abs(sum(probs.values()) - 1.0) < 1e-3


def test_registered_and_layout(weights, tmp_path):
    assert BACKENDS["clip"].code() is clip_zero_shot
    assert clip_zero_shot.missing_weights(weights) is None
    assert clip_zero_shot.missing_weights(tmp_path) == str(tmp_path / "clip")
    copy = tmp_path / "partial"
    shutil.copytree(weights, copy)
    (copy / "clip" / "model.safetensors").unlink()
    assert clip_zero_shot.missing_weights(copy) == str(copy / "clip" / "model.safetensors")

    info = clip_zero_shot.describe_weights(weights)
    assert info["ready"] and info["missing"] is None and info["backend"] == "clip"
    assert all(f["present"] and f["bytes"] > 0 for f in info["files"] if f["role"] != "tokenizer_config")
    assert info["config"]["vision_hidden_size"] == 32 and info["config"]["patch_size"] == 8
    json.dumps(info)
    absent = clip_zero_shot.describe_weights(tmp_path / "nowhere")
    assert not absent["ready"] and absent["total_bytes"] == 0 and absent["config"] is None


def test_import_is_cheap():
    code = "import sys, lumograph.models.classifier.core; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_zero_shot_uses_prompts_embedded_at_load(core, photos, monkeypatch):
    import torch

    clip = core._clip
    # The loader picks the device from torch (cuda on a GPU machine, where this also runs).
    assert clip.device == ("cuda" if torch.cuda.is_available() else "cpu")
    assert set(clip.label_embeddings) == set(clip_zero_shot.LABEL_PROMPTS)
    # Per-request calls embed the image only: the prompts were embedded once, at load.
    def text_embedding_per_request(*args, **kwargs):
        raise AssertionError("label prompts were embedded again on a request")

    monkeypatch.setattr(clip.model, "get_text_features", text_embedding_per_request)
    for label_set, labels in (("scene", ("exterior", "interior")), ("room_type", ROOM_TYPES),
                              ("jewelry_category", CATEGORIES), ("metal", METALS)):
        probs = clip.zero_shot(photos["room"], label_set)
        _assert_distribution(probs, labels)
        assert probs == clip.zero_shot(photos["room"], label_set)
    with pytest.raises(InvalidOptions, match="'colour'"):
        clip.zero_shot(photos["room"], "colour")
    with pytest.raises(InvalidImage):
        clip.zero_shot(np.zeros((10, 10), np.uint8), "scene")
    assert clip.describe()["parameters"] > 0


@pytest.mark.parametrize("name", ["room", "exterior"])
def test_classify_scene_contract(core, photos, name):
    proxy = photos[name]
    before = proxy.copy()
    out = core.classify_scene(proxy)
    assert set(out) == SCENE_KEYS and SIGNAL_KEYS <= set(out["signals"])
    assert out["backend"] == "clip" and out["room_source"] == "classifier"
    clip_scores = out["features"]["clip"]
    _assert_distribution(clip_scores["scene_scores"], ("exterior", "interior"))
    _assert_distribution(clip_scores["room_scores"], ROOM_TYPES)
    assert out["scene"] == max(clip_scores["scene_scores"], key=clip_scores["scene_scores"].get)
    assert out["scene_confidence"] == clip_scores["scene_scores"][out["scene"]] >= 0.5
    if out["scene"] == "interior":
        assert out["room_type"] in ROOM_TYPES and out["room_scores"] == clip_scores["room_scores"]
        assert out["room_confidence"] == out["room_scores"][out["room_type"]]
    else:
        assert out["room_type"] is None and out["room_scores"] == {} and out["room_confidence"] == 0.0
    assert out["guess"] == {"scene": out["scene"], "room_type": out["room_type"]}
    # The classical answer sits beside CLIP's, and the signals are the classical ones.
    classical = ClassifierCore(backend="classical").classify_scene(proxy)
    assert out["classical"] == classical["guess"]
    assert out["agrees"] == (out["classical"] == out["guess"])
    if out["scene"] == classical["scene"]:
        assert out["signals"] == classical["signals"]
    assert core.classify_scene(proxy) == out
    assert np.array_equal(proxy, before)
    json.dumps(out)


def test_room_hint_wins(core, photos):
    guess = core.classify_scene(photos["room"])["guess"]
    for hint, scene, room in (("dining", "interior", "dining"), ("exterior", "exterior", None),
                              ("bathroom", "interior", "bathroom")):
        out = core.classify_scene(photos["room"], hint)
        assert (out["scene"], out["room_type"], out["room_source"]) == (scene, room, "client")
        assert out["guess"] == guess and out["backend"] == "clip"
        assert out["signals"]["mirror"]["present"] in (True, False)


def test_classify_jewelry_contract(core, photos):
    proxy = photos["ring"]
    before = proxy.copy()
    out = core.classify_jewelry(proxy)
    assert out["backend"] == "clip"
    assert out["category"] in CATEGORIES and out["metal"] in METALS
    _assert_distribution(out["scores"]["category"], CATEGORIES)
    _assert_distribution(out["scores"]["metal"], METALS)
    assert out["category_confidence"] == max(out["scores"]["category"].values())
    assert out["metal_confidence"] == max(out["scores"]["metal"].values())
    classical = ClassifierCore(backend="classical").classify_jewelry(proxy)
    assert out["classical"] == {"category": classical["category"], "metal": classical["metal"]}
    assert out["agrees"] == (out["classical"] == {"category": out["category"], "metal": out["metal"]})
    assert {k: out[k] for k in JEWELRY_FLAGS} == {k: classical[k] for k in JEWELRY_FLAGS}
    assert core.classify_jewelry(proxy) == out
    assert np.array_equal(proxy, before)
    json.dumps(out)


def test_bad_input_is_a_typed_error(core):
    for call in (lambda: core.classify_scene(np.zeros((10, 10), np.uint8)),
                 lambda: core.classify_jewelry(np.zeros((10, 10), np.uint8))):
        with pytest.raises(LumographError) as info:
            call()
        assert info.value.code and info.value.message


def test_two_loads_answer_alike(weights, core, photos):
    again = ClassifierCore(backend="clip", weights_dir=str(weights))
    assert again.classify_jewelry(photos["ring"]) == core.classify_jewelry(photos["ring"])


def test_auto_picks_clip_only_when_present(weights, tmp_path):
    chosen = ClassifierCore(backend="auto", weights_dir=str(weights)).selection
    assert chosen.name == "clip" and str(weights) in chosen.reason
    assert ClassifierCore(backend="auto", weights_dir=str(tmp_path)).selection.name == "classical"
    assert ClassifierCore(backend="auto").selection.name == "classical"


def test_explicit_without_weights_fails_naming_the_path(weights, tmp_path):
    with pytest.raises(BackendUnavailable) as info:
        ClassifierCore(backend="clip", weights_dir=str(tmp_path))
    assert str(tmp_path / "clip") in info.value.message and info.value.code == "weights_missing"
    with pytest.raises(BackendUnavailable, match="needs weights_dir"):
        ClassifierCore(backend="clip")
    partial = tmp_path / "partial"
    shutil.copytree(weights, partial)
    (partial / "clip" / "preprocessor_config.json").unlink(missing_ok=True)
    (partial / "clip" / "processor_config.json").unlink()
    with pytest.raises(BackendUnavailable) as info:
        ClassifierCore(backend="clip", weights_dir=str(partial))
    assert str(partial / "clip" / "preprocessor_config.json") in info.value.message


def test_corrupt_weights_fail_start_up(weights, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(weights, broken)
    (broken / "clip" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BackendUnavailable) as info:
        ClassifierCore(backend="clip", weights_dir=str(broken))
    assert info.value.code == "weights_invalid" and str(broken / "clip") in info.value.message


def test_sockets_are_blocked():
    with pytest.raises(OSError, match="network"):
        socket.create_connection(("huggingface.co", 443))
