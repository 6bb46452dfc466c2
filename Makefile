# Fast ML from Scratch. `make lab` to learn, `make test` to check everything.
# Both create .venv and install the project (with its extras) when needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
PYTEST_ARGS ?=

# nbval once more with Numba compiling for an AVX2 laptop (no AVX-512), in its own cache, so a
# notebook that validates this CPU's register width fails here and not on a learner's machine.
AVX2   := NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES="" NUMBA_CACHE_DIR=$(CURDIR)/.cache/numba-avx2
AVX2_NOTEBOOKS ?= notebooks solutions

.PHONY: lab test test-fast test-avx2 test-browser exercises notebooks bench install clean

install: $(STAMP)

# Re-install only when the package definition changed: a no-op when already installed.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[lab,test]'
	@touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=. notebooks/00_measure.ipynb $(LAB_ARGS)

# Everything: library tests, exercise sync and runs, nbval on notebooks/ and solutions/,
# the browser suite and the PyTorch reference tests (each skipped, and said so, when what it
# needs is missing), then nbval again for an AVX2 target.
test: $(STAMP)
	$(PY) tools/make_exercises.py --check
	$(PY) tools/test_status.py
	$(PY) -m pytest -rs $(NBVAL) tests notebooks solutions $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-avx2

test-avx2: $(STAMP)
	@echo "nbval for an AVX2 CPU (NUMBA_CPU_NAME=haswell, no AVX-512): $(AVX2_NOTEBOOKS)"
	$(AVX2) $(PY) -m pytest -q $(NBVAL) $(AVX2_NOTEBOOKS) $(PYTEST_ARGS)

# Library and exercise tests only, no notebooks and no browser: quick while editing.
test-fast: $(STAMP)
	$(PY) -m pytest -rs -m "not browser and not slow" tests $(PYTEST_ARGS)

test-browser: $(STAMP)
	$(PY) -m pytest -rs -m browser tests/browser $(PYTEST_ARGS)

exercises: $(STAMP)
	$(PY) tools/make_exercises.py

# Restart-and-run-all every notebook in notebooks/ and solutions/, in place (or NB=path ...).
notebooks: $(STAMP)
	$(PY) tools/execute_notebooks.py $(NB)

bench: $(STAMP)
	$(PY) -m fastgrad.bench machine
	$(PY) -m fastgrad.bench kernels

clean:
	rm -rf $(VENV) artifacts .pytest_cache .cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
