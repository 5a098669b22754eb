"""`/v1/ask` beside the plain tutorial pipeline and the floor, on the same questions, in one run, over real HTTP.

One embedded llama.cpp server (the chosen local model) serves all three, one request at a time:
- Dossier: `POST /v1/ask` with `stream: true`; seconds to the first verified sentence and to the final answer;
- the tutorial (`benchmarks/tutorial_rag.py`: chunks of 1000, the top 4, `rlm/rag-prompt`) over the same reports;
- the floor: one call of Dossier's answer prompt over the very sentences Dossier showed, generating only the
  answer (no judges, no retrieval). No answer of Dossier's can cost less.
Per question the order is Dossier, tutorial, floor, so each starts with the server's KV cache holding another
prompt (the floor's prompt is evaluated cold, like Dossier's). Prints each question, the medians and the ratios.

Usage: python benchmarks/ask_latency.py [--model qwen2.5-coder-1.5b] [--questions N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_core.documents import Document as LCDocument  # noqa: E402

from benchmarks.tutorial_rag import tutorial_answer, tutorial_store  # noqa: E402
from service.ask.evidence import render_passages  # noqa: E402
from service.ask.service import QAOutput  # noqa: E402
from service.config import Settings  # noqa: E402
from service.container import Container  # noqa: E402
from service.core.structured import ask_structured  # noqa: E402
from service.domain.models import Passage, ScoredPassage  # noqa: E402
from tests.conftest import LiveServer  # noqa: E402

QUESTIONS = [
    "In what year did the most recent shipment take place?",
    "Which Iranian research center received help from North Korean specialists?",
    "What type of drones were shown at the October 2020 parade?",
    "What did Iran's mission say about the panel's information?",
    "How many new ICBMs did the Pacific Arms Observatory count in the parade?",
    "How much did North Korea earn from cyber theft according to the panel?",
    "Who is the chairman of the Security Council's sanctions committee?",
    "What is the range of the new ICBM?",
]


def dossier(url: str, question: str) -> dict[str, Any]:
    """One streamed ask: seconds to the first verified sentence (None without one) and to the answer."""
    t0 = time.monotonic()
    first: float | None = None
    shown: list[dict[str, Any]] = []
    answer: dict[str, Any] = {}
    with httpx.stream("POST", f"{url}/v1/ask", json={"question": question, "stream": True}, timeout=900) as r:
        event = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "passages":
                    shown = data["shown"]
                elif event == "sentence" and first is None:
                    first = time.monotonic() - t0
                elif event == "answer":
                    answer = data["answer"]
    return {"total": time.monotonic() - t0, "first": first, "shown": shown, "answer": answer}


def floor(c: Container, shown: list[dict[str, Any]], question: str) -> float:
    """Seconds for Dossier's answer call alone over the sentences it showed."""
    hits = []
    for s in shown:
        doc = c.repo.get(s["document_id"])
        assert doc is not None, s["document_id"]
        index = int(s["passage_id"].rsplit(":", 1)[1])
        hits.append(
            ScoredPassage(
                passage=Passage(
                    id=s["passage_id"],
                    document_id=s["document_id"],
                    index=index,
                    start=s["start"],
                    end=s["end"],
                    text=s["text"],
                    title=doc.title,
                    source=doc.source,
                    published=doc.published,
                ),
                score=1.0,
            )
        )
    prompt = c.prompts.get("qa")
    t0 = time.monotonic()
    ask_structured(
        c.chat,
        prompt.render(passages=render_passages(hits), question=question),
        QAOutput,
        max_tokens=prompt.max_tokens,
        schema_name="qa_answer",
    )
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--questions", type=int, default=len(QUESTIONS))
    args = ap.parse_args()
    models_dir = Path(os.environ.get("DOSSIER_TEST_MODELS_DIR", ROOT / "data" / "models"))
    reports = sorted((ROOT / "examples" / "reports").glob("*.txt"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), models_dir=models_dir, local_model=args.model)  # type: ignore[arg-type]
        with LiveServer(settings, start_llm=True) as api:
            while httpx.get(f"{api.url}/readyz", timeout=5).status_code != 200:
                time.sleep(1)
            for f in reports:
                httpx.post(f"{api.url}/v1/documents", files={"file": (f.name, f.read_bytes())}, timeout=120)
            c = api.container
            docs = [LCDocument(page_content=f.read_text(encoding="utf-8"), metadata={"id": f.name}) for f in reports]
            store = tutorial_store(c, docs, "latency")
            for q in QUESTIONS[: args.questions]:
                d = dossier(api.url, q)
                t0 = time.monotonic()
                tutorial_answer(c, store, q)
                tutorial_s = time.monotonic() - t0
                floor_s = floor(c, d["shown"], q) if d["shown"] else None
                rows.append(
                    {
                        "q": q,
                        "dossier": d["total"],
                        "first": d["first"],
                        "tutorial": tutorial_s,
                        "floor": floor_s,
                        "calls": d["answer"].get("meta", {}).get("usage", {}).get("calls"),
                        "abstained": d["answer"].get("abstained"),
                    }
                )
                r = rows[-1]
                first = "-" if r["first"] is None else f"{r['first']:.1f}"
                fl = "-" if floor_s is None else f"{floor_s:.1f}"
                print(
                    f"  dossier {r['dossier']:5.1f}s (first sentence {first}) tutorial {tutorial_s:5.1f}s floor {fl}s"
                    f"  {q[:60]!r}",
                    flush=True,
                )
    med = {k: statistics.median(v) for k in ("dossier", "tutorial") if (v := [r[k] for r in rows])}
    floors = [r["floor"] for r in rows if r["floor"] is not None]
    share = [r["first"] / r["dossier"] for r in rows if r["first"] is not None]
    print("\n| measure | median |\n|---|---|")
    print(f"| Dossier `/v1/ask`, s | {med['dossier']:.1f} |")
    print(f"| tutorial pipeline, s | {med['tutorial']:.1f} |")
    print(f"| Dossier / tutorial | {med['dossier'] / med['tutorial']:.2f} |")
    if floors:
        print(f"| floor (Dossier's answer call alone), s | {statistics.median(floors):.1f} |")
        print(f"| floor / tutorial | {statistics.median(floors) / med['tutorial']:.2f} |")
    if share:
        print(
            f"| first verified sentence / whole answer ({len(share)} of {len(rows)} answered) | "
            f"{statistics.median(share):.2f} |"
        )


if __name__ == "__main__":
    main()
