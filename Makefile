# Entry points: `make demo` (install + compress a Kodak image), `make test`, and `make results`
# (the headline figures again from this tree, given ../shared/data; benchmarks/results.sh).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
IMAGE ?= assets/kodim23.png

.PHONY: demo test test-fast results install clean

$(BIN)/licq: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[eval,test]"
	touch $@

install: $(BIN)/licq

demo: install
	mkdir -p out
	$(BIN)/licq encode $(IMAGE) -o out/demo.licq --verbose
	$(BIN)/licq info out/demo.licq
	$(BIN)/licq decode out/demo.licq -o out/demo.png --verbose

test: install
	$(BIN)/python -m pytest -q

test-fast: install   # the fast tier: everything but the subprocess matrices and multi-process runs
	$(BIN)/python -m pytest -q -m "not slow"

results: install   # Kodak RD plot and BD-rates, held-out photos, results/README.md (FRESH=1: recode all)
	bash benchmarks/results.sh

clean:
	rm -rf $(VENV) out
