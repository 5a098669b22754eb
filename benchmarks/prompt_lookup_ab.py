"""A/B of llama.cpp prompt-lookup decoding (llama-cpp-python's `draft_model`) on the answer call, and what a
question's prompt costs cold and with its prefix reused.

Starts the embedded llama.cpp server twice on the 1.5B (plain, then `--draft_model prompt-lookup-decoding`). The QA
prompt (the newest `prompts/qa/`, rendered by the prompt store and the qa service's passage renderer) is built over
the first eight sentences of an example report for four questions. Each prompt is evaluated once with one generated
token (its cost: cold for the first question, its shared prefix reused after), then the answer itself is timed
under the answer's JSON schema. Prints seconds per answer, generated tokens, and whether both servers wrote the
same answers.

Usage: python benchmarks/prompt_lookup_ab.py [--model data/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from openai import OpenAI

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.adapters.files.prompts import YamlPromptStore  # noqa: E402
from service.ask.evidence import render_passages  # noqa: E402
from service.ask.service import QAOutput  # noqa: E402
from service.core.segment import segment  # noqa: E402
from service.domain.models import Passage, ScoredPassage  # noqa: E402
from service.domain.ports import PromptTemplate  # noqa: E402

QUESTIONS = [
    "What period does the UN panel's report cover?",
    "How much did North Korea earn from cyber theft according to the UN panel?",
    "How many pages does the UN panel's report run to?",
    "What did the panel say about Iran?",
]
PORT = 8766


def run(model: Path, extra: list[str], prompt: PromptTemplate, passages: str) -> list[tuple[float, float, str, int]]:
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--port",
        str(PORT),
        "--n_ctx",
        "4096",
        "--n_threads",
        "2",
        "--n_threads_batch",
        "2",
        "--n_batch",
        "512",
        "--n_ubatch",
        "512",
        "--verbose",
        "False",
        *extra,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = OpenAI(base_url=f"http://127.0.0.1:{PORT}/v1", api_key="local", max_retries=0, timeout=600)
    try:
        for _ in range(180):
            try:
                client.models.list()
                break
            except Exception:  # the server is still loading
                time.sleep(1)
        out = []
        schema = {"type": "json_object", "schema": QAOutput.model_json_schema()}
        for q in QUESTIONS:
            m = prompt.render(passages=passages, question=q)
            t0 = time.perf_counter()
            client.chat.completions.create(model="m", messages=m, max_tokens=1, temperature=0)  # type: ignore[arg-type]
            t1 = time.perf_counter()
            r = client.chat.completions.create(
                model="m",
                messages=m,
                max_tokens=200,
                temperature=0,  # type: ignore[arg-type]
                response_format=schema,
            )  # type: ignore[arg-type]
            t2 = time.perf_counter()
            tokens = r.usage.completion_tokens if r.usage else 0
            out.append((t1 - t0, t2 - t1, r.choices[0].message.content or "", tokens))
        return out
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "data/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    args = ap.parse_args()
    prompt = YamlPromptStore(ROOT / "prompts").get("qa")
    text = (ROOT / "examples/reports/01_panel_findings.txt").read_text(encoding="utf-8")
    hits = [
        ScoredPassage(
            passage=Passage(
                id=f"doc:{i:05d}",
                document_id="doc",
                index=i,
                start=x.start,
                end=x.end,
                text=text[x.start : x.end],
                title="Panel findings",
            ),
            score=1.0,
        )
        for i, x in enumerate(segment(text)[:8])
    ]
    passages = render_passages(hits)
    runs = {}
    for name, extra in [("plain", []), ("prompt-lookup", ["--draft_model", "prompt-lookup-decoding"])]:
        runs[name] = run(args.model, extra, prompt, passages)
        rows = runs[name]
        print(
            f"{name}: prompt s {[round(r[0], 2) for r in rows]}; answer s {[round(r[1], 2) for r in rows]} "
            f"(median {statistics.median(r[1] for r in rows):.2f}); tokens {[r[3] for r in rows]}"
        )
    same = [a[2] == b[2] for a, b in zip(runs["plain"], runs["prompt-lookup"], strict=True)]
    print(f"same answers: {same}")


if __name__ == "__main__":
    main()
