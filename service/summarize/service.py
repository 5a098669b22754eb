"""Per-report summaries (map-reduce for long reports) and cross-report digests, every sentence verified."""

from __future__ import annotations

import datetime as dt
import logging

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from service.core.comparing import PairJudge
from service.core.injection import screened
from service.core.segment import windows
from service.core.structured import RunTimer, ask_structured
from service.core.support import cite, verify_cited
from service.domain.errors import InvalidInput, ModelOutputInvalid
from service.domain.facts import Fact
from service.domain.models import Citation, Document, RejectedSentence, Sentence
from service.domain.ports import ChatModel, Embedder, ExtractionStore, PromptStore
from service.domain.summaries import Digest, DigestPoint, PointKind, Summary, SummarySentence
from service.summarize.conflicts import Conflict, judged_conflicts

log = logging.getLogger(__name__)


class _Cited(BaseModel):
    text: str = Field(max_length=300)
    sentences: list[int] = Field(default_factory=list, max_length=4)


class SummaryOutput(BaseModel):
    """What the model returns for a summary: 3-6 sentences citing sentence numbers."""

    sentences: list[_Cited] = Field(min_length=3, max_length=6)


class TailOutput(SummaryOutput):
    """What the model returns for the report sentences after the last one a summary cites: two more sentences."""

    sentences: list[_Cited] = Field(min_length=2, max_length=2)


class DigestOutput(BaseModel):
    """What the model returns for a digest; items cite summary-sentence numbers."""

    new: list[_Cited] = Field(default_factory=list, max_length=4)
    agreements: list[_Cited] = Field(default_factory=list, max_length=4)
    contradictions: list[_Cited] = Field(default_factory=list, max_length=4)


class _Unit:
    """A numbered unit shown to the model: text plus the citations it stands on."""

    def __init__(self, text: str, citations: list[Citation], document_id: str) -> None:
        self.text, self.citations, self.document_id = text, citations, document_id


def _citation(doc: Document, s: Sentence, number: int) -> Citation:
    return cite(number, doc, s.start, s.end, s.index)


