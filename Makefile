# The study as a DAG of real files. Verbs are .PHONY; everything else is a file target whose
# prerequisites are the notebook, the profile YAML, the cf_utils sources it runs, and upstream files.
#
#   make reproduce [PROFILE=cpu]   the whole chain: data, training, evaluation, figures, tables, report
#   make plan [PROFILE=paper]      what a profile would run: stages, steps, items, estimated time and memory
#   make pilot PROFILE=cpu         the power calculation's base accuracies and flip rates, measured on held-apart items
#                                  (MODEL=<name>: a further model's stage-0 scores)
#   make test                      the tests CI and a reader run: unit tests, the smoke chain, one kill (sets up .venv)
#   make test-all                  the long tests make test leaves out: soak, real models, distributed, JupyterLab
#   make data PROFILE=smoke        01_prepare_data only
#   make finetune PROFILE=smoke    02_finetune (and what it needs)
#   make evaluate PROFILE=smoke    03_evaluate (and what it needs)
#   make mitigations PROFILE=smoke 05_mitigations: LoRA arm, replay, L2, EWC, LwF, O-LoRA, WiSE-FT against seq on one
#                                  model (part of reproduce unless the profile sets mitigation.in_reproduce: false)
#   make dose PROFILE=cpu-full     forgetting against training steps at several learning rates (beyond the paper;
#                                  part of reproduce where the profile sets dose.model)
#   make figures PROFILE=smoke     04_figures: forgetting.csv, figures, tables, manifest.json, report.md/html
#   make -j 2 reproduce            two chains at a time (each (model, method) chain is a target of its own)
#   make chain CHAIN=MODEL/VARIANT one chain, trained and evaluated (a cluster job array's task); make chains: the list
#   make publish PROFILE=cpu       results/<profile>/ (committed) and the README's results block from the last run
#   make bench                     training and scoring speed against the transformers / harness baselines
#   make lab [LAB_ARGS=...]        JupyterLab on the repository (starts in notebooks/) with the project's environment

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c  # a recipe piped into tee fails when its command fails
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
TEST_GOALS := test test-all test-unit test-chain test-kill

DATA := $(DATA_ROOT)/$(PROFILE)/MANIFEST.json
FINETUNE := $(ARTIFACTS_ROOT)/$(PROFILE)/finetune.json
SCORES := $(ARTIFACTS_ROOT)/$(PROFILE)/scores.csv
MITIGATIONS := $(ARTIFACTS_ROOT)/$(PROFILE)/mitigations.csv
DOSE := $(ARTIFACTS_ROOT)/$(PROFILE)/dose/fit.csv
REPORT := $(ARTIFACTS_ROOT)/$(PROFILE)/report.md
RUN_NB := $(PY) -m cf_utils.notebooks
LAUNCH := $(PY) -m cf_utils.launch
OUT := $(ARTIFACTS_ROOT)/$(PROFILE)

.PHONY: all setup data finetune evaluate mitigations dose figures chain chains plan pilot reproduce publish $(TEST_GOALS) bench lint lab clean clean-all help

all: reproduce

help:
	@sed -n '1,/^$$/p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

# The cf_utils files each rule runs (DATA_SRC, TRAIN_SRC, EVAL_SRC, FINETUNE_SRC, SCORES_SRC, MIT_SRC, FIG_SRC,
# CHAINS_SRC, DOSE_SRC): derived from the real imports by cf_utils/makedeps.py (standard library only, so no venv needed),
# remade when any module or notebook changes.
SOURCES_MK := $(ARTIFACTS_ROOT)/makedeps.mk
ifneq ($(filter-out setup publish $(TEST_GOALS) lint lab clean clean-all help,$(or $(MAKECMDGOALS),all)),)
include $(SOURCES_MK)
endif

