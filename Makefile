# raqib: `make demo` scores the bundled sample channel dump; `make test` runs the test suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS := test,train,report,parquet,ray
SRC    := $(shell find src models -type f -not -path '*/__pycache__/*' 2>/dev/null) pyproject.toml
DEMO_OUT ?= out/demo

.PHONY: help install demo test test-all bench challenge train evaluate clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# torch first, pinned: on these machines 2.13.0 is a local CPU build; a looser spec pulls CUDA wheels.
$(VENV)/.deps: $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q ".[$(EXTRAS)]"
	touch $@

# A regular (non-editable) install, so tests exercise what a wheel ships.
$(VENV)/.installed: $(VENV)/.deps $(SRC)
	$(PY) -m pip install -q --no-deps --force-reinstall .
	touch $@

install: $(VENV)/.installed  ## create .venv and install raqib with all extras

demo: install  ## score the bundled sample Telegram export with the default model
	$(VENV)/bin/raqib --version
	$(VENV)/bin/raqib score tests/data/sample_channel/result.json -o $(DEMO_OUT)/scores.jsonl
	$(VENV)/bin/raqib report $(DEMO_OUT)/scores.jsonl --report $(DEMO_OUT)/report --posts tests/data/sample_channel/result.json

test: install  ## run the fast test suite
	$(PY) -m pytest -q

test-all: install  ## run every test, slow ones included
	$(PY) -m pytest -q -m ""

bench: install  ## throughput benchmark: plain transformers pipeline vs raqib
	$(PY) benchmarks/throughput.py --repeats 2

FLOORS = --min-precision violent_call=0.5 --min-precision propaganda=0.9

train: install  ## retrain the shipped model from ../shared/data: four runs averaged (about 3 hours on 2 cores, bf16)
	for seed in 0 1; do \
	  $(VENV)/bin/raqib train --recipe mined_threats --seed $$seed -o out/runs/mined_threats-$$seed \
	    --data-dir ../shared/data --epochs 1.5 --max-minutes 120 $(FLOORS) || exit 1; \
	  $(VENV)/bin/raqib train --recipe default --seed $$seed -o out/runs/default-$$seed \
	    --data-dir ../shared/data --epochs 1.5 --max-minutes 120 $(FLOORS) || exit 1; \
	done
	$(PY) training/soup.py out/runs/mined_threats-0 out/runs/mined_threats-1 out/runs/default-0 \
	  out/runs/default-1 -o models/raqib-ar-v1 --recipe mined_threats --data-dir ../shared/data $(FLOORS)

evaluate: install  ## rebuild the shipped model's test-split report and model card
	bash evaluation/evaluate_shipped.sh

challenge: install  ## per-slice challenge suite for the shipped model and the TF-IDF baseline
	$(VENV)/bin/raqib challenge --data-dir ../shared/data

clean:  ## remove the virtual environment and outputs
	rm -rf $(VENV) out build dist

FUZZ_SECONDS ?= 120
SOAK_POSTS   ?= 1000000
.PHONY: fuzz soak

fuzz: install  ## fuzz each reader for FUZZ_SECONDS (120) s; crash inputs go to out/fuzz
	$(PY) benchmarks/fuzz_readers.py --seconds $(FUZZ_SECONDS) --crashes out/fuzz

soak: install  ## SOAK_POSTS (1,000,000) posts, 1% bad, through raqib stream and score: counts, order, RSS
	$(PY) benchmarks/soak.py --posts $(SOAK_POSTS) --workdir out/soak --json out/soak/report.json
