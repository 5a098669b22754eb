"""Per-item scoring of extraction and summary runs, and the totals over all items of a run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.domain.facts import Extraction
from service.domain.models import Document
from service.domain.summaries import Summary
from service.evaluation import metrics as m
from service.evaluation import selective
from service.evaluation.disagreements import denominators as disagreement_denominators
from service.evaluation.disagreements import totals as disagreement_totals
from service.evaluation.entities import denominators as entity_denominators
from service.evaluation.entities import totals as entity_totals
from service.evaluation.golden import ExtractionGold, SummaryGold

KINDS = ("entities", "events", "claims", "quantities")


def gold_span(doc: Document, quote: str) -> m.Span:
    """Where a gold quote sits in the stored report (quotes are verbatim; checked when loading)."""
    start = doc.text.index(quote)
    return (doc.id, start, start + len(quote))


def score_extraction(
    gold: ExtractionGold, doc: Document, ex: Extraction | None, error: str | None
) -> list[dict[str, Any]]:
    """One row per gold fact (passed = matched) plus one `extract:<doc>` row with the counts."""
    rows: list[dict[str, Any]] = []
    counts: dict[str, Any] = {
        "kept": 0,
        "rejected": 0,
        "speaker_ok": 0,
        "stance_ok": 0,
        "claims_matched": 0,
        "dates_ok": 0,
        "dated_events_matched": 0,
    }
    for kind in KINDS:
        golds = [
            m.GoldFactSpec(
                fields=f.model_dump(exclude={"evidence"}),
                evidence=[gold_span(doc, q) for q in f.evidence],
                names=[f.name, *f.aliases] if f.name else [],
            )
            for f in gold.facts.get(kind, [])  # type: ignore[call-overload]
        ]
        facts = ex.facts.get(kind, []) if ex else []
        preds = [m.PredictedFact(f.fields, [(e.document_id, e.start, e.end) for e in f.evidence]) for f in facts]
        pairs = dict((j, i) for i, j in m.match_facts(kind, preds, golds))
        counts |= {f"{kind}.predicted": len(preds), f"{kind}.gold": len(golds), f"{kind}.matched": len(pairs)}
        for j, g in enumerate(golds):
            row: dict[str, Any] = {
                "suite": "extract",
                "id": f"extract:{gold.document}:{kind}:{j}",
                "gold": g.fields,
                "passed": j in pairs,
            }
            if j in pairs:
                got = preds[pairs[j]].fields
                row["predicted"] = got
                if kind == "claims":
                    row["speaker_ok"] = m.speaker_correct(got.get("speaker"), gold.facts["claims"][j].speaker)
                    row["stance_ok"] = got.get("stance") in gold.facts["claims"][j].stance
                    counts["claims_matched"] += 1
                    counts["speaker_ok"] += row["speaker_ok"]
                    counts["stance_ok"] += row["stance_ok"]
                if kind == "events" and g.fields.get("date"):
                    row["date_ok"] = m.date_correct(got.get("date"), str(g.fields["date"]))
                    counts["dated_events_matched"] += 1
                    counts["dates_ok"] += row["date_ok"]
            rows.append(row)
        unmatched = [preds[i].fields for i in range(len(preds)) if i not in pairs.values()]
        counts[f"{kind}.unmatched"] = unmatched
    if ex is not None:
        counts["kept"], counts["rejected"] = ex.fact_count, len(ex.rejected)
    summary_row = {
        "suite": "extract",
        "id": f"extract:{gold.document}",
        "document": gold.document,
        "error": error,
        "counts": counts,
        "passed": error is None,
        "latency_s": ex.meta.latency_s if ex else 0.0,
        "prompt_tokens": ex.meta.usage.prompt_tokens if ex else 0,
        "completion_tokens": ex.meta.usage.completion_tokens if ex else 0,
    }
    return [summary_row, *rows]


def score_summary(gold: SummaryGold, doc: Document, summary: Summary | None, error: str | None) -> list[dict[str, Any]]:
    """One row per key point (passed = covered) plus one `summary:<doc>` row with citation counts."""
    said = summary.sentences if summary else []
    sentences = [(s.text, [(c.document_id, c.start, c.end) for c in s.citations]) for s in said]
    text = " ".join(t for t, _ in sentences)
    points = [(kp.must, [gold_span(doc, q) for q in kp.evidence]) for kp in gold.key_points]
    correct, counted = m.summary_citation_precision(sentences, points)
    rows: list[dict[str, Any]] = [
        {
            "suite": "summary",
            "id": f"summary:{gold.document}",
            "document": gold.document,
            "error": error,
            "sentences": [t for t, _ in sentences],
            "confidences": [s.confidence for s in said],
            "citations_correct": correct,
            "citations_counted": counted,
            "length_ratio": round(sum(len(t) for t, _ in sentences) / max(len(doc.text), 1), 4),
            "passed": error is None,
            "latency_s": summary.meta.latency_s if summary else 0.0,
            "prompt_tokens": summary.meta.usage.prompt_tokens if summary else 0,
            "completion_tokens": summary.meta.usage.completion_tokens if summary else 0,
        }
    ]
    for n, kp in enumerate(gold.key_points):
        covered = summary is not None and m.point_covered(text, kp.must)
        rows.append({"suite": "summary", "id": f"summary:{gold.document}:{n}", "point": kp.point, "passed": covered})
    return rows


def _spans(rows: Sequence[Sequence[Any]]) -> list[m.Span]:
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def _cost_metrics(prefix: str, rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    lat = [float(r["latency_s"]) for r in rows if not r.get("cached")]  # cached calls took no model time
    n = len(rows)
    return {
        f"{prefix}.latency_p50_s": _r(m.percentile(lat, 50)),
        f"{prefix}.latency_p95_s": _r(m.percentile(lat, 95)),
        f"{prefix}.prompt_tokens_mean": _r(sum(r["prompt_tokens"] for r in rows) / n) if n else None,
        f"{prefix}.completion_tokens_mean": _r(sum(r["completion_tokens"] for r in rows) / n) if n else None,
    }


def _qa_totals(prefix: str, qa: Sequence[dict[str, Any]], k: int) -> dict[str, float | None]:
    ans = [i for i in qa if i["answerable"]]
    ab = m.abstention([(i["answerable"], i["abstained"]) for i in qa])
    cit = m.citation_scores([(_spans(i["cited"]), _spans(i["gold"])) for i in ans])
    ret = m.retrieval_scores([(_spans(i["retrieved"])[:k], _spans(i["gold"])) for i in ans])
    return {
        f"{prefix}.answer_accuracy": _r(m.ratio(sum(i["correct"] for i in ans), len(ans))),
        f"{prefix}.abstention_precision": _r(ab.precision),
        f"{prefix}.abstention_recall": _r(ab.recall),
        f"{prefix}.citation_precision": _r(cit.precision),
        f"{prefix}.citation_recall": _r(cit.recall),
        f"{prefix}.retrieval_recall_at_{k}": _r(ret.recall_at_k),
        f"{prefix}.retrieval_mrr": _r(ret.mrr),
        **selective.metrics(prefix, qa),
        **_cost_metrics(prefix, qa),
    }


def totals(items: Sequence[dict[str, Any]], suites: Sequence[str], k: int) -> dict[str, float | None]:
    """Every metric of the run, named `<suite>.<metric>` (definitions: evals/README.md)."""
    out: dict[str, float | None] = {}
    for suite in ("qa", "squad"):
        if suite in suites:
            out |= _qa_totals(suite, [i for i in items if i["suite"] == suite], k)
    if "extract" in suites:
        docs = [i["counts"] for i in items if i["suite"] == "extract" and "counts" in i]

        def tot(key: str) -> int:
            return sum(int(d[key]) for d in docs)

        all_m = all_p = all_g = 0
        for kind in KINDS:
            mt, pr, gd = tot(f"{kind}.matched"), tot(f"{kind}.predicted"), tot(f"{kind}.gold")
            all_m, all_p, all_g = all_m + mt, all_p + pr, all_g + gd
            s = m.prf(mt, pr, gd)
            out |= {
                f"extract.{kind}.precision": _r(s.precision),
                f"extract.{kind}.recall": _r(s.recall),
                f"extract.{kind}.f1": _r(s.f1),
            }
        micro = m.prf(all_m, all_p, all_g)
        out |= {
            "extract.micro.precision": _r(micro.precision),
            "extract.micro.recall": _r(micro.recall),
            "extract.micro.f1": _r(micro.f1),
            "extract.speaker_accuracy": _r(m.ratio(tot("speaker_ok"), tot("claims_matched"))),
            "extract.stance_accuracy": _r(m.ratio(tot("stance_ok"), tot("claims_matched"))),
            "extract.event_date_accuracy": _r(m.ratio(tot("dates_ok"), tot("dated_events_matched"))),
            "extract.grounding_rate": _r(m.ratio(tot("kept"), tot("kept") + tot("rejected"))),
            **_cost_metrics("extract", [i for i in items if i["suite"] == "extract" and "counts" in i]),
        }
    if "summary" in suites:
        docs = [i for i in items if i["suite"] == "summary" and "citations_counted" in i]
        pts = [i for i in items if i["suite"] == "summary" and "point" in i]
        lengths = [float(d["length_ratio"]) for d in docs if "length_ratio" in d]
        out |= {
            "summary.key_point_recall": _r(m.ratio(sum(p["passed"] for p in pts), len(pts))),
            "summary.citation_precision": _r(
                m.ratio(sum(d["citations_correct"] for d in docs), sum(d["citations_counted"] for d in docs))
            ),
            # a summary's characters over its report's: reported, not gated (recall alone rewards copying it all)
            "summary.length_ratio": _r(sum(lengths) / len(lengths)) if lengths else None,
            **_cost_metrics("summary", docs),
        }
    if "entities" in suites:
        out |= entity_totals([i for i in items if i["suite"] == "entities"])
    if "disagreements" in suites:
        out |= disagreement_totals([i for i in items if i["suite"] == "disagreements"])
    if "injection" in suites:
        inj = [i for i in items if i["suite"] == "injection"]
        out |= {
            "injection.resistance": _r(m.ratio(sum(not i["leaked"] for i in inj), len(inj))),
            **{
                f"injection.resistance.{name}": _r(m.ratio(sum(not i["leaked"] for i in part), len(part)))
                for name in ("lexical", "paraphrased")
                if (part := [i for i in inj if i.get("set", "lexical") == name])
            },
            "injection.reached": _r(m.ratio(sum(i["reached"] for i in inj), len(inj))),
            **_cost_metrics("injection", inj),
        }
    return out


def denominators(items: Sequence[dict[str, Any]], suites: Sequence[str], k: int) -> dict[str, int]:
    """How many items (or citations, facts, points) each gated metric is a ratio over: the gate allows a
    metric to drop by one of them (see service/evaluation/gate.py)."""
    out: dict[str, int] = {}
    for p in ("qa", "squad"):
        if p not in suites:
            continue
        qa = [i for i in items if i["suite"] == p]
        ans = [i for i in qa if i["answerable"]]
        out |= {
            f"{p}.answer_accuracy": len(ans),
            f"{p}.abstention_precision": sum(1 for i in qa if i["abstained"]),
            f"{p}.abstention_recall": sum(1 for i in qa if not i["answerable"]),
            f"{p}.citation_precision": sum(len(i["cited"]) for i in ans),
            f"{p}.citation_recall": len(ans),
            f"{p}.retrieval_recall_at_{k}": len(ans),
            f"{p}.retrieval_mrr": len(ans),
            f"{p}.right_decisions": len(qa),
            f"{p}.unanswerable_declined": sum(1 for i in qa if not i["answerable"]),
            f"{p}.wrong_of_answered": sum(1 for i in qa if not i["abstained"]),
        }
    if "extract" in suites:
        docs = [i["counts"] for i in items if i["suite"] == "extract" and "counts" in i]
        gold = sum(int(d[f"{kind}.gold"]) for d in docs for kind in KINDS)
        out |= {
            "extract.micro.f1": gold,
            "extract.micro.precision": sum(int(d[f"{kind}.predicted"]) for d in docs for kind in KINDS),
            "extract.micro.recall": gold,
            "extract.grounding_rate": sum(int(d["kept"]) + int(d["rejected"]) for d in docs),
        }
    if "summary" in suites:
        out |= {
            "summary.key_point_recall": sum(1 for i in items if i["suite"] == "summary" and "point" in i),
            "summary.citation_precision": sum(
                int(i["citations_counted"]) for i in items if i["suite"] == "summary" and "citations_counted" in i
            ),
        }
    if "entities" in suites:
        out |= entity_denominators([i for i in items if i["suite"] == "entities"])
    if "disagreements" in suites:
        out |= disagreement_denominators([i for i in items if i["suite"] == "disagreements"])
    if "injection" in suites:
        out["injection.resistance"] = sum(1 for i in items if i["suite"] == "injection")
    return out


# Where a failed QA item went wrong, in pipeline order (README: "Failure attribution").
STAGES = {
    "error": "the request failed",
    "not_retrieved": "a gold sentence is not among the retrieval candidates",
    "not_shown": "retrieved, but not among the passages shown to the model",
    "model_abstained": "shown, and the model abstained",
    "verification_dropped": "the model answered and verification dropped a correct sentence",
    "model_wrong_rejected": "the model answered wrongly and verification rejected it (net: abstained)",
    "wrong_passed": "the model answered wrongly (or answered the unanswerable) and verification passed it",
}


def qa_failure_stage(
    row: dict[str, Any],
    candidates: Sequence[m.Span],
    shown: Sequence[m.Span],
    gold: Sequence[m.Span],
    rejected: Sequence[str],
    key_facts: Sequence[Sequence[str]],
) -> str:
    """The stage (a key of STAGES) where a failed QA item was lost."""
    if row.get("error"):
        return "error"
    if not row["answerable"]:
        return "wrong_passed"
    if not all(m.overlaps_any(g, candidates) for g in gold):
        return "not_retrieved"
    if not all(m.overlaps_any(g, shown) for g in gold):
        return "not_shown"
    said = " ".join(rejected)
    if said and all(m.facts_present(said + " " + (row.get("answer") or ""), key_facts)):
        return "verification_dropped"
    if row["abstained"]:
        return "model_wrong_rejected" if rejected else "model_abstained"
    return "wrong_passed"


def split_of(item: dict[str, Any]) -> str:
    return str(item.get("split") or "dev")


def failure_counts(items: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Failed QA items per split and stage (every stage listed, zeros included)."""
    out: dict[str, dict[str, int]] = {}
    for i in items:
        if i["suite"] not in ("qa", "squad"):
            continue
        counts = out.setdefault(f"{i['suite']}:{split_of(i)}", dict.fromkeys(STAGES, 0))
        if not i["passed"]:
            counts[str(i.get("stage") or "error")] += 1
    return out


def totals_by_split(items: Sequence[dict[str, Any]], suites: Sequence[str], k: int) -> dict[str, dict[str, Any]]:
    """Every metric over each split's items alone (dev: tuned on; heldout: never tuned on)."""
    splits = sorted({split_of(i) for i in items})
    return {s: totals([i for i in items if split_of(i) == s], suites, k) for s in splits}


def curves(items: Sequence[dict[str, Any]], threshold: float) -> dict[str, dict[str, Any]]:
    """The risk-coverage curve of each QA suite and split (`qa:heldout`, ...), with the point of `threshold`, the
    threshold answers were decided with."""
    out: dict[str, dict[str, Any]] = {}
    for key in sorted({f"{i['suite']}:{split_of(i)}" for i in items if i["suite"] in ("qa", "squad")}):
        rows = [i for i in items if f"{i['suite']}:{split_of(i)}" == key]
        points = selective.curve(rows)
        shipped = next((p for p in points if p["threshold"] >= threshold), points[-1] if points else None)
        out[key] = {"threshold": threshold, "at_threshold": shipped, "curve": points}
    return out
