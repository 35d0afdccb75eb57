"""Serve configs/local.yaml with every module on ``backend: auto`` over a weights folder
of tiny random-weight models (tests.tiny_models), and talk to it over HTTP.

Run by tests/serve/test_learned_http.py in its own interpreter (its own Ray instance,
apart from the session cluster of the other Serve tests). The weights are built here with
the network blocked; the replicas load them from local paths with the offline switches
set (the socket-blocked unit tests prove the loaders never reach for the network).
Prints one line ``PROBE_RESULT=<json>``.
"""
from __future__ import annotations

import io
import json
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np
import requests
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def main() -> dict:
    from lumograph.bench.synthetic import ring_photo
    from lumograph.bench.synthetic_listing import exterior_photo, room_photo
    from lumograph.serve import cluster
    from tests.tiny_models import build_all, network_blocked

    temp = Path(tempfile.mkdtemp(prefix="lg-learned-", dir="/tmp"))
    with network_blocked():
        weights = build_all(temp / "weights")
    raw = yaml.safe_load((ROOT / "configs" / "local.yaml").read_text())
    for app in raw["applications"]:
        for dep in app.get("deployments", []):
            if "user_config" in dep:
                dep["user_config"] = {**dep["user_config"], "backend": "auto", "weights_dir": str(weights)}
                if dep["name"] == "Inpainter":
                    dep["user_config"]["diffusion_steps"] = 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    raw["http_options"]["port"] = port
    config_path = temp / "learned.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    config = cluster.load_serve_config(config_path)
    cluster.use_data_dir(config, temp / "data")
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {cluster.issue_key(config, 'probe')}"
    cluster.start_ray(num_cpus=2, object_store_mb=200, dashboard=False, temp_dir=str(temp / "ray"), config=config)
    out: dict = {}
    try:
        cluster.deploy_config(config, timeout_s=240)
        url = f"http://127.0.0.1:{port}"
        out["healthz"] = http.get(f"{url}/listing/healthz", timeout=120).json()["modules"]
        room = _jpeg(room_photo(640, 480, seed=2).rgb)
        r = http.post(f"{url}/listing/enhance", files={"image": ("room.jpg", room, "image/jpeg")},
                          data={"tier": "premium", "room": "kitchen"}, params={"report": "json"}, timeout=180)
        out["enhance"] = {"status": r.status_code, "code": r.json().get("code") if r.status_code != 200 else None}
        if r.status_code == 200:
            rep = r.json()["report"]
            out["enhance"].update(backends=rep["backends"], modules_applied=rep["modules_applied"],
                                  windows=len(rep["windows"]), modules_run=rep["modules_run"],
                                  glass_masks=rep.get("glass_masks"))
        outside = _jpeg(exterior_photo(640, 480, seed=1).rgb)
        r = http.post(f"{url}/listing/enhance", files={"image": ("house.jpg", outside, "image/jpeg")},
                          data={"tier": "standard", "room": "exterior", "seed": "2"},
                          params={"report": "json"}, timeout=180)
        out["exterior"] = {"status": r.status_code}
        # A random-weight sky may fail the QA gate (422): its report still says what ran.
        body = r.json()
        report = body.get("report") or body.get("details", {}).get("report")
        if report:
            sky = report["modules"]["sky_replacement"]
            out["exterior"].update(sky_ran=sky["ran"], sky_backend=sky.get("backend"),
                                   sky_source=sky.get("report", {}).get("sky_source"),
                                   disclosures=report["disclosures"], verdict=report["verdict"])
        r = http.post(f"{url}/listing/stage", files={"image": ("room.jpg", room, "image/jpeg")},
                          data={"room_type": "bedroom", "style": "modern", "seed": "3"}, timeout=180)
        out["stage"] = {"status": r.status_code, "backend": r.headers.get("X-Lumograph-Backend"),
                        "disclosure": r.headers.get("X-Lumograph-Disclosure"),
                        "size": list(Image.open(io.BytesIO(r.content)).size) if r.status_code == 200 else None}
        ring = _jpeg(ring_photo(1400, 1100).rgb)
        r = http.post(f"{url}/jewelry/lightbox", files={"image": ("ring.jpg", ring, "image/jpeg")},
                          params={"report": "json"}, timeout=180)
        body = r.json()
        report = body.get("report") or body.get("details", {}).get("report", {})
        out["lightbox"] = {"status": r.status_code, "backends": report.get("backends"),
                           "category": report.get("classification", {}).get("category")}
    finally:
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    return out


if __name__ == "__main__":
    print("PROBE_RESULT=" + json.dumps(main()), flush=True)
