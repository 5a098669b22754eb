"""The anchor: the plain LangChain RAG tutorial pipeline beside Dossier, on the same questions, in the same run.

The tutorial ("Build a RAG app", LangChain docs): RecursiveCharacterTextSplitter (chunks of 1000, overlap 200),
Chroma with the same embeddings Dossier uses (all-MiniLM-L6-v2), the top 4 chunks, the tutorial's prompt
(`rlm/rag-prompt`) and the same model on the same endpoint, temperature 0. No checks: it answers whatever the
model writes. It declines when the model says it does not know (`DECLINED` below, generous on purpose).

Dossier is run first through the eval runner (`dossier eval --suite qa,squad --split ...`: its report is written
under evals/reports/), then the tutorial over the very same corpus and questions. Printed per suite and split:
answerable accuracy, unanswerable declined, wrong answers among those answered, right decisions (answerable and
right, or unanswerable and declined), and median seconds per question.

Usage: python benchmarks/tutorial_rag.py [--split heldout] [--suites qa squad] [--subset ci] [--limit N]
       [--tutorial-only]   (the tutorial alone; with --dossier-results a saved results.json is put beside it)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from langchain_chroma import Chroma  # noqa: E402
from langchain_core.documents import Document as LCDocument  # noqa: E402
from langchain_core.embeddings import Embeddings  # noqa: E402
from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: E402

from service.config import REPO_ROOT, Settings  # noqa: E402
from service.container import Container  # noqa: E402
from service.evaluation import metrics as m  # noqa: E402
from service.evaluation.golden import Golden, QAItem, load_golden, report_texts  # noqa: E402

# The tutorial's prompt (LangChain hub `rlm/rag-prompt`), sent as one user message.
RAG_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved context to answer "
    "the question. If you don't know the answer, just say that you don't know. Use three sentences maximum and "
    "keep the answer concise.\nQuestion: {question} \nContext: {context} \nAnswer:"
)
# How the tutorial declines: the prompt asks it to say it does not know; any such phrasing counts.
DECLINED = re.compile(
    r"\b(don'?t|do not|does not|doesn'?t|cannot|can'?t|not able to|unable to) (know|say|determine|find|provide|"
    r"answer|specify|mention|contain|state)|\bnot (mentioned|stated|specified|provided|available|found|given)\b|"
    r"\bno (information|mention|details?)\b",
    re.IGNORECASE,
)


class _Embeddings(Embeddings):
    """Dossier's embedder (the same all-MiniLM-L6-v2) behind LangChain's interface."""

    def __init__(self, c: Container) -> None:
        self._e = c.embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._e.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._e.embed_query(text)


def _corpora(golden: Golden) -> dict[str, list[LCDocument]]:
    """Documents per collection, as the eval ingests them."""
    reports = report_texts(golden.corpus_dirs)
    out = {"default": [LCDocument(page_content=t, metadata={"id": s}) for s, t in reports.items()]}
    for a in golden.articles:
        out[a.collection] = [LCDocument(page_content=p.text, metadata={"id": p.id}) for p in a.paragraphs]
    return out


def tutorial_store(c: Container, docs: list[LCDocument], name: str) -> Chroma:
    """The tutorial's index: chunks of 1000 characters (overlap 200) in Chroma, with Dossier's embedder."""
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    return Chroma.from_documents(splitter.split_documents(docs), _Embeddings(c), collection_name=f"tutorial-{name}")


def tutorial_answer(c: Container, store: Chroma, question: str) -> tuple[str, bool, int]:
    """The tutorial's answer to one question: its text, whether it declined, and the prompt tokens it cost."""
    chunks = store.similarity_search(question, k=4)
    context = "\n\n".join(d.page_content for d in chunks)
    reply = c.chat.chat(
        [{"role": "user", "content": RAG_PROMPT.format(question=question, context=context)}], max_tokens=200
    )
    text = reply.content.strip()
    return text, bool(DECLINED.search(text)), reply.usage.prompt_tokens


def run_tutorial(
    c: Container, golden: Golden, items: list[tuple[str, QAItem]], limit: int | None
) -> list[dict[str, Any]]:
    """Every (suite, item) through the tutorial pipeline; one row each."""
    stores = {name: tutorial_store(c, docs, name) for name, docs in _corpora(golden).items()}
    rows = []
    for n, (suite, item) in enumerate(items[:limit], 1):
        t0 = time.monotonic()
        text, declined, prompt_tokens = tutorial_answer(c, stores[item.collection], item.question)
        rows.append(
            {
                "suite": suite,
                "id": item.id,
                "split": item.split,
                "answerable": item.answerable,
                "answer": text,
                "declined": declined,
                "correct": item.answerable and not declined and m.answer_correct(text, False, item.key_facts),
                "seconds": round(time.monotonic() - t0, 2),
                "prompt_tokens": prompt_tokens,
            }
        )
        print(f"  tutorial {n}/{len(items[:limit])} {rows[-1]['seconds']:5.1f}s {item.id}: {text[:70]!r}", flush=True)
    return rows


