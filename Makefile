# Two commands set everything up on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv serve test test-unit test-serve eval bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Local Ray cluster + configs/local.yaml; HTTP on :8000, dashboard on :8265; foreground.
serve: venv
	$(VENV)/bin/lumograph serve --config configs/local.yaml

test: venv
	$(PY) -m pytest -q -ra

test-unit: venv
	$(PY) -m pytest -q tests/unit

test-serve: venv
	$(PY) -m pytest -q tests/serve

EVAL ?= ../shared/eval
eval: venv
	mkdir -p out
	$(VENV)/bin/lumograph eval --data $(EVAL) --json out/eval.json --sheets out/sheets

bench: venv
	mkdir -p out
	$(VENV)/bin/lumograph bench jewelry --json out/bench_jewelry.json
	$(VENV)/bin/lumograph bench listing --json out/bench_listing.json --bundle-dir $(EVAL)/listing_photos
	$(VENV)/bin/lumograph bench models --json out/bench_models.json

clean:
	rm -rf $(VENV) out .pytest_cache
