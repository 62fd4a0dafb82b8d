# Two commands do all the set-up on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := build/demo

.PHONY: venv lint test test-fast demo clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,decord]'
	touch $(STAMP)

venv: $(STAMP)

# Lint and format check first: seconds, and a style slip should not wait for the suite.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One pytest worker per core; a test file stays on one worker, so its module fixtures are built once.
test: lint
	$(BIN)/python -m pytest -q -n auto --dist=loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

# Synthetic videos → preprocess (Beam) → train → evaluate on the test split → predict one video.
demo: $(STAMP)
	rm -rf $(DEMO)
	$(BIN)/python scripts/make_synthetic_dataset.py --output_dir=$(DEMO)/data
	$(BIN)/python -m preprocess --manifest=$(DEMO)/data/WLASL_v0.3.json \
		--video_dir=$(DEMO)/data/videos --output_dir=$(DEMO)/records
	$(BIN)/python -m training --tfrecord_glob='$(DEMO)/records/train-*' \
		--val_tfrecord_glob='$(DEMO)/records/val-*' --batch_size=8 --epochs=6 \
		--model_dir=$(DEMO)/run --verbose=2
	$(BIN)/python -m training.evaluate --model_dir=$(DEMO)/run \
		--tfrecord_glob='$(DEMO)/records/test-*'
	$(BIN)/python -m training.predict --model_dir=$(DEMO)/run --fps=25 \
		--video=$(DEMO)/data/videos/01005.mp4
	@echo "demo outputs: $(DEMO)/records (shards), $(DEMO)/run (model, logs, metrics)"

clean:
	rm -rf build $(VENV)