class SummarizeService:
    """Writes verified summaries and digests.

    A summary sentence survives only if the report sentences it cites support it (`verify.check_support`,
    the same check answers pass). With `tail_min`, a one-window summary gets two more sentences from the report
    sentences after the last one it cites, up to `tail_calls` times, so that late points (denials, late figures)
    are not crowded out by the opening. Reports longer than one window are summarised per window (map), then the
    window summaries are summarised again (reduce), citations carried through. A digest point must cite summary
    sentences that support it; agreements and contradictions must rest on two reports.
    """

    def __init__(
        self,
        chat: ChatModel,
        prompts: PromptStore,
        extractions: ExtractionStore,
        *,
        settings_hash: str,
        window_chars: int,
        tail_min: int = 0,
        tail_calls: int = 1,
        judge: PairJudge | None = None,
        embedder: Embedder | None = None,
        conflict_threshold: float | None = None,
        sentence_confidence: bool = False,
    ) -> None:
        """`judge` and `embedder` find disagreements for digests (none are looked for without them), listed from
        `conflict_threshold` (default: the claim calibrator's threshold). With `sentence_confidence` (and a
        `judge`) every summary sentence is scored against the report sentences it cites."""
        self._chat = chat
        self._scorer = judge if sentence_confidence else None
        self._judge = judge
        self._embedder = embedder
        self._conflict_threshold = conflict_threshold
        self._prompts = prompts
        self._extractions = extractions
        self._settings_hash = settings_hash
        self._window_chars = window_chars
        self._tail_min = tail_min
        self._tail_calls = tail_calls

    def _timer(self, task: str, calibrator: str | None = None) -> RunTimer:
        return RunTimer(self._prompts.get(task), self._chat.model_name, self._settings_hash, calibrator)

    def _run(
        self, units: list[_Unit], header: str, timer: RunTimer, tail: bool = False
    ) -> tuple[list[SummarySentence], list[RejectedSentence]]:
        prompt = self._prompts.get("summarize")
        numbered = "\n".join(f"[{n}] {u.text}" for n, u in enumerate(units, start=1))
        out = ask_structured(
            self._chat,
            prompt.render(report=header, sentences=numbered),
            TailOutput if tail else SummaryOutput,
            max_tokens=prompt.max_tokens,
            schema_name="summary_tail" if tail else "summary",
        )
        timer.record(out.usage, out.attempts, out.model)
        return _verify(out.value.sentences, units)

    def _tail(
        self, units: list[_Unit], kept: list[SummarySentence], header: str, timer: RunTimer
    ) -> tuple[list[SummarySentence], list[RejectedSentence]]:
        """Two more sentences, on the same prompt, from the report sentences after the last one the summary cites,
        when at least `tail_min` (and two) remain; from all of them when it kept nothing. An invalid reply keeps the
        summary (its cost is counted); a model that cannot be reached fails it like the first call would."""
        cited = {c.passage_id for s in kept for c in s.citations}
        last = max((n for n, u in enumerate(units) if any(c.passage_id in cited for c in u.citations)), default=-1)
        rest = units[last + 1 :]
        if not self._tail_min or len(rest) < max(self._tail_min, 2):
            return kept, []
        try:
            got, bad = self._run(rest, f"{header}, its later sentences", timer, tail=True)
        except ModelOutputInvalid as exc:
            log.warning("summary of %s kept without its later sentences: %s", header, exc)
            if exc.usage is not None:
                timer.record(exc.usage, exc.usage.calls, self._chat.model_name)
            return kept, []
        numbers = [u.citations[0].passage_number for u in rest]  # the report's numbers, not the tail prompt's
        return kept + got, [
            r.model_copy(update={"cited": [numbers[n - 1] for n in r.cited if 1 <= n <= len(numbers)]}) for r in bad
        ]

    def summarize(self, doc: Document) -> Summary:
        """Summarise one report."""
        scored = self._scorer
        timer = self._timer("summarize", scored.agree_calibrator.ref if scored else None)
        header = f'"{doc.title}"' + (f" ({doc.source}, {doc.published})" if doc.source else "")
        parts = windows(screened(doc.text), self._window_chars)
        if not parts:
            raise InvalidInput(f"report {doc.id} has nothing to summarise once embedded instructions are withheld")
        rejected: list[RejectedSentence] = []
        if len(parts) == 1:
            units = [_Unit(doc.text[s.start : s.end], [_citation(doc, s, s.index + 1)], doc.id) for s in parts[0]]
            kept, rejected = self._run(units, header, timer)
            for _ in range(self._tail_calls):
                before = len(kept)
                kept, bad = self._tail(units, kept, header, timer)
                rejected += bad
                if len(kept) == before:  # no call, an invalid reply, or nothing kept: the next would repeat it
                    break
        else:
            partial: list[_Unit] = []
            for window in parts:
                units = [_Unit(doc.text[s.start : s.end], [_citation(doc, s, s.index + 1)], doc.id) for s in window]
                got, bad = self._run(units, header, timer)
                partial += [_Unit(x.text, x.citations, doc.id) for x in got]
                rejected += bad
            kept, bad = self._run(partial, header + " (summaries of its parts)", timer)
            rejected += bad
        if scored is not None:
            kept = _scored(scored, doc, kept, timer)
            if all(s.confidence is None for s in kept):
                timer.meta.calibrator = None  # it scored nothing
        meta = timer.done()
        return Summary(
            document_id=doc.id,
            title=doc.title,
            sentences=kept,
            rejected=rejected,
            key_facts=self._key_facts(doc.id),
            map_windows=len(parts),
            meta=meta,
            created_at=dt.datetime.now(dt.UTC),
        )

    def _key_facts(self, document_id: str, limit: int = 8) -> list[Fact]:
        found = self._extractions.for_document(document_id)
        if not found:
            return []
        facts = found[0].facts
        ordered = [*facts.get("claims", []), *facts.get("events", []), *facts.get("quantities", [])]
        return ordered[:limit]

    def digest(self, summaries: list[Summary]) -> Digest:
        """Digest a batch: what is new, agreements, contradictions — each point cited and verified."""
        timer = self._timer("digest")
        units: list[_Unit] = []
        lines: list[str] = []
        for s in summaries:
            lines.append(f'Report "{s.title}":')
            for sent in s.sentences:
                units.append(_Unit(sent.text, sent.citations, s.document_id))
                lines.append(f"[{len(units)}] {sent.text}")
        prompt = self._prompts.get("digest")
        conflicts: list[Conflict] = []
        if self._judge is not None and self._embedder is not None:
            cut = self._conflict_threshold
            conflicts, cost = judged_conflicts(
                [(u.text, u.document_id) for u in units],
                self._judge,
                self._embedder,
                self._judge.calibrator.threshold if cut is None else cut,
            )
            timer.record(cost, 0, self._chat.model_name)
        hints = "\n".join(f"- [{c.a}] vs [{c.b}]: P(contradict) {c.confidence:.2f}" for c in conflicts)
        out = ask_structured(
            self._chat,
            prompt.render(summaries="\n".join(lines), hints=hints or "- none found"),
            DigestOutput,
            max_tokens=prompt.max_tokens,
            schema_name="digest",
        )
        timer.record(out.usage, out.attempts, out.model)
        points: list[DigestPoint] = []
        rejected: list[RejectedSentence] = []
        groups: list[tuple[PointKind, list[_Cited]]] = [
            ("new", out.value.new),
            ("agreement", out.value.agreements),
            ("contradiction", out.value.contradictions),
        ]
        seen: set[tuple[str, str]] = set()
        for kind, items in groups:
            kept, bad = _verify(items, units, min_reports=1 if kind == "new" else 2, distinct=kind == "contradiction")
            rejected += bad
            for k in kept:
                if (kind, k.text.lower()) in seen:
                    continue
                seen.add((kind, k.text.lower()))
                points.append(
                    DigestPoint(
                        kind=kind,
                        text=k.text,
                        citations=k.citations,
                        document_ids=sorted({c.document_id for c in k.citations}),
                    )
                )
        # Judged disagreements are always listed (labelled), unless the digest already made the point.
        covered = [{c.passage_id for c in p.citations} for p in points if p.kind == "contradiction"]
        for c in conflicts:
            pair = {x.passage_id for x in units[c.a - 1].citations} | {x.passage_id for x in units[c.b - 1].citations}
            if not any(pair <= cov for cov in covered):
                points.append(_judged_point(c, units, summaries))
        digest = Digest(points=points, rejected=rejected, meta=timer.done())
        digest.markdown = render_markdown(digest, summaries)
        return digest


