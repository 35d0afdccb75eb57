"""``lumograph bench models``: per-module latency and memory of each learned backend.

Random weights at a stated size (``lumograph.bench.random_models``: ``"tiny"`` or
``"real"``) cost exactly the compute and memory of trained ones, so the figures are the
true cost of the production code path; they say nothing about quality. For each
backend, in order:

1. a child process builds the random weights, unless they are cached under
   ``out/bench_models_weights/<size>/`` (git-ignored; a ``.built-<backend>.json`` marker
   says a build finished);
2. a FRESH child process (so memory is per backend) loads them through the production
   loader (timed: ``load_s``), calls the public method once (``first_call_s``, the
   warm-up), then times up to ``repeats`` further calls within a time budget, and
   reports the median, the parameter count, its own peak RSS (``ru_maxrss``) and, on a
   GPU, the device name and ``torch.cuda.max_memory_allocated``. Sockets are blocked in
   both children: nothing can download.

Inputs (stated in each entry's ``input``): classifier ``ClassifierCore(backend="clip")``
``.classify_scene`` on a 1024x768 room proxy; window detector
``WindowDetectorCore(backend="yolo").detect_windows`` on the same proxy; SAM
``SamSegmenter.load`` then ``set_image`` (the image encoder) + ``segment_box`` on a new
1024x768 image per call; inpainter ``InpainterCore(backend="diffusers")``'s loaded
pipeline ``.fill(rgb, hole, "glare")`` at the model's native size (512 px real, 64 px
tiny) with a 0.4-native square hole, so the crop is one native-size UNet pass per step
(with classifier-free guidance: batch 2), ``steps`` steps (default 30 on a GPU, 4 on the
CPU). Torch threads = the machine's cores. Devices: cuda when available, else cpu.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lumograph.bench.random_models import BACKENDS, SIZES

#: Where built weights are cached, per size (under the repository's git-ignored ``out/``).
DEFAULT_WEIGHTS_CACHE = Path("out") / "bench_models_weights"
#: The module each backend serves, for the report.
MODULE_OF = {"clip": "classifier", "sam": "segmenter", "yolo": "window_detector", "inpaint": "inpainter"}
#: Seconds of timed calls per backend after the first call; a first call over half of it
#: is the only call (reported as cold).
DEFAULT_BUDGET_S = 90.0
#: A child that runs longer than this is killed and its backend reported as an error.
DEFAULT_CHILD_TIMEOUT_S = 1800.0
#: Published reference (issue 4), for comparison: a whole-pipeline A100 figure per stage.
REFERENCE = {
    "source": "published A100 pipeline figures quoted in issue 4 (whole stages, not single models)",
    "device": "NVIDIA A100",
    "extraction_s": 0.8,
    "background_s": 1.2,
    "lighting_shadow_s": 2.0,
}
#: Proxy the classifier, window detector and SAM run on (the listing graph's proxy side).
PROXY_WH = (1024, 768)
#: Full-resolution size the window detector reports boxes in (12 MP).
SOURCE_HW = (3000, 4000)
#: Why SAM gets one call at real size on the CPU.
SAM_CPU_NOTE = ("one cold call, no warm-up: a real SAM vit_b image encoder takes tens of seconds "
                "per 1024 px image on a 2-core CPU (17 s measured), so repeats are skipped at size "
                "'real' on the CPU")


def _gb(n_bytes: float) -> float:
    return round(float(n_bytes) / 2**30, 3)


def _peak_rss_gb() -> float:
    # Linux reports ru_maxrss in KiB.
    return _gb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def machine_info() -> dict:
    """``{"cores", "platform", "processor", "python"}`` of this machine (no torch import)."""
    return {"cores": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor() or
            platform.machine(), "python": platform.python_version()}


# --------------------------------------------------------------------------- weights


def _marker(root: Path, backend: str) -> Path:
    return root / f".built-{backend}.json"


def _backend_folder(root: Path, backend: str) -> Path:
    return root / backend


def weights_cached(root: Path, backend: str) -> bool:
    """True when a build of ``backend`` finished under ``root`` (its marker exists)."""
    return _marker(root, backend).is_file() and _backend_folder(root, backend).is_dir()


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _child_build(backend: str, size: str, root: Path) -> dict:
    from lumograph.bench import random_models

    started = time.perf_counter()
    folder = _backend_folder(root, backend)
    if folder.exists():
        shutil.rmtree(folder)
    with random_models.sockets_blocked():
        random_models.build(backend, root, size)
    info = {"backend": backend, "size": size, "build_s": round(time.perf_counter() - started, 2),
            "bytes": _folder_bytes(folder)}
    _marker(root, backend).write_text(json.dumps(info))
    return info


# --------------------------------------------------------------------------- measuring


class _Timer:
    """Wall-clock seconds of a block, synchronising the GPU first when one is in use."""

    def __init__(self, torch):
        self._sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)

    def __call__(self, fn, *args, **kwargs):
        self._sync()
        started = time.perf_counter()
        value = fn(*args, **kwargs)
        self._sync()
        return time.perf_counter() - started, value


def _time_calls(timer: _Timer, call, repeats: int, budget_s: float, single: bool) -> dict:
    """Run ``call(i)`` (returns a dict of part -> seconds, or None): the first call is the
    warm-up; then up to ``repeats`` timed calls while they fit in ``budget_s``. With
    ``single`` (or a first call over half the budget) the first call is the only figure."""
    first_s, first_parts = timer(call, 0)
    first_parts = first_parts or {}
    if single or first_s > budget_s / 2 or repeats < 1:
        return {"first_call_s": round(first_s, 4), "times_s": [first_s], "warmup": False,
                "parts": {k: [v] for k, v in first_parts.items()}}
    times, parts = [], {}
    spent = 0.0
    for i in range(1, repeats + 1):
        seconds, got = timer(call, i)
        times.append(seconds)
        for k, v in (got or {}).items():
            parts.setdefault(k, []).append(v)
        spent += seconds
        if spent + seconds > budget_s:
            break
    return {"first_call_s": round(first_s, 4), "times_s": times, "warmup": True, "parts": parts}


def _repeat(timer: _Timer, fn, n: int) -> list[float]:
    """Seconds of ``n`` (at least 1) calls of ``fn()``, already warm."""
    return [timer(fn)[0] for _ in range(max(1, n))]


def _params(*modules) -> int:
    return int(sum(p.numel() for m in modules for p in m.parameters()))


def _room_proxy(seed: int) -> np.ndarray:
    from lumograph.bench.synthetic_listing import room_photo

    return room_photo(*PROXY_WH, seed=seed).rgb


def _measure_clip(root: Path, timer: _Timer, repeats: int, budget_s: float, on_cpu: bool, **_) -> dict:
    from lumograph.models.classifier.core import ClassifierCore

    load_s, core = timer(ClassifierCore, backend="clip", weights_dir=str(root))
    proxy = _room_proxy(1)
    proxy.setflags(write=False)

    def call(i):
        core.classify_scene(proxy)

    timing = _time_calls(timer, call, repeats, budget_s, single=False)
    timing["parts"]["clip_model_s"] = _repeat(timer, lambda: core._clip.zero_shot_many(proxy, ("scene", "room_type")),
                                              len(timing["times_s"]))
    return {"load_s": load_s, "params": _params(core._clip.model), "timing": timing,
            "input": f"ClassifierCore(backend='clip').classify_scene on a {PROXY_WH[0]}x{PROXY_WH[1]} room proxy "
                     f"(CLIP embeds one {core._clip.input_side} px centre crop; the classical signals are "
                     "included; clip_model_s is the CLIP zero-shot alone)",
            "extra": {"input_side": core._clip.input_side}}


def _measure_yolo(root: Path, timer: _Timer, repeats: int, budget_s: float, on_cpu: bool, **_) -> dict:
    from lumograph.models.window_detector.core import WindowDetectorCore

    load_s, core = timer(WindowDetectorCore, backend="yolo", weights_dir=str(root))
    proxy = _room_proxy(1)
    proxy.setflags(write=False)
    found = {}

    def call(i):
        report = core.detect_windows(proxy, SOURCE_HW)
        found["boxes"] = len(report["windows"]) + len(report.get("mirrors", [])) + len(report.get("others", []))

    timing = _time_calls(timer, call, repeats, budget_s, single=False)
    timing["parts"]["yolo_model_s"] = _repeat(timer, lambda: core.model.detect(proxy, SOURCE_HW, conf=core.yolo_conf),
                                              len(timing["times_s"]))
    return {"load_s": load_s, "params": _params(core.model._yolo.model), "timing": timing,
            "input": f"WindowDetectorCore(backend='yolo').detect_windows on a {PROXY_WH[0]}x{PROXY_WH[1]} "
                     f"room proxy, boxes in {SOURCE_HW[1]}x{SOURCE_HW[0]} source pixels (letterbox "
                     f"{core.model.imgsz} px; load_s includes the loader's warm-up predict; yolo_model_s is "
                     "the detector alone)",
            "extra": {"imgsz": core.model.imgsz, "boxes_found": found.get("boxes"),
                      "model": "yolo11n (random weights: few or no boxes, so the exposure measurements "
                               "per box cost little here)"}}


def _measure_sam(root: Path, timer: _Timer, repeats: int, budget_s: float, on_cpu: bool, size: str, **_) -> dict:
    from lumograph.models.segmenter.sam import SamSegmenter

    load_s, seg = timer(SamSegmenter.load, root)
    single = on_cpu and size == "real"
    n_images = 1 if single else repeats + 1
    images = [_room_proxy(10 + i) for i in range(n_images)]
    box = (560, 115, 940, 475)  # the big window of room_photo at 1024x768
    second_box = (80, 90, 230, 280)

    last = {}

    def call(i):
        image = last["image"] = images[min(i, n_images - 1)]
        encoder_s, _ = timer(seg.set_image, image)
        prompt_s, _ = timer(seg.segment_box, image, box)
        return {"set_image_s": encoder_s, "segment_box_s": prompt_s}

    timing = _time_calls(timer, call, repeats, budget_s, single=single)
    # Another prompt on the image already set: the embedding is reused (decoder only).
    cached_s, _ = timer(seg.segment_box, last["image"], second_box)
    timing["parts"]["cached_prompt_s"] = [cached_s]
    # The listing pull's glass masks: both window boxes in one batch on that embedding.
    glass_s, _ = timer(seg.window_masks, last["image"], [box, second_box])
    timing["parts"]["window_masks_2_boxes_s"] = [glass_s]
    return {"load_s": load_s, "params": int(seg.source["parameters"]), "timing": timing,
            "input": f"SamSegmenter.load, then per call set_image (the image encoder; SAM resizes the long "
                     f"side to {seg.source['image_size']}) + segment_box with one box prompt, on a new "
                     f"{PROXY_WH[0]}x{PROXY_WH[1]} room image each call; cached_prompt_s is a second box on "
                     "the image already set (mask decoder only); window_masks_2_boxes_s the listing's glass masks "
                     "for two window boxes in one batch on it",
            "note": SAM_CPU_NOTE if single else None,
            "extra": {"model_type": seg.source.get("model_type"), "image_size": seg.source["image_size"]}}


def _measure_inpaint(root: Path, timer: _Timer, repeats: int, budget_s: float, on_cpu: bool,
                     steps: int, **_) -> dict:
    import cv2

    from lumograph.models.inpainter.core import InpainterCore
    from lumograph.models.inpainter.diffusion import DEFAULT_GUIDANCE

    load_s, core = timer(InpainterCore, backend="diffusers", weights_dir=str(root), diffusion_steps=steps)
    learned = core.learned
    n = learned.native_size
    base = _room_proxy(3)
    rgb = cv2.resize(base, (n, n), interpolation=cv2.INTER_AREA)
    rgb.setflags(write=False)
    hole_side = round(0.4 * n)
    mask = np.zeros((n, n), np.float32)
    mask[(n - hole_side) // 2:(n + hole_side) // 2, (n - hole_side) // 2:(n + hole_side) // 2] = 1.0
    seen = {}

    def call(i):
        result = learned.fill(rgb, mask, "glare", seed=i, steps=core.diffusion_steps)
        seen["crops"] = result["report"]["crops"]

    timing = _time_calls(timer, call, repeats, budget_s, single=False)
    # The listing graph's two generative fills, once each on 1024x768 proxies: a sky plate
    # (one native-size crop of the full width) and a view in the big blown window.
    from lumograph.bench.synthetic_listing import exterior_photo, room_photo

    house = exterior_photo(*PROXY_WH, seed=2)
    sky_s, plate = timer(learned.sky_plate, house.rgb, house.sky.astype(np.float32), "light_clouds", 0,
                         core.diffusion_steps)
    room = room_photo(*PROXY_WH, seed=3)
    blown = room.rgb.copy()
    x0, y0, x1, y1 = room.windows[0]
    blown[y0 + 8:y1 - 8, x0 + 8:x1 - 8] = 253
    view_s, view = timer(learned.synthesize_window_view, blown, room.windows[0], 0, core.diffusion_steps)
    timing["parts"]["sky_plate_s"] = [sky_s]
    timing["parts"]["window_view_s"] = [view_s]
    seen["sky_plate_work_hw"] = plate["report"]["work_hw"]
    seen["window_view_crops"] = view["report"]["crops"]
    pipe = learned.pipe
    return {"load_s": load_s, "params": _params(pipe.unet, pipe.vae, pipe.text_encoder), "timing": timing,
            "input": f"InpainterCore(backend='diffusers', diffusion_steps={steps}) loaded pipeline "
                     f".fill(rgb, hole, 'glare') on a {n}x{n} image with a centred {hole_side} px square hole "
                     f"({steps} denoising steps, guidance {DEFAULT_GUIDANCE}: the UNet runs at batch 2); once each, "
                     f"sky_plate_s (a new sky for a {PROXY_WH[0]}x{PROXY_WH[1]} exterior proxy) and window_view_s "
                     "(a view generated in a blown window of a room proxy)",
            "extra": {"steps": steps, "native_size": n, "dtype": learned.dtype, "crops": seen.get("crops"),
                      "sky_plate_work_hw": seen.get("sky_plate_work_hw"),
                      "window_view_crops": seen.get("window_view_crops"),
                      "params_by_part": {"unet": _params(pipe.unet), "vae": _params(pipe.vae),
                                         "text_encoder": _params(pipe.text_encoder)}}}


_MEASURE = {"clip": _measure_clip, "yolo": _measure_yolo, "sam": _measure_sam, "inpaint": _measure_inpaint}


def _child_measure(backend: str, size: str, root: Path, repeats: int, budget_s: float, steps: int) -> dict:
    from lumograph.bench import random_models
    from lumograph.models.common.offline import ensure_offline

    ensure_offline()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    steps = steps or (30 if cuda else 4)
    import_rss = _peak_rss_gb()  # the floor: Python + torch imported, nothing loaded
    timer = _Timer(torch)
    with random_models.sockets_blocked():
        got = _MEASURE[backend](root, timer, repeats=repeats, budget_s=budget_s, on_cpu=not cuda,
                                size=size, steps=steps)
    timing = got.pop("timing")
    times = timing["times_s"]
    entry = {
        "module": MODULE_OF[backend],
        "params": got["params"],
        "input": got["input"],
        "load_s": round(got["load_s"], 3),
        "first_call_s": timing["first_call_s"],
        "median_s": round(statistics.median(times), 4),
        "runs": len(times),
        "warmup": timing["warmup"],
        "parts_median_s": {k: round(statistics.median(v), 4) for k, v in timing["parts"].items()},
        "peak_rss_gb": _peak_rss_gb(),
        "import_rss_gb": import_rss,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "gpu_mem_gb": _gb(torch.cuda.max_memory_allocated()) if cuda else None,
        "torch_threads": torch.get_num_threads(),
        "note": got.get("note"),
        **got.get("extra", {}),
    }
    if not timing["warmup"] and entry["note"] is None:
        entry["note"] = "one cold call: the first call alone used over half the time budget"
    return entry


def _run_child(args: list[str], timeout_s: float) -> dict:
    """Run this module as a child with ``args``; returns its JSON result or an error dict."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "lumograph.bench.perf_models", *args, "--out", str(out)]
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout_s:.0f} s: {' '.join(args)}"}
        if proc.returncode != 0 or not out.is_file():
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            return {"error": f"child exited {proc.returncode}: {' | '.join(tail)}",
                    "seconds": round(time.perf_counter() - started, 1)}
        return json.loads(out.read_text())


