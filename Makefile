# The study as a DAG of real files. Verbs are .PHONY; everything else is a file target whose
# prerequisites are the notebook, the profile YAML, the cf_utils sources it runs, and upstream files.
#
#   make reproduce [PROFILE=cpu]   the whole chain (today: data; later stages land with their issues)
#   make test                      unit tests (sets up .venv itself)
#   make data PROFILE=smoke        01_prepare_data only
#   make lab                       JupyterLab on notebooks/ with the project's environment

SHELL := /bin/bash
.DELETE_ON_ERROR:
.SUFFIXES:

# A visible CUDA device means the user's "make reproduce on one GPU": the paper profile.
HAVE_GPU := $(shell nvidia-smi -L 2>/dev/null | grep -q GPU && echo yes)
PROFILE ?= $(if $(HAVE_GPU),paper,cpu)

PYTHON_BASE ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SETUP := $(VENV)/.setup-done
TEST_ARGS ?=

CONFIGS := configs/defaults.yaml configs/$(PROFILE).yaml
CORE_SRC := cf_utils/__init__.py cf_utils/config.py cf_utils/paths.py cf_utils/io.py cf_utils/notebooks.py
DATA_SRC := $(CORE_SRC) $(wildcard cf_utils/data/*.py)
DATA := data/$(PROFILE)/MANIFEST.json
RUN_NB := $(PY) -m cf_utils.notebooks

.PHONY: all setup data reproduce test test-fast lint lab clean clean-all help

all: reproduce

help:
	@sed -n '1,/^$$/p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

# ---------------------------------------------------------------- environment
setup: $(SETUP)

$(SETUP): requirements.txt requirements-nodeps.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# ---------------------------------------------------------------- the chain
data: $(DATA)

$(DATA): notebooks/01_prepare_data.ipynb $(CONFIGS) $(DATA_SRC) | $(SETUP)
	$(RUN_NB) 01_prepare_data --profile $(PROFILE)

reproduce: $(DATA)
	@echo "reproduce ($(PROFILE)): data ready in data/$(PROFILE)/ (see MANIFEST.json)."

# ---------------------------------------------------------------- checks
test: $(SETUP)
	$(PY) -m pytest $(TEST_ARGS)

test-fast: $(SETUP)
	$(PY) -m pytest -m "not slow and not network" $(TEST_ARGS)

lint: $(SETUP)
	$(PY) -m ruff check cf_utils tests
	$(PY) -m ruff format --check cf_utils tests

lab: $(SETUP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

# ---------------------------------------------------------------- cleaning
clean:
	rm -rf data/$(PROFILE) artifacts/$(PROFILE) figures/$(PROFILE)

clean-all:
	rm -rf $(filter-out data/reference data/README.md,$(wildcard data/*)) artifacts figures/*/ $(VENV)