def dossier_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The eval runner's QA rows in the tutorial's terms."""
    return [
        {
            "suite": r["suite"],
            "id": r["id"].split(":", 1)[1],
            "split": r["split"],
            "answerable": r["answerable"],
            "declined": r["abstained"],
            "correct": bool(r.get("correct")),
            "seconds": r["latency_s"],
            "cached": r.get("cached", False),
        }
        for r in result["items"]
        if r["suite"] in ("qa", "squad")
    ]


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    answered = [r for r in rows if not r["declined"]]
    right = sum(r["correct"] for r in ans) + sum(r["declined"] for r in una)
    secs = [r["seconds"] for r in rows if not r.get("cached")]
    return {
        "n": len(rows),
        "answerable_accuracy": m.ratio(sum(r["correct"] for r in ans), len(ans)),
        "unanswerable_declined": m.ratio(sum(r["declined"] for r in una), len(una)),
        "wrong_of_answered": m.ratio(sum(not r["correct"] for r in answered), len(answered)),
        "right_decisions": right,
        "right_share": m.ratio(right, len(rows)),
        "median_s": statistics.median(secs) if secs else None,
    }


def table(dossier: list[dict[str, Any]], tutorial: list[dict[str, Any]]) -> str:
    lines = [
        "| suite / split | pipeline | n | answerable right | unanswerable declined | wrong of answered "
        "| right decisions | median s |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3f}"

    groups = sorted({(r["suite"], r["split"]) for r in tutorial + dossier})
    for suite, split in groups:
        for name, rows in (("tutorial", tutorial), ("dossier", dossier)):
            part = [r for r in rows if (r["suite"], r["split"]) == (suite, split)]
            if not part:
                continue
            s = summarise(part)
            secs = "n/a" if s["median_s"] is None else f"{s['median_s']:.1f}"
            lines.append(
                f"| {suite} / {split} | {name} | {s['n']} | {f(s['answerable_accuracy'])} | "
                f"{f(s['unanswerable_declined'])} | {f(s['wrong_of_answered'])} | {s['right_decisions']} "
                f"({f(s['right_share'])}) | {secs} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["dev", "heldout"], default="heldout")
    ap.add_argument("--suites", nargs="+", choices=["qa", "squad"], default=["qa", "squad"])
    ap.add_argument("--subset", choices=["ci"], default=None)
    ap.add_argument("--limit", type=int, default=None, help="only the first N questions (a quick look)")
    ap.add_argument("--tutorial-only", action="store_true")
    ap.add_argument("--dossier-results", type=Path, default=None, help="a saved results.json to compare with")
    ap.add_argument("--cache", action="store_true", help="answer repeated tutorial prompts from the eval cache")
    ap.add_argument("--out", type=Path, default=None, help="write both pipelines' rows here (JSON)")
    args = ap.parse_args()

    golden = load_golden(REPO_ROOT / "evals" / "golden", REPO_ROOT / "examples" / "reports").split(args.split)
    golden = golden.subset(args.subset)
    items = [(s, i) for s in args.suites for i in (golden.qa if s == "qa" else golden.squad)]
    settings = Settings()
    dossier: list[dict[str, Any]] = []
    if args.dossier_results:
        dossier = dossier_rows(json.loads(args.dossier_results.read_text()))
    elif not args.tutorial_only:
        from service.evaluation.command import run_and_report

        trimmed = golden.model_copy(update={"qa": golden.qa[: args.limit], "squad": golden.squad[: args.limit]})
        dossier = dossier_rows(run_and_report(settings, trimmed, args.suites, subset=args.subset)[0])
    cache = REPO_ROOT / "evals" / ".cache" / "responses.sqlite" if args.cache else None
    c = Container(settings, response_cache=cache)
    try:
        tutorial = run_tutorial(c, golden, items, args.limit)
    finally:
        c.close()
    print()
    print(table(dossier, tutorial))
    if args.out:
        args.out.write_text(json.dumps({"dossier": dossier, "tutorial": tutorial}, indent=1))


if __name__ == "__main__":
    main()
