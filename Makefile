# Two commands on a fresh machine: `make demo` and `make test`.
# TORCH_SPEC is installed first so no multi-GB CUDA build is pulled on CPU machines;
# GPU users: make demo TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu124"
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: install demo test bench bench-events bench-events-quick reproduce reproduce-paper toy compare clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install -q --disable-pip-version-check $(TORCH_SPEC)
	$(PIP) install -q --disable-pip-version-check -e ".[test,export]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/raresound demo --out runs/demo

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) benchmarks/features.py
	$(PY) benchmarks/training.py

# The DCASE 2017 Task 2 protocol (synthetic sources, 500 + 500 mixtures per class): results in runs/bench-events
bench-events: $(STAMP)
	$(VENV)/bin/raresound bench events --out runs/bench-events

bench-events-quick: $(STAMP)
	$(VENV)/bin/raresound bench events --quick --out runs/bench-events-quick

reproduce: $(STAMP)
	$(VENV)/bin/raresound reproduce --config configs/reproduce/esc50-lstm-cpu.yaml

# The paper's classes (dog, baby, gunshot) from real ESC-50 + UrbanSound8K audio, both ratios, learning curve
reproduce-paper: $(STAMP)
	$(VENV)/bin/raresound reproduce --config configs/reproduce/paper-lstm-cpu.yaml

compare: $(STAMP)
	$(VENV)/bin/raresound demo --configs configs/compare-synthetic.yaml --out runs/compare-synthetic

toy: $(STAMP)
	$(VENV)/bin/raresound toy --out runs/toy

clean:
	rm -rf runs .pytest_cache
