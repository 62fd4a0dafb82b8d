# Two commands do all the set-up on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := build/demo

.PHONY: venv test test-fast demo clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,decord]'
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/python scripts/make_synthetic_dataset.py --output_dir=$(DEMO)/data
	$(BIN)/python -m preprocess --manifest=$(DEMO)/data/WLASL_v0.3.json \
		--video_dir=$(DEMO)/data/videos --output_dir=$(DEMO)/records

clean:
	rm -rf build $(VENV)
