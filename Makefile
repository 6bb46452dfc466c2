# Fast ML from Scratch. `make lab` to learn, `make test` to check everything.
# Both create .venv and install the project (with its extras) when needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
PYTEST_ARGS ?=

.PHONY: lab test test-fast test-browser exercises notebooks bench install clean

install: $(STAMP)

# Re-install only when the package definition changed: a no-op when already installed.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[lab,test]'
	@touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=. notebooks/00_measure.ipynb $(LAB_ARGS)

# Everything: library tests, exercise sync and runs, nbval on notebooks/ and solutions/,
# and the browser suite (skipped, and said so, when Chromium or Playwright is missing).
test: $(STAMP)
	$(PY) tools/make_exercises.py --check
	$(PY) tools/browser_status.py
	$(PY) -m pytest -rs $(NBVAL) tests notebooks solutions $(PYTEST_ARGS)

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
	rm -rf $(VENV) artifacts .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
