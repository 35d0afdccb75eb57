"""Learned window detector: an ultralytics YOLO model from a local ``.pt`` file.

Declared as the ``yolo`` backend in ``models/window_detector/__init__.py``; importing
it is cheap (no torch, no ultralytics until a model is loaded). ``WindowDetectorCore(backend="yolo" | "auto")``
builds ``YoloWindowModel`` once at start-up and turns its boxes into the classical
detector's report with ``windows_report`` (same exposure maths as
``models.window_detector.classical.detect_windows``).

Weights layout (under the configured weights directory)::

    weights/yolo/windows.pt      an ultralytics detection checkpoint (required), as written
                                 by ``YOLO(...).save(path)`` or by ultralytics training
                                 (``best.pt``); loaded with ``YOLO(<full local path>)``
    weights/yolo/classes.json    optional: JSON list naming the model's classes in index
                                 order, e.g. ["window", "mirror"]; default ["window", "mirror"].
                                 Its length must equal the model's class count.

Class names are read with case and ``_`` ignored (``canonical_class``). Class
``"window"`` boxes become ``windows`` (with exposure measurements), ``"mirror"`` boxes
become ``mirrors``, boxes of a light-fixture class (``LAMP_CLASSES``: "lamp", "light
fixture", "sconce", "lantern", "street light", ...) become ``lamps`` (day-to-dusk switches
them on), boxes of a person class (``PERSON_CLASSES``: "person", "man", "woman", ...)
become ``people`` (the MLS people check flags them: a person seen from behind has no face
for the face detector to find); boxes of any other named class go to ``others``. A model
trained on Open Images names them "Window", "Mirror", "Lamp", "Street light", "Person",
"Man", "Woman".

Offline: ``ensure_offline()`` runs before ultralytics is imported, the settings sync
(analytics) is switched off, the checkpoint is always opened by its full path (a bare
name such as ``windows.pt`` would make ultralytics try a download), and ultralytics'
PIL plotting (which fetches a font) is never called. Importing ultralytics also changes
process-wide thread settings (``cv2.setNumThreads(0)``, ``OMP_NUM_THREADS=1``, torch
threads set to cores - 1 on the first CPU prediction): the loader puts them back, so
the rest of a replica keeps its OpenCV and torch threads.

The checkpoint is a pickle: only load weights from a trusted directory (set
``ULTRALYTICS_SAFE_LOAD=1`` to make ultralytics load it with ``weights_only=True``).
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from lumograph.models.common.errors import BackendUnavailable, InvalidOptions
from lumograph.models.common.imageio import parse_source_hw, require_rgb_u8
from lumograph.models.common.offline import ensure_offline
from lumograph.models.window_detector.classical import CLIP, ellipse_kernel, window_analysis_maps

MODULE = "window_detector"
BACKEND = "yolo"
#: Folder under the weights directory, checkpoint and class-name file inside it.
WEIGHTS_SUBDIR, WEIGHTS_FILE, CLASSES_FILE = "yolo", "windows.pt", "classes.json"
#: Class names in index order when ``classes.json`` is absent.
DEFAULT_CLASSES = ("window", "mirror")
#: Letterbox size used when the checkpoint does not record its training ``imgsz``:
#: ultralytics' own default, ample for window-sized objects on a ~1024 px proxy.
DEFAULT_IMGSZ = 640
#: Class names (``canonical_class``) whose boxes are exterior light fixtures.
LAMP_CLASSES = frozenset({"lamp", "light fixture", "wall lamp", "wall light", "sconce", "lantern",
                          "porch light", "outdoor light", "street light"})
#: Class names (``canonical_class``) whose boxes are people.
PERSON_CLASSES = frozenset({"person", "people", "pedestrian", "man", "woman", "boy", "girl", "child",
                            "human body"})
#: Most boxes kept per image (after NMS): a room has a handful of windows and mirrors.
MAX_DETECTIONS = 100
#: Default score threshold of ``detect``.
DEFAULT_CONF = 0.25
#: IoU above which NMS merges two boxes of one class (ultralytics' default).
NMS_IOU = 0.7


def weights_path(weights_dir: str | Path) -> Path:
    """Path of the checkpoint, ``<weights_dir>/yolo/windows.pt`` (may not exist)."""
    return Path(weights_dir) / WEIGHTS_SUBDIR / WEIGHTS_FILE


def classes_path(weights_dir: str | Path) -> Path:
    """Path of the optional class-name file, ``<weights_dir>/yolo/classes.json``."""
    return Path(weights_dir) / WEIGHTS_SUBDIR / CLASSES_FILE


def missing_weights(weights_dir: Path) -> str | None:
    """The registry probe: the missing checkpoint path (str), or None when it is there."""
    path = weights_path(weights_dir)
    return None if path.is_file() else str(path)


def read_classes(weights_dir: str | Path) -> tuple[list[str], str]:
    """Class names in index order and where they came from (``"classes.json"`` | ``"default"``).

    Raises ``BackendUnavailable`` (code ``weights_invalid``) naming the file when
    ``classes.json`` exists but is not a non-empty JSON list of distinct non-empty strings.
    """
    path = classes_path(weights_dir)
    if not path.is_file():
        return list(DEFAULT_CLASSES), "default"
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackendUnavailable(f"{MODULE}: cannot read {path}: {exc}", code="weights_invalid") from None
    if (not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names)
            or len(set(names)) != len(names)):
        raise BackendUnavailable(
            f"{MODULE}: {path} must be a JSON list of distinct class names, got {names!r}", code="weights_invalid")
    return [n.strip() for n in names], "classes.json"


def describe_weights(weights_dir: str | Path) -> dict:
    """What this backend expects under ``weights_dir`` and what is there; loads nothing.

    Returns ``{"module": "window_detector", "backend": "yolo", "ready": bool (the
    checkpoint exists and classes.json, if any, is valid), "files": [{"path": str,
    "required": bool, "present": bool, "bytes": int | None}], "classes": [str] | None,
    "classes_source": "classes.json" | "default" | None, "problems": [str]}``.
    """
    files, problems = [], []
    for path, required in ((weights_path(weights_dir), True), (classes_path(weights_dir), False)):
        present = path.is_file()
        files.append({"path": str(path), "required": required, "present": present,
                      "bytes": path.stat().st_size if present else None})
        if required and not present:
            problems.append(f"missing {path}")
    classes, source = None, None
    try:
        classes, source = read_classes(weights_dir)
    except BackendUnavailable as exc:
        problems.append(exc.message)
    return {"module": MODULE, "backend": BACKEND, "ready": not problems, "files": files,
            "classes": classes, "classes_source": source, "problems": problems}


def _import_ultralytics():
    """Import torch and ultralytics offline, undoing ultralytics' process-wide thread
    settings. Returns (torch, YOLO class)."""
    ensure_offline()
    import torch

    omp = os.environ.get("OMP_NUM_THREADS")
    cv2_threads = cv2.getNumThreads()
    from ultralytics import YOLO, settings

    if omp is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    cv2.setNumThreads(cv2_threads)
    if settings.get("sync", False):
        settings.update({"sync": False})
    return torch, YOLO


class YoloWindowModel:
    """A YOLO detection model loaded once from ``<weights_dir>/yolo/windows.pt``.

    weights_dir: the weights directory. device: torch device string; default ``cuda``
    when ``torch.cuda.is_available()`` else ``cpu``. imgsz: letterbox long side; default
    the checkpoint's training ``imgsz`` if recorded, else ``DEFAULT_IMGSZ``.

    Raises ``BackendUnavailable`` naming the path when the checkpoint is missing, not a
    loadable ultralytics checkpoint, not a detection model, or when its class count
    differs from the class names (``classes.json`` or the default). The first
    prediction (predictor set-up) is paid here with a warm-up, not on the first request.
    Attributes: ``path``, ``classes``, ``classes_source``, ``device``, ``imgsz``,
    ``load_ms``. ``detect`` is safe to call from several threads (one at a time).
    """

    def __init__(self, weights_dir: str | Path, device: str | None = None, imgsz: int | None = None):
        started = time.perf_counter()
        self.path = weights_path(weights_dir).resolve()
        if not self.path.is_file():
            raise BackendUnavailable(f"{MODULE}: backend {BACKEND!r} weights missing: {self.path}",
                                     code="weights_missing")
        self.classes, self.classes_source = read_classes(weights_dir)
        torch, YOLO = _import_ultralytics()
        self._torch = torch
        self._torch_threads = torch.get_num_threads()
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            # Always the full path: a bare name is looked up online.
            self._yolo = YOLO(str(self.path), task="detect")
        except Exception as exc:  # noqa: BLE001 -- a bad file raises TypeError, RuntimeError, KeyError, ...
            raise BackendUnavailable(f"{MODULE}: {self.path} is not a loadable ultralytics checkpoint: "
                                     f"{type(exc).__name__}: {exc}", code="weights_invalid") from None
        if self._yolo.task != "detect":
            raise BackendUnavailable(f"{MODULE}: {self.path} is a {self._yolo.task!r} model, not 'detect'",
                                     code="weights_invalid")
        model_classes = len(self._yolo.names)
        if model_classes != len(self.classes):
            raise BackendUnavailable(
                f"{MODULE}: {self.path} has {model_classes} classes but {len(self.classes)} names "
                f"{self.classes!r} ({self.classes_source}); write {classes_path(weights_dir)} with "
                f"{model_classes} names", code="weights_invalid")
        self.checkpoint_names = [str(self._yolo.names[i]) for i in range(model_classes)]
        recorded = self._yolo.overrides.get("imgsz")
        self.imgsz = int(imgsz or (recorded if isinstance(recorded, int) and recorded >= 32 else DEFAULT_IMGSZ))
        self._lock = threading.Lock()
        self._predict(np.full((256, 320, 3), 114, np.uint8), DEFAULT_CONF)  # warm-up
        self.load_ms = round((time.perf_counter() - started) * 1000, 1)

    def describe(self) -> dict:
        """JSON-able facts about the loaded model: path, device, imgsz, classes, load_ms."""
        return {"backend": BACKEND, "path": str(self.path), "device": self.device, "imgsz": self.imgsz,
                "classes": list(self.classes), "classes_source": self.classes_source,
                "checkpoint_names": self.checkpoint_names, "load_ms": self.load_ms}

    def _predict(self, bgr: np.ndarray, conf: float):
        with self._lock:
            try:
                result = self._yolo.predict(bgr, conf=conf, iou=NMS_IOU, imgsz=self.imgsz, device=self.device,
                                            max_det=MAX_DETECTIONS, verbose=False, save=False, show=False)[0]
            finally:
                # ultralytics' CPU device selection sets torch to cores - 1 threads.
                if self._torch.get_num_threads() != self._torch_threads:
                    self._torch.set_num_threads(self._torch_threads)
        boxes = result.boxes
        return (boxes.xyxy.cpu().numpy().astype(np.float64), boxes.conf.cpu().numpy().astype(np.float64),
                boxes.cls.cpu().numpy().astype(np.int64))

    def detect(self, proxy_rgb: np.ndarray, source_hw: tuple[int, int], conf: float = DEFAULT_CONF) -> list[dict]:
        """Detect windows, mirrors (and any other named class) on a proxy.

        proxy_rgb: HxWx3 uint8 RGB (any size >= 16 px; never mutated, may be read-only).
        source_hw: (H, W) of the full-resolution photo the boxes are reported in.
        conf: score threshold in [0, 1].

        Returns a list (highest score first) of ``{"class": str, "class_id": int,
        "score": float in [0, 1], "bbox": [x0, y0, x1, y1] int source pixels (x1/y1
        exclusive, 0 <= x0 < x1 <= W, 0 <= y0 < y1 <= H), "bbox_proxy": [x0, y0, x1, y1]
        float proxy pixels}``. Boxes thinner than one proxy pixel are dropped.
        """
        require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=16)
        src_h, src_w = parse_source_hw(source_hw)
        if not (isinstance(conf, (int, float)) and 0.0 <= conf <= 1.0):
            raise InvalidOptions(f"conf must be a number in [0, 1], got {conf!r}")
        ph, pw = proxy_rgb.shape[:2]
        # ultralytics reads numpy images as BGR (OpenCV order).
        xyxy, scores, ids = self._predict(cv2.cvtColor(proxy_rgb, cv2.COLOR_RGB2BGR), float(conf))
        detections = []
        for (bx0, by0, bx1, by1), score, cid in zip(xyxy, scores, ids):
            bx0, bx1 = float(np.clip(bx0, 0, pw)), float(np.clip(bx1, 0, pw))
            by0, by1 = float(np.clip(by0, 0, ph)), float(np.clip(by1, 0, ph))
            if bx1 - bx0 < 1.0 or by1 - by0 < 1.0:
                continue
            detections.append({
                "class": self.classes[int(cid)], "class_id": int(cid), "score": round(float(score), 4),
                "bbox": _source_box((bx0, by0, bx1, by1), (ph, pw), (src_h, src_w)),
                "bbox_proxy": [round(bx0, 2), round(by0, 2), round(bx1, 2), round(by1, 2)],
            })
        detections.sort(key=lambda d: -d["score"])
        return detections


def save_random_weights(weights_dir: str | Path, *, model_yaml: str = "yolo11n.yaml",
                        classes: tuple[str, ...] | list[str] = DEFAULT_CLASSES, seed: int = 0,
                        class_bias: list[list[float]] | None = None) -> Path:
    """Write a random-weight detection checkpoint to ``<weights_dir>/yolo/windows.pt``.

    For tests and ``bench``: random weights cost the same compute as trained ones.
    model_yaml: a model YAML shipped with ultralytics, its scale letter in the name
    (``yolo11n.yaml``, ``yolov8s.yaml``); it is built with ``len(classes)`` classes from
    seed ``seed``, entirely offline. class_bias: optional per-output-scale list of
    per-class logit biases for the head (e.g. ``[[-9, -9], [-9, 6], [7, -9]]``), so a
    test gets many boxes of chosen classes. Writes ``classes.json`` only when the
    classes differ from the default. Returns the checkpoint path.
    """
    import tempfile

    torch, YOLO = _import_ultralytics()
    from ultralytics.nn.tasks import yaml_model_load
    from ultralytics.utils import YAML

    cfg = {k: v for k, v in yaml_model_load(model_yaml).items() if k not in ("scale", "yaml_file")}
    cfg["nc"] = len(classes)
    path = weights_path(weights_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # ultralytics reads the scale from the file name: keep the original stem.
        yaml_path = Path(tmp) / f"{Path(model_yaml).stem}-windows.yaml"
        YAML.save(yaml_path, cfg)
        torch.manual_seed(seed)
        yolo = YOLO(str(yaml_path))
    yolo.model.names = dict(enumerate(classes))
    if class_bias is not None:
        with torch.no_grad():
            for branch, bias in zip(yolo.model.model[-1].cv3, class_bias, strict=True):
                branch[-1].bias[:] = torch.tensor(bias, dtype=branch[-1].bias.dtype)
    yolo.save(str(path))
    if list(classes) != list(DEFAULT_CLASSES):
        classes_path(weights_dir).write_text(json.dumps(list(classes)), encoding="utf-8")
    return path


def _source_box(box, proxy_hw, source_hw) -> list[int]:
    """Proxy-pixel float box -> int source box, grown outward, at least 1 px, inside the frame."""
    (ph, pw), (src_h, src_w) = proxy_hw, source_hw
    sx, sy = src_w / pw, src_h / ph
    x0 = min(src_w - 1, max(0, math.floor(box[0] * sx)))
    y0 = min(src_h - 1, max(0, math.floor(box[1] * sy)))
    x1 = max(x0 + 1, min(src_w, math.ceil(box[2] * sx)))
    y1 = max(y0 + 1, min(src_h, math.ceil(box[3] * sy)))
    return [x0, y0, x1, y1]


def _norm(bbox: list[int], source_hw: tuple[int, int]) -> list[float]:
    src_h, src_w = source_hw
    return [round(bbox[0] / src_w, 4), round(bbox[1] / src_h, 4), round(bbox[2] / src_w, 4), round(bbox[3] / src_h, 4)]


def canonical_class(name: str) -> str:
    """A detector class name as the report reads it: lower case, ``_`` as a space, single
    spaces ("Street_Light" -> "street light")."""
    return " ".join(str(name).replace("_", " ").lower().split())


def class_kind(name: str) -> str:
    """Which list of the report a detector class's boxes go to: "window", "mirror",
    "lamp" (``LAMP_CLASSES``), "person" (``PERSON_CLASSES``) or "other"."""
    c = canonical_class(name)
    if c in ("window", "mirror"):
        return c
    return "lamp" if c in LAMP_CLASSES else "person" if c in PERSON_CLASSES else "other"


def windows_report(proxy_rgb: np.ndarray, source_hw: tuple[int, int], detections: list[dict]) -> dict:
    """Turn detector boxes into ``detect_windows``' report (classical).

    proxy_rgb: HxWx3 uint8 RGB proxy the boxes were found on (never mutated).
    source_hw: (H, W) of the full-resolution photo. detections: ``YoloWindowModel.detect``
    entries (``class``, ``score``, ``bbox`` source px, ``bbox_proxy`` proxy px).

    The exposure of each ``"window"`` box is measured as the classical detector does,
    on the proxy reduced to ``WORK_LONG_SIDE``, with the box as the window's region:
    ``stops_over_interior`` = log2(mean linear luminance in the box / mean linear
    luminance of the room outside every window box grown by 2% of the long side; a
    lower bound where the box is clipped), ``clipped_share`` = share of the box with
    some channel >= ``CLIP``, ``blown_share`` = share with every channel >= ``CLIP``, ``edge_stops`` = log2(luminance of the box's inner band /
    luminance of the ring just outside it), ``area_share`` = source box area / frame, and
    ``confidence`` = the detector's score.

    Returns ``{"windows": [{"bbox", "bbox_norm", "stops_over_interior",
    "clipped_share", "blown_share", "area_share", "confidence", "edge_stops"}] (largest first),
    "max_stops": float (0.0 when no window), "interior_mean_luminance": float linear in
    [0, 1], "mirrors": [{"bbox", "bbox_norm", "confidence"}] (largest first),
    "lamps": [{"class", "bbox", "bbox_norm", "confidence"}] (a ``LAMP_CLASSES`` class),
    "people": [the same] (a ``PERSON_CLASSES`` class),
    "others": [{"class", "bbox", "bbox_norm", "confidence"}], "detector": "yolo"}``.
    """
    require_rgb_u8(proxy_rgb, "proxy_rgb", min_side=16)
    src_hw = parse_source_hw(source_hw)
    ph, pw = proxy_rgb.shape[:2]
    small, lum, vmax = window_analysis_maps(proxy_rgb)
    h, w = small.shape[:2]
    band = max(2, round(0.01 * max(h, w)))
    sx, sy = w / pw, h / ph

    kinds = [class_kind(d["class"]) for d in detections]
    measured, union = [], np.zeros((h, w), np.uint8)
    for det in (d for d, k in zip(detections, kinds) if k == "window"):
        bx0, by0, bx1, by1 = det["bbox_proxy"]
        x0, y0 = min(w - 1, max(0, math.floor(bx0 * sx))), min(h - 1, max(0, math.floor(by0 * sy)))
        x1, y1 = max(x0 + 1, min(w, math.ceil(bx1 * sx))), max(y0 + 1, min(h, math.ceil(by1 * sy)))
        union[y0:y1, x0:x1] = 1
        # The same bands as on the whole frame, computed on a crop that holds them.
        margin = 3 * band + 1
        cx0, cy0, cx1, cy1 = max(0, x0 - margin), max(0, y0 - margin), min(w, x1 + margin), min(h, y1 + margin)
        mask = np.zeros((cy1 - cy0, cx1 - cx0), np.uint8)
        mask[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0] = 1
        crop_lum = lum[cy0:cy1, cx0:cx1]
        inner = cv2.subtract(mask, cv2.erode(mask, ellipse_kernel(band)))
        outer = cv2.subtract(cv2.dilate(mask, ellipse_kernel(3 * band)), cv2.dilate(mask, ellipse_kernel(band)))
        inside_lum = float(lum[y0:y1, x0:x1].mean())
        inner_lum = cv2.mean(crop_lum, inner)[0] if cv2.countNonZero(inner) else inside_lum
        outer_lum = cv2.mean(crop_lum, outer)[0] if cv2.countNonZero(outer) else inner_lum
        measured.append((det, {
            "mean_lum": inside_lum,
            "clipped_share": float((vmax[y0:y1, x0:x1] >= CLIP).mean()),
            "blown_share": float((small[y0:y1, x0:x1].min(axis=2) >= CLIP).mean()),
            # From the source box (exact), not the rounded work-grid one.
            "area": float((det["bbox"][2] - det["bbox"][0]) * (det["bbox"][3] - det["bbox"][1])),
            "edge_stops": math.log2(max(inner_lum, 1e-6) / max(outer_lum, 1e-6)),
        }))
    # The frame and the glow around a window are neither window nor room.
    room = cv2.dilate(union, ellipse_kernel(2 * band)) == 0
    interior = max(float(lum[room].mean()) if room.any() else float(lum.mean()), 1e-4)

    windows = []
    for det, m in sorted(measured, key=lambda dm: -dm[1]["area"]):
        windows.append({
            "bbox": list(det["bbox"]),
            "bbox_norm": _norm(det["bbox"], src_hw),
            "stops_over_interior": round(math.log2(max(m["mean_lum"], 1e-6) / interior), 3),
            "clipped_share": round(m["clipped_share"], 4),
            "blown_share": round(m["blown_share"], 4),
            "area_share": round(m["area"] / (src_hw[0] * src_hw[1]), 4),
            "confidence": round(float(det["score"]), 3),
            "edge_stops": round(m["edge_stops"], 3),
        })

    def _area(d):
        x0, y0, x1, y1 = d["bbox"]
        return -(x1 - x0) * (y1 - y0)

    def _found(d):
        return {"class": d["class"], "bbox": list(d["bbox"]), "bbox_norm": _norm(d["bbox"], src_hw),
                "confidence": round(float(d["score"]), 3)}

    def of_kind(kind: str) -> list[dict]:
        return [d for d, k in zip(detections, kinds) if k == kind]

    mirrors = [{k: v for k, v in _found(d).items() if k != "class"} for d in sorted(of_kind("mirror"), key=_area)]
    lamps, people, others = ([_found(d) for d in of_kind(kind)] for kind in ("lamp", "person", "other"))
    return {
        "windows": windows,
        "max_stops": max((wd["stops_over_interior"] for wd in windows), default=0.0),
        "interior_mean_luminance": round(interior, 4),
        "mirrors": mirrors,
        "lamps": lamps,
        "people": people,
        "others": others,
        "detector": BACKEND,
    }
