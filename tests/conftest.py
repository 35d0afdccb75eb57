import os

# Offline by construction: no hub, no telemetry, before any ML library is imported.
for var, value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "false",
    "RAY_USAGE_STATS_ENABLED": "0",
}.items():
    os.environ.setdefault(var, value)
os.environ.pop("RAY_SERVE_THROUGHPUT_OPTIMIZED", None)
os.environ.pop("RAY_ADDRESS", None)
