# The study as a DAG of real files. Verbs are .PHONY; everything else is a file target whose
# prerequisites are the notebook, the profile YAML, the cf_utils sources it runs, and upstream files.
#
#   make reproduce [PROFILE=cpu]   the whole chain: data, training, evaluation, figures, tables, report
#   make plan [PROFILE=paper]      what a profile would run: stages, steps, items, estimated time and memory
#   make test                      unit tests (sets up .venv itself)
#   make data PROFILE=smoke        01_prepare_data only
#   make finetune PROFILE=smoke    02_finetune (and what it needs)
#   make evaluate PROFILE=smoke    03_evaluate (and what it needs)
#   make mitigations PROFILE=smoke 05_mitigations: replay, L2, EWC, LwF, O-LoRA, WiSE-FT against seq on one model
#   make figures PROFILE=smoke     04_figures: forgetting.csv, figures, tables, manifest.json, report.md/html
#   make bench                     training and scoring speed against the transformers / harness baselines
#   make lab                       JupyterLab on notebooks/ with the project's environment

SHELL := /bin/bash
.DELETE_ON_ERROR:
.SECONDARY:  # outputs reached through pattern rules are kept, never removed as "intermediate"
.SUFFIXES:

# A visible CUDA device means the user's "make reproduce on one GPU": the paper profile.
HAVE_GPU := $(shell nvidia-smi -L 2>/dev/null | grep -q GPU && echo yes)
PROFILE ?= $(if $(HAVE_GPU),paper,cpu)

# Where outputs go (default: beside the code); e.g. a scratch disk: make reproduce ARTIFACTS_ROOT=/scratch/cf
# (the notebooks get them as CF_DATA_ROOT, CF_ARTIFACTS_ROOT, CF_FIGURES_ROOT; see cf_utils/paths.py).
DATA_ROOT ?= data
ARTIFACTS_ROOT ?= artifacts
FIGURES_ROOT ?= figures
export CF_DATA_ROOT := $(abspath $(DATA_ROOT))
export CF_ARTIFACTS_ROOT := $(abspath $(ARTIFACTS_ROOT))
export CF_FIGURES_ROOT := $(abspath $(FIGURES_ROOT))

PYTHON_BASE ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SETUP := $(VENV)/.setup-done
TEST_ARGS ?=

CORE_SRC := cf_utils/__init__.py cf_utils/config.py cf_utils/paths.py cf_utils/io.py cf_utils/notebooks.py \
            cf_utils/progress.py
