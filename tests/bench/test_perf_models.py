"""``lumograph bench models`` at size tiny: fresh child processes build random weights
(sockets blocked), load them through the production loaders, time the public methods
and write the JSON + chart. Timings are not asserted, only the report's shape."""
from __future__ import annotations

import json
import time

import pytest

from lumograph.bench import perf_models, random_models
from lumograph.serve.cli import build_parser

ENTRY_KEYS = {"module", "params", "input", "load_s", "first_call_s", "median_s", "runs", "warmup",
              "parts_median_s", "peak_rss_gb", "device", "gpu_mem_gb", "torch_threads", "build"}


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    args = build_parser().parse_args(["bench", "models", "--size", "tiny", "--only", "clip,yolo",
                                      "--repeats", "2", "--json", str(root / "models.json")])
    # The weights cache goes to tmp, not to the repository's out/.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(perf_models, "DEFAULT_WEIGHTS_CACHE", root / "cache")
        assert args.func(args) == 0
    return root, json.loads((root / "models.json").read_text())


def test_cli_writes_json_and_chart_for_the_chosen_backends(tiny_bench):
    root, result = tiny_bench
    assert result["size"] == "tiny" and result["complete"] is True
    assert set(result["backends"]) == {"clip", "yolo"}
    assert {"cores", "platform", "device"} <= set(result["machine"])
    assert result["machine"]["cores"] >= 1 and isinstance(result["machine"]["device"], str)
    assert result["reference"]["extraction_s"] == 0.8 and result["reference"]["lighting_shadow_s"] == 2.0
    assert (root / "models.png").stat().st_size > 1000


def test_each_backend_entry_holds_its_figures(tiny_bench):
    _, result = tiny_bench
    for name, entry in result["backends"].items():
        assert "error" not in entry, entry.get("error")
        assert ENTRY_KEYS <= set(entry), name
        assert entry["module"] == perf_models.MODULE_OF[name]
        assert entry["params"] > 0 and entry["runs"] == 2 and entry["warmup"] is True
        assert 0 < entry["median_s"] and entry["load_s"] > 0 and entry["peak_rss_gb"] > 0.1
        assert entry["torch_threads"] == result["machine"]["cores"]
        assert entry["device"] == "cpu" or entry["gpu_mem_gb"] > 0
    assert result["backends"]["yolo"]["params"] > 2_000_000  # yolo11n at every size
    assert "clip_model_s" in result["backends"]["clip"]["parts_median_s"]


def test_weights_are_built_once_into_the_cache(tiny_bench):
    tmp, result = tiny_bench
    root = tmp / "cache" / "tiny"
    assert result["weights_root"] == str(root)
    assert all(e["build"]["cached"] is False and e["build"]["bytes"] > 0 for e in result["backends"].values())
    assert perf_models.weights_cached(root, "clip") and perf_models.weights_cached(root, "yolo")
    assert (root / "clip" / "config.json").is_file() and (root / "yolo" / "windows.pt").is_file()


def test_unknown_size_or_backend_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'huge'"):
        perf_models.run_bench_models(json_out=tmp_path / "x.json", size="huge")
    with pytest.raises(ValueError, match="'dino'"):
        perf_models.run_bench_models(json_out=tmp_path / "x.json", size="tiny", only=["dino"])
    with pytest.raises(ValueError, match="'huge'"):
        random_models.build_clip(tmp_path, "huge")


class _FakeTorch:
    class cuda:  # mimics torch.cuda
        @staticmethod
        def is_available():
            return False


def test_timing_policy_warmup_budget_and_single_cold_call():
    timer = perf_models._Timer(_FakeTorch)
    calls = []
    timing = perf_models._time_calls(timer, lambda i: calls.append(i) or {"part_s": 0.5}, 3, 60.0, single=False)
    assert calls == [0, 1, 2, 3] and timing["warmup"] is True and len(timing["times_s"]) == 3
    assert timing["parts"]["part_s"] == [0.5, 0.5, 0.5]
    calls.clear()
    timing = perf_models._time_calls(timer, calls.append, 3, 60.0, single=True)
    assert calls == [0] and timing["warmup"] is False and len(timing["times_s"]) == 1
    calls.clear()
    timing = perf_models._time_calls(timer, lambda i: calls.append(i) or time.sleep(0.06), 5, 0.1, single=False)
    assert calls == [0] and timing["warmup"] is False  # the first call alone was over half the budget


def test_real_preset_has_the_production_shapes():
    """Built on torch's meta device: shapes and parameter counts, no memory, no compute."""
    import torch
    from transformers import CLIPModel

    def count(module):
        return sum(p.numel() for p in module.parameters())

    with torch.device("meta"):
        config, side = random_models.clip_config("real")
        clip = CLIPModel(config)
        sam = random_models.real_sam()
        pipe = random_models.inpaint_pipeline("real")
    vision = config.vision_config
    assert (vision.hidden_size, vision.patch_size, vision.image_size, side) == (768, 32, 224, 224)
    assert config.text_config.hidden_size == 512 and config.text_config.vocab_size == 49408
    assert round(count(clip) / 1e6, 1) == 151.3  # ViT-B/32
    assert round(count(sam) / 1e6, 1) == 93.7 and sam.image_encoder.img_size == 1024  # vit_b
    assert round(count(pipe.unet) / 1e6, 1) == 859.5  # SD-1.5 inpainting UNet
    assert pipe.unet.config.in_channels == 9 and pipe.unet.config.cross_attention_dim == 768
    assert round(count(pipe.vae) / 1e6, 1) == 83.7 and pipe.vae_scale_factor == 8
    assert round(count(pipe.text_encoder) / 1e6, 1) == 123.1  # ViT-L/14 text tower