$(SOURCES_MK): $(shell find cf_utils -name '*.py') $(wildcard notebooks/*.ipynb)
	@mkdir -p $(@D)
	$(PYTHON_BASE) -m cf_utils.makedeps > $@.tmp && mv $@.tmp $@

# ---------------------------------------------------------------- environment
setup: $(SETUP)

# Notebooks are committed without outputs or kernel-filled metadata: nbstripout as a git filter (a
# notebook opened, run and saved in JupyterLab leaves the tree clean). NB_EXTRA_KEYS: what it strips
# beyond its defaults (language_info is filled in by the kernel). Outside a git checkout: nothing to do.
NB_EXTRA_KEYS := metadata.language_info
NBSTRIPOUT_INSTALL = if git rev-parse --git-dir >/dev/null 2>&1; then $(VENV)/bin/nbstripout --install \
    --attributes .gitattributes && git config filter.nbstripout.extrakeys "$(NB_EXTRA_KEYS)"; fi

$(SETUP): requirements.txt requirements-nodeps.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@$(NBSTRIPOUT_INSTALL)
	@touch $@

# ---------------------------------------------------------------- the chain
data: $(DATA)

# Pattern rules: the profile is the stem, so `make data/smoke/MANIFEST.json` works as well.
$(DATA_ROOT)/%/MANIFEST.json: notebooks/01_prepare_data.ipynb configs/%.yaml $(DATA_SRC) | $(SETUP)
	$(RUN_NB) 01_prepare_data --profile $*

# ---------------------------------------------------------------- the chains, one target each
# Every (model, variant) chain is trained by one process and evaluated by another (cf_utils/launch.py), each
# leaving a stamp: $(OUT)/<model>/<variant>/trained.json and $(OUT)/eval/<model>/<variant>/evaluated.json,
# and a log: $(OUT)/logs/{train,evaluate}-<model>-<variant>.log (what the terminal showed).
# The chains come from the profile: $(OUT)/chains.mk, remade (and make restarted) when the profile changes.
CHAINS_MK := $(OUT)/chains.mk
ifneq ($(filter-out setup plan publish chains $(TEST_GOALS) bench lint lab clean clean-all help,$(or $(MAKECMDGOALS),all)),)
include $(CHAINS_MK)
endif

$(CHAINS_MK): configs/$(PROFILE).yaml $(CHAINS_SRC) | $(SETUP)
	@mkdir -p $(@D)
	$(LAUNCH) chains --profile $(PROFILE) --make > $@.tmp && mv $@.tmp $@

trained = $(foreach c,$(1),$(OUT)/$(c)/trained.json)
evaluated = $(foreach c,$(1),$(OUT)/eval/$(c)/evaluated.json)
# wise-<alpha> trains nothing: it evaluates the seq chain's adapter
source_of = $(if $(findstring /wise-,$(1)),$(firstword $(subst /, ,$(1)))/seq,$(1))

.SECONDEXPANSION:
# Finished stages are never retrained (train.Chain); this re-runs when code, config or data change.
$(OUT)/%/trained.json: configs/$(PROFILE).yaml $(TRAIN_SRC) $(DATA) | $(SETUP) $(OUT)/plan.json
	@mkdir -p $(OUT)/logs
	CF_TEXT_PROGRESS=1 $(LAUNCH) train --profile $(PROFILE) --chain $* 2>&1 | tee $(OUT)/logs/train-$(subst /,-,$*).log

# Cells already scored from the same checkpoint, input and settings are reused (evaluate.ChainEval).
$(OUT)/eval/%/evaluated.json: $$(call trained,$$(call source_of,$$*)) configs/$(PROFILE).yaml \
                              $(EVAL_SRC) $(DATA) | $(SETUP)
	@mkdir -p $(OUT)/logs
	CF_TEXT_PROGRESS=1 $(LAUNCH) evaluate --profile $(PROFILE) --chain $* 2>&1 | tee $(OUT)/logs/evaluate-$(subst /,-,$*).log

chain: $(call evaluated,$(CHAIN))
	@test -n "$(CHAIN)" || { echo "usage: make chain CHAIN=MODEL/VARIANT [PROFILE=$(PROFILE)]; the chains: make chains" >&2; exit 2; }
	@echo "chain $(CHAIN) ($(PROFILE)): trained and evaluated"
ifneq ($(filter chain,$(MAKECMDGOALS)),)
ifeq ($(filter $(CHAIN),$(STUDY_CHAINS) $(MITIGATION_CHAINS)),)
$(error CHAIN=$(CHAIN) is not a chain of profile $(PROFILE); its chains: $(STUDY_CHAINS) $(MITIGATION_CHAINS))
endif
endif

chains: $(SETUP)
	@$(LAUNCH) chains --profile $(PROFILE)

# ---------------------------------------------------------------- the notebooks: gather, summarise, plot
finetune: $(FINETUNE)

# 02 finds every chain trained: it builds what is missing (none under make), the summary and the loss curves.
$(FINETUNE): notebooks/02_finetune.ipynb configs/$(PROFILE).yaml $(FINETUNE_SRC) $(DATA) \
             $(call trained,$(STUDY_CHAINS)) | $(SETUP)
	$(RUN_NB) 02_finetune --profile $(PROFILE)

evaluate: $(SCORES)

# 03 finds every cell scored; it gathers them into scores.csv and items.csv.
$(SCORES): notebooks/03_evaluate.ipynb configs/$(PROFILE).yaml $(SCORES_SRC) $(DATA) $(FINETUNE) \
           $(call evaluated,$(STUDY_CHAINS)) | $(SETUP)
	$(RUN_NB) 03_evaluate --profile $(PROFILE)

mitigations: $(MITIGATIONS)

# The methods' chains are targets above; seq is the study's (05 evaluates it at the start and the end: reused cells).
$(MITIGATIONS): notebooks/05_mitigations.ipynb configs/$(PROFILE).yaml $(MIT_SRC) $(DATA) \
                $(call trained,$(MITIGATION_TRAINED)) $(call evaluated,$(MITIGATION_CHAINS)) | $(SETUP)
	$(RUN_NB) 05_mitigations --profile $(PROFILE)

dose: $(DOSE)

# The dose study (cf_utils/dose_study.py): one chain's first stage at several learning rates, scored at multiples of the
# default's steps; resumes where it stopped (scored checkpoints are kept, training from its last state).
$(DOSE): configs/$(PROFILE).yaml $(DOSE_SRC) $(DATA) | $(SETUP) $(OUT)/plan.json
	@mkdir -p $(OUT)/logs
	CF_TEXT_PROGRESS=1 $(PY) -m cf_utils.dose_study --profile $(PROFILE) 2>&1 | tee $(OUT)/logs/dose.log

figures: $(REPORT)

# The mitigation study is part of the report unless the profile runs it apart (mitigation.in_reproduce: false);
# then the report includes it once `make mitigations` has made it, and is remade when it changes. The dose study is
# part of it where the profile sets dose.model.
$(REPORT): $(OUT)/plan.json notebooks/04_figures.ipynb configs/$(PROFILE).yaml $(FIG_SRC) \
           data/reference/paper_numbers.csv $(SCORES) \
           $(if $(MITIGATIONS_IN_REPRODUCE),$(MITIGATIONS),$(wildcard $(MITIGATIONS))) $(if $(DOSE_STUDY),$(DOSE)) \
           | $(SETUP)
	$(RUN_NB) 04_figures --profile $(PROFILE)

# The plan, printed and kept once the data is prepared and before any chain trains (an order-only prerequisite of
# every chain): the report sets the time the run took beside it. A resumed run keeps the first one.
$(OUT)/plan.json: $(DATA) configs/$(PROFILE).yaml | $(SETUP)
	$(PY) -m cf_utils.plan --profile $(PROFILE) $(PLAN_ARGS) --out $@

# Each make reproduce is a piece of the run (cf_utils/pieces.py: artifacts/<profile>/pieces.json): begun before
# anything else (refused when an unfinished run began from other committed code), closed once the report is made.
reproduce: | $(SETUP)
	@$(PY) -m cf_utils.pieces begin --profile $(PROFILE)
	@$(MAKE) --no-print-directory $(REPORT) PROFILE=$(PROFILE)
	@$(PY) -m cf_utils.pieces end --profile $(PROFILE)
	@echo "reproduce ($(PROFILE)): report in $(REPORT) (and .html), figures in $(FIGURES_ROOT)/$(PROFILE)/"

# The pilot (cf_utils/pilot.py): the power calculation's assumptions measured once on items set apart from the
# evaluation items (data.pilot_items); prints the block to paste into configs/$(PROFILE).yaml.
# MODEL=<name>: a further model of the study, at stage 0 only (its block goes under data.pilot_by_model).
pilot: $(DATA) | $(SETUP)
	$(PY) -m cf_utils.pilot --profile $(PROFILE) $(if $(MODEL),--model $(MODEL))

# PLAN_ARGS="--peak 66": assume a matmul peak (GFLOP/s) instead of measuring it (a busy machine reads low).
# An offline profile's data is prepared first (under a minute, no network): the plan counts its real items and
# tokens. A hub profile (data.source: hub) plans from typical sizes until `make data` has run.
PLAN_ARGS ?=
PLAN_DATA := $(if $(shell grep -ls '^ *source: hub' configs/$(PROFILE).yaml),,$(DATA))
plan: $(PLAN_DATA) | $(SETUP)
	$(PY) -m cf_utils.plan --profile $(PROFILE) $(PLAN_ARGS)

# The last run of a profile, published: copied to results/<profile>/ (committed) with the README block.
# Only a run from committed code; it does not re-run anything (the manifest names the commit).
publish: $(SETUP)
	$(PY) -m cf_utils.publish --profile $(PROFILE)

# ---------------------------------------------------------------- checks
# Two tiers (README, Tests). Every test is in one: pytest -m "not slow" in make test, -m slow in make test-all.
#   make test       what .ci/run runs and a reader runs: test-unit, test-chain, test-kill, in this order
#   make test-all   the rest (the full soak, real models, distributed, JupyterLab): a developer runs it before
#                   resolving an issue that touches those parts
# pytest lists its 15 slowest tests, and each failure with the command that reruns it alone (tests/conftest.py);
# a step that fails names the make command that reruns it alone. TEST_ARGS: more pytest options.
PYTEST := $(PY) -m pytest --durations=15
# The kill's seed: the commit's (another kill each commit, the same one on a rerun); KILL_SEED=... chooses one.
KILL_SEED ?= $(or $(shell git rev-parse --short=8 HEAD 2>/dev/null),0)
failed = { echo "make $@ failed: $(1)" >&2; exit 1; }

test: test-unit  # then the chain and the kill, also under make -j: unit tests that fail stop it early
	@$(MAKE) --no-print-directory test-kill

test-unit: $(SETUP)
	$(PYTEST) -m "not slow" $(TEST_ARGS) \
	    || $(call failed,rerun a failing test alone with its command above; all: make test-unit)

# The smoke chain end to end, once: the clean run test-kill compares with, and whose outputs .ci/run checks.
test-chain: $(SETUP)
	$(MAKE) --no-print-directory reproduce PROFILE=smoke \
	    || $(call failed,the smoke chain; rerun it alone: make reproduce PROFILE=smoke)

# One fault: a copy of test-chain's run loses a chain from a stage on, and make reproduce in it is SIGKILLed at a
# seeded moment, then resumed; scores.csv and the other results must equal the clean run's byte for byte.
test-kill: test-chain
	$(PY) tests/soak.py --kill-once --profile smoke --seed $(KILL_SEED) \
	    || $(call failed,the kill check (seed $(KILL_SEED)); rerun it alone: make test-kill KILL_SEED=$(KILL_SEED))

test-all: $(SETUP)
	$(PYTEST) -m slow $(TEST_ARGS) \
	    || $(call failed,rerun a failing test alone with its command above; all: make test-all)

# Speed targets are checked here, not by timed unit tests. Uses the cpu profile's data and models.
bench: $(SETUP) $(DATA_ROOT)/cpu/MANIFEST.json
	@mkdir -p $(ARTIFACTS_ROOT)/bench
	$(PY) benchmarks/train_speed.py --json $(ARTIFACTS_ROOT)/bench/train_speed.json
	$(PY) benchmarks/train_speed.py --model gemma3-270m --json $(ARTIFACTS_ROOT)/bench/train_speed_gemma3.json
	$(PY) benchmarks/eval_speed.py --json $(ARTIFACTS_ROOT)/bench/eval_speed.json
	$(PY) benchmarks/gen_speed.py --json $(ARTIFACTS_ROOT)/bench/gen_speed.json
	$(PY) benchmarks/process_speed.py --json $(ARTIFACTS_ROOT)/bench/process_speed.json
	$(PY) benchmarks/process_speed.py --model gemma3-270m --items 10 --harness-batches 4 \
	    --json $(ARTIFACTS_ROOT)/bench/process_speed_gemma3.json
	$(PY) benchmarks/precision_agreement.py --json $(ARTIFACTS_ROOT)/bench/precision_agreement.json

lint: $(SETUP)
	$(PY) -m ruff check cf_utils tests benchmarks
	$(PY) -m ruff format --check cf_utils tests benchmarks

# JupyterLab serves the whole repository (report.html, figures/ and the executed notebooks in artifacts/
# open from its file browser), starting in notebooks/. Root (Docker, review VMs) needs --allow-root.
# Remote machine: make lab LAB_ARGS="--no-browser --port 8888", then ssh -L 8888:localhost:8888 host.
LAB_ARGS ?=
lab: $(SETUP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=$(CURDIR) --LabApp.default_url=/lab/tree/notebooks \
	    $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# ---------------------------------------------------------------- cleaning
clean:
	rm -rf $(DATA_ROOT)/$(PROFILE) $(ARTIFACTS_ROOT)/$(PROFILE) $(FIGURES_ROOT)/$(PROFILE)

clean-all:
	rm -rf $(filter-out data/reference data/README.md,$(wildcard data/*)) artifacts figures/*/ $(VENV)