DATA_SRC := $(CORE_SRC) $(wildcard cf_utils/data/*.py)
DATA := $(DATA_ROOT)/$(PROFILE)/MANIFEST.json
TRAIN_SRC := $(CORE_SRC) cf_utils/data/records.py cf_utils/train.py cf_utils/models.py
FINETUNE := $(ARTIFACTS_ROOT)/$(PROFILE)/finetune.json
EVAL_SRC := $(TRAIN_SRC) cf_utils/evaluate.py cf_utils/scoring.py cf_utils/generation.py cf_utils/textmetrics.py \
            cf_utils/metrics.py
SCORES := $(ARTIFACTS_ROOT)/$(PROFILE)/scores.csv
MIT_SRC := $(EVAL_SRC) cf_utils/mitigations.py cf_utils/mitigation_study.py cf_utils/plots.py cf_utils/report.py
MITIGATIONS := $(ARTIFACTS_ROOT)/$(PROFILE)/mitigations.csv
FIG_SRC := $(CORE_SRC) cf_utils/metrics.py cf_utils/plots.py cf_utils/report.py cf_utils/provenance.py \
           cf_utils/models.py cf_utils/train.py cf_utils/mitigation_study.py data/reference/paper_numbers.csv
REPORT := $(ARTIFACTS_ROOT)/$(PROFILE)/report.md
RUN_NB := $(PY) -m cf_utils.notebooks

.PHONY: all setup data finetune evaluate mitigations figures plan reproduce test test-fast test-slow bench lint lab clean clean-all help

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

# Pattern rules: the profile is the stem, so `make data/smoke/MANIFEST.json` works as well.
$(DATA_ROOT)/%/MANIFEST.json: notebooks/01_prepare_data.ipynb configs/defaults.yaml configs/%.yaml $(DATA_SRC) | $(SETUP)
	$(RUN_NB) 01_prepare_data --profile $*

finetune: $(FINETUNE)

# Finished stages are never retrained (train.Chain); this re-runs when code, config or data change.
$(ARTIFACTS_ROOT)/%/finetune.json: notebooks/02_finetune.ipynb configs/defaults.yaml configs/%.yaml $(TRAIN_SRC) \
                                   $(DATA_ROOT)/%/MANIFEST.json | $(SETUP)
	$(RUN_NB) 02_finetune --profile $*

evaluate: $(SCORES)

# Cells already scored from the same checkpoint, input and settings are reused (evaluate.ChainEval).
$(ARTIFACTS_ROOT)/%/scores.csv: notebooks/03_evaluate.ipynb configs/defaults.yaml configs/%.yaml $(EVAL_SRC) \
                                $(DATA_ROOT)/%/MANIFEST.json $(ARTIFACTS_ROOT)/%/finetune.json | $(SETUP)
	$(RUN_NB) 03_evaluate --profile $*

mitigations: $(MITIGATIONS)

# Its seq chain is the main study's, shared: a chain's lock makes one process wait for the other (make -j).
$(ARTIFACTS_ROOT)/%/mitigations.csv: notebooks/05_mitigations.ipynb configs/defaults.yaml configs/%.yaml \
                                     $(MIT_SRC) $(DATA_ROOT)/%/MANIFEST.json | $(SETUP)
	$(RUN_NB) 05_mitigations --profile $*

figures: $(REPORT)

$(ARTIFACTS_ROOT)/%/report.md: notebooks/04_figures.ipynb configs/defaults.yaml configs/%.yaml $(FIG_SRC) \
                               $(ARTIFACTS_ROOT)/%/scores.csv $(ARTIFACTS_ROOT)/%/mitigations.csv | $(SETUP)
	$(RUN_NB) 04_figures --profile $*

reproduce: $(REPORT)
	@echo "reproduce ($(PROFILE)): report in $(REPORT) (and .html), figures in $(FIGURES_ROOT)/$(PROFILE)/"

plan: $(SETUP)
	$(PY) -m cf_utils.plan --profile $(PROFILE)

# ---------------------------------------------------------------- checks
test: $(SETUP)
	$(PY) -m pytest $(TEST_ARGS)

test-fast: $(SETUP)
	$(PY) -m pytest -m "not slow and not network" $(TEST_ARGS)

test-slow: $(SETUP)
	$(PY) -m pytest -m slow $(TEST_ARGS)

# Speed targets are checked here, not by timed unit tests. Uses the cpu profile's data and models.
bench: $(SETUP) $(DATA_ROOT)/cpu/MANIFEST.json
	@mkdir -p $(ARTIFACTS_ROOT)/bench
	$(PY) benchmarks/train_speed.py --json $(ARTIFACTS_ROOT)/bench/train_speed.json
	$(PY) benchmarks/eval_speed.py --json $(ARTIFACTS_ROOT)/bench/eval_speed.json

lint: $(SETUP)
	$(PY) -m ruff check cf_utils tests benchmarks
	$(PY) -m ruff format --check cf_utils tests benchmarks

lab: $(SETUP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

# ---------------------------------------------------------------- cleaning
clean:
	rm -rf $(DATA_ROOT)/$(PROFILE) $(ARTIFACTS_ROOT)/$(PROFILE) $(FIGURES_ROOT)/$(PROFILE)

clean-all:
	rm -rf $(filter-out data/reference data/README.md,$(wildcard data/*)) artifacts figures/*/ $(VENV)
