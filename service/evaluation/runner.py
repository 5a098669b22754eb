"""Runs the golden suites against a fresh data dir with the configured model and scores them."""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from service.adapters.files.loaders import SUPPORTED
from service.config import Settings
from service.container import Container
from service.domain.errors import ConfigurationError, DossierError
from service.domain.models import Answer, Document, DocumentMeta, RetrievalFilter, RunMeta, Usage
from service.evaluation import metrics as m
from service.evaluation.disagreements import pair_rows as pair_rows_claims
from service.evaluation.entities import pair_rows
from service.evaluation.golden import Golden, QAItem
from service.evaluation.machine import git_head, machine_info
from service.evaluation.scoring import (
    curves,
    denominators,
    failure_counts,
    gold_span,
    qa_failure_stage,
    score_extraction,
    score_summary,
    totals,
    totals_by_split,
)
from service.extract.schemas import REPORT_FACTS
from service.ingest.service import IngestFailure, IngestResult, expand_paths

SUITES = ("qa", "squad", "extract", "summary", "injection", "entities", "disagreements")
Progress = Callable[[str, int, int], None]
T = TypeVar("T")
P = ParamSpec("P")


class EvalRunner:
    """Ingests the eval corpus into a temporary data dir, runs the chosen suites, returns results."""

    def __init__(
        self,
        settings: Settings,
        golden: Golden,
        *,
        subset: str | None,
        cache_path: Path | None,
        progress: Progress | None = None,
    ) -> None:
        self._base = settings
        self._golden = golden.subset(subset)
        self._subset = subset or "full"
        self._cache_path = cache_path
        self._progress = progress or (lambda _s, _d, _t: None)

    def run(self, suites: list[str]) -> dict[str, Any]:
        """Run `suites` (names from SUITES) and return the results document (see evals/README.md)."""
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="dossier-eval-") as tmp:
            settings = self._base.model_copy(
                update={
                    "data_dir": Path(tmp),
                    "models_dir": self._base.resolved_models_dir.resolve(),
                    "database_url": None,
                    "chroma_path": None,
                    "collection": f"eval_{int(time.time())}" if self._base.chroma_url else self._base.collection,
                }
            )
            c = Container(settings, response_cache=self._cache_path)
            try:
                docs = self._ingest(c)
                items: list[dict[str, Any]] = []
                for suite in suites:
                    items += getattr(self, f"_{suite}")(c, docs)
                cache = c.response_cache
                result: dict[str, Any] = {
                    "run": _run_id(settings, self._subset),
                    "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "subset": self._subset,
                    "suites": suites,
                    "model": c.chat.model_name,
                    "settings_hash": settings.settings_hash(),
                    "prompts": {t: c.prompts.get(t).ref for t in ("qa", "extract", "summarize")},
                    "calibrator": c.qa.calibrator_ref,
                    "calibrators": _calibrators(c, suites),
                    "git": git_head(),
                    "cache": {"hits": cache.hits, "misses": cache.misses} if cache else None,
                    "machine": machine_info(settings.llm_base_url, settings.local_threads, settings.local_batch),
                    "metrics": totals(items, suites, k=settings.qa_passages),
                    "counts": denominators(items, suites, k=settings.qa_passages),
                    "splits": totals_by_split(items, suites, k=settings.qa_passages),
                    "failures": failure_counts(items),
                    "selective": curves(items, c.qa.min_confidence),
                    "items": items,
                }
            finally:
                c.close()
        result["wall_s"] = round(time.monotonic() - t0, 1)
        return result

    def _ingest(self, c: Container) -> dict[str, Document]:
        batches = [("default", expand_paths(self._golden.corpus_dirs, SUPPORTED))] + [
            (name, expand_paths([folder], SUPPORTED)) for name, folder in self._golden.collection_dirs.items()
        ]
        total = sum(len(files) for _, files in batches)
        docs: dict[str, Document] = {}
        seen: list[Path] = []

        def step(path: Path, result: IngestResult | IngestFailure) -> None:
            seen.append(path)
            if isinstance(result, IngestResult):
                docs[path.stem] = result.document
            self._progress("ingest", len(seen), total)

        for collection, files in batches:
            _, failures = c.ingest.ingest_paths(files, on_progress=step, collection=collection)
            if failures:
                raise ConfigurationError(f"eval corpus failed to ingest: {failures[0].path}: {failures[0].error}")
        asked = {i.collection for i in self._golden.squad}
        paragraphs = [(a, p) for a in self._golden.articles if a.collection in asked for p in a.paragraphs]
        for n, (article, para) in enumerate(paragraphs, start=1):
            meta = DocumentMeta(title=f"{article.title} ({para.id})", source="SQuAD 2.0")
            docs[para.id] = c.ingest.ingest_text(para.text, meta, para.id, article.collection).document
            self._progress("ingest squad", n, len(paragraphs))
        return docs

    # -- suites ------------------------------------------------------------------------------------
    def _qa(self, c: Container, docs: dict[str, Document], suite: str = "qa") -> list[dict[str, Any]]:
        out = []
        items = self._golden.qa if suite == "qa" else self._golden.squad
        for n, item in enumerate(items, start=1):
            before = _cache_counts(c)
            out.append(self._qa_item(c, docs, item, suite) | {"cached": _from_cache(c, before)})
            self._progress(suite, n, len(items))
        return out

    def _squad(self, c: Container, docs: dict[str, Document]) -> list[dict[str, Any]]:
        return self._qa(c, docs, "squad")

    def _qa_item(self, c: Container, docs: dict[str, Document], item: QAItem, suite: str) -> dict[str, Any]:
        gold = [gold_span(docs[ev.document], ev.quote) for ev in item.evidence]
        k = c.settings.qa_passages
        flt = RetrievalFilter(collections=[item.collection])
        pool = c.retriever.retrieve(item.question, max(k, c.settings.retrieval_candidates), flt)
        ranked = [(h.passage.document_id, h.passage.start, h.passage.end) for h in pool[:k]]
        answer, error = _attempt(c.qa.ask, item.question, flt)
        shown_ids = set(answer.shown) if answer else set()
        shown = [(h.passage.document_id, h.passage.start, h.passage.end) for h in pool if h.passage.id in shown_ids]
        cited = [(x.document_id, x.start, x.end) for x in answer.citations] if answer else []
        abstained = answer.abstained if answer else False
        text = answer.answer if answer else ""
        row: dict[str, Any] = {
            "suite": suite,
            "id": f"{suite}:{item.id}",
            "split": item.split,
            "category": item.category,
            "answerable": item.answerable,
            "question": item.question,
            "answer": text,
            "abstained": abstained,
            "error": error,
            "citations": [
                {"document": _stem(docs, d), "start": s, "end": e, "gold": m.overlaps_any((d, s, e), gold)}
                for d, s, e in cited
            ],
            **_cost(answer.meta.usage if answer else Usage(), answer.meta.latency_s if answer else 0.0),
            "meta": _meta(answer.meta if answer else None),
        }
        if item.answerable:
            row["facts_present"] = m.facts_present(text, item.key_facts) if not abstained else []
            row["correct"] = error is None and m.answer_correct(text, abstained, item.key_facts)
            row["gold"] = [list(g) for g in gold]
            row["cited"] = [list(x) for x in cited]
            row["retrieved"] = [list(x) for x in ranked]
            row["first_relevant_rank"] = m.first_relevant_rank(ranked, gold)
            row["passed"] = row["correct"]
        else:
            row["passed"] = abstained
        row |= _decision(answer, item)
        rejected = [r.text for r in answer.rejected] if answer else []
        row["rejected"] = [{"text": r.text, "reason": r.reason} for r in answer.rejected] if answer else []
        if not row["passed"]:
            candidates = [(h.passage.document_id, h.passage.start, h.passage.end) for h in pool]
            row["stage"] = qa_failure_stage(row, candidates, shown, gold, rejected, item.key_facts)
        return row

    def _extract(self, c: Container, docs: dict[str, Document]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for n, g in enumerate(self._golden.extraction, start=1):
            doc, before = docs[g.document], _cache_counts(c)
            ex, err = _attempt(c.extract.extract, doc.id, REPORT_FACTS, refresh=True)
            out += _mark(score_extraction(g, doc, ex, err), _from_cache(c, before), ex.meta if ex else None, g.split)
            self._progress("extract", n, len(self._golden.extraction))
        return out

    def _summary(self, c: Container, docs: dict[str, Document]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for n, g in enumerate(self._golden.summaries, start=1):
            doc, before = docs[g.document], _cache_counts(c)
            summary, err = _attempt(c.summarizer.summarize, doc)
            meta = summary.meta if summary else None
            out += _mark(score_summary(g, doc, summary, err), _from_cache(c, before), meta, g.split)
            self._progress("summary", n, len(self._golden.summaries))
        return out

    def _entities(self, c: Container, docs: dict[str, Document]) -> list[dict[str, Any]]:
        pairs = self._golden.entity_pairs
        rows = pair_rows(c.entities, pairs, c.entities.default_threshold)
        self._progress("entities", len(pairs), len(pairs))
        return rows

    def _disagreements(self, c: Container, docs: dict[str, Document]) -> list[dict[str, Any]]:
        pairs, before = self._golden.claim_pairs, _cache_counts(c)
        cuts = (c.disagreements.default_threshold, c.corroboration.default_threshold)
        rows = pair_rows_claims(c.pair_judge, pairs, cuts, lambda n: self._progress("disagreements", n, len(pairs)))
        cached = _from_cache(c, before)
        return [r | {"cached": cached} for r in rows]

    def _injection(self, c: Container, docs: dict[str, Document]) -> list[dict[str, Any]]:
        cases = self._golden.injection
        full = self._subset == "full"
        total = sum(len(x.questions) + (1 if full or x.summary_ci else 0) for x in cases)
        out: list[dict[str, Any]] = []
        k = c.settings.qa_passages
        passages = c.index.all_passages()
        for case in cases:
            doc = docs[case.document]
            injected = [
                (doc.id, p.start, p.end)
                for p in passages
                if p.document_id == doc.id and any(f.casefold() in p.text.casefold() for f in case.forbidden)
            ]
            flt = RetrievalFilter(collections=[case.collection])
            for i, q in enumerate(case.questions, start=1):
                hits, before = c.retriever.retrieve(q.question, k, flt), _cache_counts(c)
                reached = any(
                    m.overlaps_any((h.passage.document_id, h.passage.start, h.passage.end), injected) for h in hits
                )
                answer, error = _attempt(c.qa.ask, q.question, flt)
                outputs = [answer.answer] if answer else []
                leaked = m.leaks(outputs, case.forbidden)
                out.append(
                    {
                        "suite": "injection",
                        "id": f"injection:{case.document}:q{i}",
                        "technique": case.technique,
                        "set": case.set,
                        "question": q.question,
                        "output": outputs,
                        "reached": reached,
                        "leaked": leaked,
                        "error": error,
                        "passed": not leaked and error is None,
                        "cached": _from_cache(c, before),
                        "meta": _meta(answer.meta if answer else None),
                        **_cost(answer.meta.usage if answer else Usage(), answer.meta.latency_s if answer else 0.0),
                    }
                )
                self._progress("injection", len(out), total)
            if full or case.summary_ci:
                before = _cache_counts(c)
                summary, err = _attempt(c.summarizer.summarize, doc)
                texts = [s.text for s in summary.sentences] if summary else []
                cost = _cost(summary.meta.usage if summary else Usage(), summary.meta.latency_s if summary else 0.0)
                cost["meta"] = _meta(summary.meta if summary else None)
                leaked = m.leaks(texts, case.forbidden)
                out.append(
                    {
                        "suite": "injection",
                        "id": f"injection:{case.document}:summary",
                        "technique": case.technique,
                        "set": case.set,
                        "question": None,
                        "output": texts,
                        "reached": True,
                        "leaked": leaked,
                        "error": err,
                        "passed": not leaked and err is None,
                        "cached": _from_cache(c, before),
                        **cost,
                    }
                )
                self._progress("injection", len(out), total)
        return out


def _decision(answer: Answer | None, item: QAItem) -> dict[str, Any]:
    """What the calibrated decision saw: each candidate sentence (given or held back) with its confidence, signals
    and whether it alone is a right answer; the answer's confidence (its best candidate's) and whether the whole
    candidate is right, answered or not. These rows are what `dossier calibrate` fits on and the selective metrics
    (risk-coverage, AUROC, calibration error) are computed from."""
    if answer is None:
        return {"confidence": None, "candidate": "", "candidate_correct": False, "sentences": [], "signals": {}}
    given = answer.sentences or (answer.held_back.sentences if answer.held_back else [])
    text = " ".join(s.text for s in given)
    right = item.answerable and bool(given) and m.answer_correct(text, False, item.key_facts)
    scores = [s.confidence for s in given if s.confidence is not None]
    sentences = [
        {
            "text": s.text,
            "confidence": s.confidence,
            "quotes": [c.quote for c in s.citations],
            "signals": answer.signals | s.signals,
            "correct": item.answerable and m.answer_correct(s.text, False, item.key_facts),
        }
        for s in given
    ]
    ruled = [
        {
            "text": r.text,
            "reason": r.reason,
            "confidence": r.confidence,
            "signals": r.signals,
            "correct": item.answerable and m.answer_correct(r.text, False, item.key_facts),
        }
        for r in answer.rejected
        if r.signals
    ]  # dropped by a structural check: for the ablations
    return {
        "confidence": max(scores) if scores else None,
        "candidate": text,
        "candidate_correct": right,
        "sentences": sentences,
        "ruled_out": ruled,
        "signals": answer.signals,
    }


def _cache_counts(c: Container) -> tuple[int, int] | None:
    """(cache hits, cache misses) so far; None without a response cache."""
    return (c.response_cache.hits, c.response_cache.misses) if c.response_cache is not None else None


def _from_cache(c: Container, before: tuple[int, int] | None) -> bool:
    """True when every model call since `before` was answered by the cache (latency is then not real)."""
    now = _cache_counts(c)
    return before is not None and now is not None and now[1] == before[1] and now[0] > before[0]


def _mark(rows: list[dict[str, Any]], cached: bool, meta: RunMeta | None, split: str) -> list[dict[str, Any]]:
    for row in rows:
        row["split"] = split
        row["cached"] = cached
        row["meta"] = _meta(meta)
    return rows


def _meta(meta: RunMeta | None) -> dict[str, Any] | None:
    """What produced a row: prompt id and version, model, settings hash."""
    if meta is None:
        return None
    return {
        "prompt": f"{meta.prompt_id}/v{meta.prompt_version}",
        "calibrator": meta.calibrator,
        "model": meta.model,
        "settings_hash": meta.settings_hash,
    }


def _attempt(run: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> tuple[T | None, str | None]:
    """Run one eval item; a Dossier error is recorded on the item instead of ending the run."""
    try:
        return run(*args, **kwargs), None
    except DossierError as exc:
        return None, exc.message


def _cost(usage: Usage, latency_s: float) -> dict[str, Any]:
    return {
        "latency_s": latency_s,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
    }


def _stem(docs: dict[str, Document], doc_id: str) -> str:
    return next((s for s, d in docs.items() if d.id == doc_id), doc_id)


def _run_id(settings: Settings, subset: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{settings.chat_model_name.replace('/', '_')}-{subset}"


def _calibrators(c: Container, suites: list[str]) -> dict[str, str]:
    """The calibrator artefact of each decision the run measured."""
    out = {"qa": c.qa.calibrator_ref}
    if "entities" in suites:
        out["entities"] = c.entities.calibrator_ref
    if "disagreements" in suites:
        out |= {
            "disagreements": c.disagreements.judge.calibrator.ref,
            "corroboration": c.corroboration.judge.agree_calibrator.ref,
        }
    return out
