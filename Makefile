# Two entry points: `make demo` (install + compress a Kodak image) and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
IMAGE ?= assets/kodim23.png

.PHONY: demo test test-fast install clean

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

clean:
	rm -rf $(VENV) out