def _scored(judge: PairJudge, doc: Document, kept: list[SummarySentence], timer: RunTimer) -> list[SummarySentence]:
    """Each sentence with its calibrated P(agree) against the report sentences it cites (their verbatim text, in
    report order): the judgement and calibrator of a fact's corroboration, kept between calls. An endpoint without
    log-probabilities gives no confidence, so after its first reply with none at all the rest are not asked."""
    out: list[SummarySentence] = []
    blind = False
    for sentence in kept:
        confidence = None
        if not blind:
            cited = " ".join(doc.text[c.start : c.end] for c in sorted(sentence.citations, key=lambda c: c.start))
            judged = judge.judge(cited, sentence.text)
            timer.record(judged.usage, 0, judged.model)
            confidence = judge.agreement(judged.signals)
            blind = all(v is None for v in judged.signals.values())
        out.append(sentence.model_copy(update={"confidence": confidence}))
    return out


def _judged_point(c: Conflict, units: list[_Unit], summaries: list[Summary]) -> DigestPoint:
    """A disagreement the pair judgement found, stated as the two reports' own (verified) summary sentences."""
    titles = {s.document_id: s.title for s in summaries}
    a, b = units[c.a - 1], units[c.b - 1]
    text = f'"{titles[a.document_id]}": {a.text} — but "{titles[b.document_id]}": {b.text}'
    cits = {x.passage_id: x for x in [*a.citations, *b.citations]}
    return DigestPoint(
        kind="contradiction",
        text=text,
        document_ids=sorted({a.document_id, b.document_id}),
        citations=list(cits.values()),
        detected_by="judge",
        confidence=c.confidence,
    )


def _verify(
    items: list[_Cited], units: list[_Unit], min_reports: int = 1, distinct: bool = False
) -> tuple[list[SummarySentence], list[RejectedSentence]]:
    kept: list[SummarySentence] = []
    rejected: list[RejectedSentence] = []
    for item in items:

        def precheck(cited: list[int]) -> str:
            if len({units[n - 1].document_id for n in cited}) < min_reports:
                return f"rests on fewer than {min_reports} reports"
            if distinct and _all_alike([units[n - 1].text for n in cited]):
                return "the cited sentences say the same thing; that is no contradiction"
            return ""

        verdict = verify_cited(
            item.text,
            item.sentences,
            lambda n: units[n - 1].text,
            len(units),
            no_citation="cites no given sentence",
            precheck=precheck,
            guard="",
        )
        if verdict is None:
            continue
        if not verdict.kept:
            rejected.append(RejectedSentence(text=verdict.text, cited=item.sentences, reason=verdict.reason))
            continue
        citations = {c.passage_id: c for n in verdict.cited for c in units[n - 1].citations}
        kept.append(SummarySentence(text=verdict.text, citations=list(citations.values())))
    return kept, rejected


def _all_alike(texts: list[str]) -> bool:
    return all(fuzz.token_set_ratio(texts[0], t) >= 85 for t in texts[1:])


def render_markdown(digest: Digest, summaries: list[Summary]) -> str:
    """The digest as Markdown: points with their reports, then each report's summary with quotes."""
    titles = {s.document_id: s.title for s in summaries}
    out = [f"# Digest of {len(summaries)} report(s)", ""]
    headings = {"new": "What is new", "agreement": "Where reports agree", "contradiction": "Where reports disagree"}
    for kind, heading in headings.items():
        pts = [p for p in digest.points if p.kind == kind]
        out += [f"## {heading}", ""]
        out += [
            f"- {p.text} ({'; '.join(titles.get(d, d) for d in p.document_ids)})"
            + (f" _(judged to contradict: P {p.confidence:.2f})_" if p.confidence is not None else "")
            for p in pts
        ] or ["- (none)"]
        out.append("")
    out += ["## Reports", ""]
    for s in summaries:
        out += [f"### {s.title}", ""]
        for sent in s.sentences:
            quotes = " ".join(f"[{c.start}:{c.end}]" for c in sent.citations)
            scored = "" if sent.confidence is None else f" _(P {sent.confidence:.2f})_"
            out.append(f"- {sent.text} {quotes}{scored}")
        out.append("")
    m = digest.meta
    out.append(f"_{m.prompt_id}/v{m.prompt_version}, model {m.model}, settings {m.settings_hash}_")
    return "\n".join(out) + "\n"
