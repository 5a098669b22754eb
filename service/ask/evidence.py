"""The evidence a question is answered from: retrieved sentences, screened for injected instructions, numbered and
grouped by report for the prompt, and each answer sentence grounded in the ones it cites."""

from __future__ import annotations

from dataclasses import dataclass

from service.core import grounding
from service.core.injection import withheld as withheld_reason
from service.core.relay import relayed_directive
from service.core.segment import passage_id
from service.domain.models import Citation, Document, ScoredPassage, WithheldPassage


def screen(hits: list[ScoredPassage], docs: dict[str, Document]) -> tuple[list[ScoredPassage], list[WithheldPassage]]:
    """Withhold passages that address the model (prompt injection); the model never sees them. A passage whose
    report was deleted since retrieval is dropped (nothing to quote from)."""
    kept: list[ScoredPassage] = []
    withheld: list[WithheldPassage] = []
    for h in hits:
        doc = docs.get(h.passage.document_id)
        if doc is None:
            continue
        reason = withheld_reason(doc.text, h.passage.start, h.passage.end)
        if reason is None:
            kept.append(h)
        else:
            withheld.append(WithheldPassage(passage_id=h.passage.id, document_id=h.passage.document_id, reason=reason))
    return kept, withheld


def render_passages(passages: list[ScoredPassage]) -> str:
    """Numbered passages grouped by report, in reading order within a report."""
    numbered = list(enumerate(passages, start=1))
    order: list[str] = list(dict.fromkeys(sp.passage.document_id for _, sp in numbered))
    lines: list[str] = []
    for doc_id in order:
        group = [(n, sp) for n, sp in numbered if sp.passage.document_id == doc_id]
        head = group[0][1].passage
        extra = ", ".join(x for x in (head.source, head.published.isoformat() if head.published else None) if x)
        lines.append(f'Report "{head.title}"' + (f" ({extra})" if extra else "") + ":")
        lines.extend(f"[{n}] {sp.passage.text}" for n, sp in sorted(group, key=lambda t: t[1].passage.index))
    return "\n".join(lines)


def cite(number: int, doc: Document, sp: ScoredPassage) -> Citation:
    """The one citation builder: its quote is cut from the stored text at the cited offsets."""
    p = sp.passage
    return Citation(
        passage_number=number,
        passage_id=passage_id(doc.id, p.index),
        document_id=doc.id,
        title=doc.title,
        start=p.start,
        end=p.end,
        quote=doc.text[p.start : p.end],
    )


@dataclass(frozen=True)
class Grounded:
    """One answer sentence against the shown passages: what it cites once checked, its measured support, or why it
    cannot stand (`problem`)."""

    text: str
    cited: list[int]
    repaired: bool
    signals: dict[str, float | None]
    problem: str = ""


class Evidence:
    """The shown passages of one question, with the token weights their support is measured by."""

    def __init__(self, question: str, hits: list[ScoredPassage], docs: dict[str, Document]) -> None:
        self.question = question
        self.hits = hits
        self.docs = docs
        self.texts = [h.passage.text for h in hits]
        self.weights = grounding.rarity(self.texts)

    def answer_signals(self) -> dict[str, float | None]:
        """What retrieval says of the question as a whole: the best similarity among the shown passages."""
        return {"sim_top": max((h.similarity or 0.0 for h in self.hits), default=0.0)}

    def citation(self, number: int) -> Citation:
        sp = self.hits[number - 1]
        return cite(number, self.docs[sp.passage.document_id], sp)

    def ground(self, text: str, numbers: list[int]) -> Grounded:
        """Check one sentence structurally (it cites shown passages, relays no link or request, states no number
        they lack) and measure its support. The shown passage that covers the sentence best joins its citations
        when it covers more than they do (a small model often numbers its source wrong); cited passages that add
        no coverage are dropped. A sentence whose citations end up other than the model's is flagged `repaired`."""
        text = text.strip()
        given = sorted({n for n in numbers if 1 <= n <= len(self.hits)})
        valid = given
        if self.hits:
            best = max(range(1, len(self.hits) + 1), key=lambda n: self._cover(text, [n]))
            if best not in valid and (not valid or self._cover(text, [best]) > self._cover(text, valid)):
                valid = sorted({*valid, best})
        if (relayed := relayed_directive(text, self.question)) is not None:
            return Grounded(text, valid, valid != given, {}, relayed)
        valid = self._minimal(text, valid)
        repaired = valid != given
        cited_texts = [self.texts[n - 1] for n in valid]
        signals: dict[str, float | None] = {
            "cover": round(grounding.coverage(text, cited_texts, self.weights), 4),
            "partial": round(grounding.partial(text, cited_texts), 4),
            "cited_sim": max((self.hits[n - 1].similarity or 0.0 for n in valid), default=0.0),
        }
        missing = grounding.missing_numbers(text, cited_texts)
        problem = f"numbers not in cited passages: {', '.join(missing)}" if missing else ""
        return Grounded(text, valid, repaired, signals, problem)

    def _cover(self, text: str, numbers: list[int]) -> float:
        return grounding.coverage(text, [self.texts[n - 1] for n in numbers], self.weights)

    def _minimal(self, text: str, cited: list[int]) -> list[int]:
        """The cited passages in order of coverage, each kept only if it adds coverage to those before it (a number
        is a token, so one that states a number the others lack is kept): a citation the sentence does not stand
        on is not shown as its source."""
        keep: list[int] = []
        for n in sorted(cited, key=lambda n: -self._cover(text, [n])):
            if not keep or self._cover(text, [*keep, n]) > self._cover(text, keep):
                keep.append(n)
        return sorted(keep)