def run_bench_models(*, json_out: Path, size: str = "real", only: list[str] | tuple[str, ...] | None = None,
                     repeats: int | None = None, chart: Path | None = None, steps: int | None = None,
                     weights_root: Path | None = None, budget_s: float = DEFAULT_BUDGET_S,
                     timeout_s: float = DEFAULT_CHILD_TIMEOUT_S) -> dict:
    """Measure each learned backend in ``only`` (default ``BACKENDS``: clip, sam, yolo,
    inpaint) at ``size`` (``"tiny"`` | ``"real"``), each in fresh child processes.

    repeats: timed calls after the warm-up (default 5 tiny, 3 real; SAM real on the CPU
    gets one cold call). steps: inpainter denoising steps (default 30 on a GPU, 4 on
    the CPU). weights_root: cache of built weights (default
    ``out/bench_models_weights/<size>``). budget_s: seconds of timed calls per backend.
    Writes ``json_out`` and a PNG bar chart (``chart``, default next to the JSON) and
    returns the result: ``{"machine": {cores, platform, processor, python, device,
    torch_threads}, "size", "size_notes", "steps", "backends": {name: {module, params,
    input, load_s, first_call_s, median_s, runs, warmup, parts_median_s, peak_rss_gb,
    import_rss_gb, device, gpu_mem_gb, torch_threads, note, build: {build_s, bytes,
    cached}, ...} | {"error": str}}, "reference", "total_s", "chart"}``. Times are
    seconds, memory GiB. Raises ``ValueError`` for an unknown size or backend.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    only = list(only or BACKENDS)
    unknown = [b for b in only if b not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown backend(s) {unknown!r}; known: {list(BACKENDS)}")
    repeats = int(repeats if repeats is not None else (5 if size == "tiny" else 3))
    root = Path(weights_root) if weights_root else DEFAULT_WEIGHTS_CACHE / size
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    json_out = Path(json_out)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    backends: dict[str, dict] = {}
    for backend in only:
        print(f"bench models: {backend} ({size}) ...", file=sys.stderr, flush=True)
        cached = weights_cached(root, backend)
        if cached:
            build = {**json.loads(_marker(root, backend).read_text()), "cached": True}
        else:
            build = {**_run_child(["--child", "build", "--backend", backend, "--size", size,
                                   "--weights", str(root)], timeout_s), "cached": False}
        if "error" in build:
            backends[backend] = {"module": MODULE_OF[backend], "error": f"build: {build['error']}"}
        else:
            entry = _run_child(["--child", "measure", "--backend", backend, "--size", size,
                                "--weights", str(root), "--repeats", str(repeats), "--budget", str(budget_s),
                                "--steps", str(steps or 0)], timeout_s)
            entry["build"] = {k: build.get(k) for k in ("build_s", "bytes", "cached")}
            backends[backend] = entry
        print(f"bench models: {backend}: " + json.dumps({k: backends[backend].get(k) for k in
              ("median_s", "runs", "load_s", "peak_rss_gb", "error")}), file=sys.stderr, flush=True)
        # Written after every backend, so a long run that is stopped still leaves its figures.
        partial = _assemble(backends, size, only, repeats, budget_s, root, json_out, started)
        json_out.write_text(json.dumps({**partial, "complete": False}, indent=2, default=str))
    result = {**_assemble(backends, size, only, repeats, budget_s, root, json_out, started), "complete": True}
    result["chart"] = str(draw_chart(result, chart or json_out.with_suffix(".png")))
    json_out.write_text(json.dumps(result, indent=2, default=str))
    return result


def _assemble(backends: dict, size: str, only: list[str], repeats: int, budget_s: float, root: Path,
              json_out: Path, started: float) -> dict:
    devices = sorted({e["device"] for e in backends.values() if "device" in e})
    threads = sorted({e["torch_threads"] for e in backends.values() if "torch_threads" in e})
    return {
        "machine": {**machine_info(), "device": devices[0] if len(devices) == 1 else devices,
                    "torch_threads": threads[0] if len(threads) == 1 else threads},
        "size": size,
        "size_notes": SIZE_NOTES[size],
        "repeats": repeats,
        "budget_s_per_backend": budget_s,
        "weights_root": str(root),
        "backends": backends,
        "reference": REFERENCE,
        "command": f"lumograph bench models --size {size} --only {','.join(only)} --json {json_out}",
        "total_s": round(time.perf_counter() - started, 1),
    }


SIZE_NOTES = {
    "tiny": "test sizes (random_models 'tiny'): hidden-32 CLIP at 32 px, a 128 px two-block SAM, a two-block "
            "SD UNet at 64 px; YOLO is yolo11n (production size) in both presets. Shapes only, not real cost.",
    "real": "production shapes with random weights: CLIP ViT-B/32 (224 px), SAM vit_b (1024 px), YOLO11n, "
            "SD-1.5-shaped inpainting (UNet 320-640-1280-1280, VAE 128-256-512-512, ViT-L/14 text encoder, "
            "512 px). Tokenizers are a small local character vocabulary (no BPE merges); the text embedding "
            "tables keep their production size (49408), so params and memory are the production ones.",
}


def draw_chart(result: dict, path: Path) -> Path:
    """Bar chart of median latency (log scale) and peak RSS per backend; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = {k: v for k, v in result["backends"].items() if "median_s" in v}
    names = list(ok) or ["(none)"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.6))
    x = np.arange(len(names))
    medians = [ok[n]["median_s"] if n in ok else 0 for n in names]
    loads = [ok[n]["load_s"] if n in ok else 0 for n in names]
    ax1.bar(x - 0.2, medians, 0.4, label="median per call", color="#47a")
    ax1.bar(x + 0.2, loads, 0.4, label="load (start-up)", color="#aaa")
    for i, n in enumerate(names):
        if n in ok:
            ax1.text(i - 0.2, medians[i], f"{medians[i]:.3g}s\n(n={ok[n]['runs']})", ha="center", va="bottom",
                     fontsize=8)
    ax1.set_yscale("log")
    ax1.set_xticks(x, [f"{n}\n{MODULE_OF.get(n, '')}" for n in names])
    ax1.set_ylabel("seconds")
    ref = result["reference"]
    ax1.set_title(f"size '{result['size']}', {result['machine'].get('device')}, "
                  f"{result['machine'].get('cores')} cores\nref ({ref['device']} pipeline): extraction "
                  f"{ref['extraction_s']} s, background {ref['background_s']} s, light+shadow "
                  f"{ref['lighting_shadow_s']} s", fontsize=9)
    ax1.legend(fontsize=8)
    rss = [ok[n]["peak_rss_gb"] if n in ok else 0 for n in names]
    gpu = [(ok[n].get("gpu_mem_gb") or 0) if n in ok else 0 for n in names]
    ax2.bar(x - (0.2 if any(gpu) else 0.0), rss, 0.4, label="peak RSS (child)", color="#4a7")
    for i, n in enumerate(names):
        if n in ok:
            ax2.text(i - (0.2 if any(gpu) else 0.0), rss[i], f"{rss[i]:.2f}", ha="center", va="bottom", fontsize=8)
    if any(gpu):
        ax2.bar(x + 0.2, gpu, 0.4, label="GPU max allocated", color="#a74")
    ax2.set_xticks(x, names)
    ax2.set_ylabel("GiB")
    ax2.set_title("memory per backend (fresh process each)", fontsize=9)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _main(argv: list[str] | None = None) -> int:
    """Child entry point (``python -m lumograph.bench.perf_models --child build|measure ...``)."""
    parser = argparse.ArgumentParser(description="lumograph bench models: child process")
    parser.add_argument("--child", choices=["build", "measure"], required=True)
    parser.add_argument("--backend", choices=list(BACKENDS), required=True)
    parser.add_argument("--size", choices=list(SIZES), required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S)
    parser.add_argument("--steps", type=int, default=0)
    args = parser.parse_args(argv)
    root = Path(args.weights)
    if args.child == "build":
        result = _child_build(args.backend, args.size, root)
    else:
        result = _child_measure(args.backend, args.size, root, args.repeats, args.budget, args.steps)
    Path(args.out).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
