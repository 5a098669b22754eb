"""Question answering with numbered passages, citation by number, and post-hoc verification."""

from __future__ import annotations

import threading

from pydantic import BaseModel, Field

from service.ask.retrieval import HybridRetriever
from service.ask.second_chance import SpanOutput, accept_span, confident_passage, in_context
from service.ask.stream import Emit, PassagesEvent, SentenceWatcher, settle
from service.core.injection import withheld as withheld_reason
from service.core.structured import RunTimer, ask_structured
from service.core.support import answers_type, cite, expected_answer_type, is_yes_no, verify_cited
from service.domain.errors import InvalidInput, ModelOutputInvalid
from service.domain.models import (
    Answer,
    AnswerSentence,
    Citation,
    Document,
    RejectedSentence,
    RetrievalFilter,
    RunMeta,
    ScoredPassage,
    WithheldPassage,
)
from service.domain.ports import ChatModel, DocumentRepository, PromptStore

ABSTENTION = "The sources do not say."
CHECK_FAILED = "the cited passages do not answer this question (relation check)"
CHECK_NO_VERDICT = "the relation check gave no usable verdict, so the answer is not given"


class _ModelSentence(BaseModel):
    text: str = Field(max_length=600)
    passages: list[int] = Field(default_factory=list, max_length=8)


def _with_shown_neighbours(cited: list[int], hits: list[ScoredPassage]) -> list[int]:
    """The cited passages and any shown passage next to one of them in its report ("She estimates ..." after the
    sentence naming her)."""
    near = {(hits[n - 1].passage.document_id, hits[n - 1].passage.index + d) for n in cited for d in (-1, 1)}
    return sorted({*cited, *(m for m, h in enumerate(hits, 1) if (h.passage.document_id, h.passage.index) in near)})


class CheckOutput(BaseModel):
    """The relation check's verdict."""

    answers: bool


class QAOutput(BaseModel):
    """What the model must return for a question (the JSON schema sent with the request)."""

    answerable: bool
    sentences: list[_ModelSentence] = Field(default_factory=list, max_length=6)


def render_passages(passages: list[ScoredPassage]) -> str:
    """Group numbered passages by report, in reading order within a report."""
    numbered = list(enumerate(passages, start=1))
    order: list[str] = []
    for _, sp in numbered:
        if sp.passage.document_id not in order:
            order.append(sp.passage.document_id)
    lines: list[str] = []
    for doc_id in order:
        group = sorted((n, sp) for n, sp in numbered if sp.passage.document_id == doc_id)
        head = group[0][1].passage
        extra = ", ".join(x for x in (head.source, head.published.isoformat() if head.published else None) if x)
        lines.append(f'Report "{head.title}"' + (f" ({extra})" if extra else "") + ":")
        lines.extend(f"[{n}] {sp.passage.text}" for n, sp in sorted(group, key=lambda t: t[1].passage.index))
    return "\n".join(lines)


class QAService:
    """Answers questions with verified citations, or abstains.

    Retrieval gives sentence passages; the prompt numbers them; the model answers in JSON citing
    numbers. Each answer sentence is kept only if it cites retrieved passages that support its names,
    numbers and content (see `verify.check_support`). With nothing supported left, the answer is an
    explicit abstention. Every citation's quote is `document.text[start:end]`.
    """

    def __init__(
        self,
        retriever: HybridRetriever,
        repo: DocumentRepository,
        chat: ChatModel,
        prompts: PromptStore,
        *,
        settings_hash: str,
        passages: int,
        min_similarity: float,
        max_question_chars: int,
        verify: bool = True,
        second_chance: bool = True,
        answer_check: bool = True,
        prompt_version: int | None = None,
    ) -> None:
        self._retriever = retriever
        self._repo = repo
        self._chat = chat
        self._prompts = prompts
        self._settings_hash = settings_hash
        self._k = passages
        self._min_similarity = min_similarity
        self._max_chars = max_question_chars
        self._prompt_version = prompt_version
        self.verify = verify  # off only in a test configuration, to prove the eval gate catches it
        self._second_chance = second_chance
        self._answer_check = answer_check

    def checked(self, question: str) -> str:
        """The question stripped; 422 when it is empty or too long (a stream checks this before it starts)."""
        question = question.strip()
        if not question:
            raise InvalidInput("question is empty")
        if len(question) > self._max_chars:
            raise InvalidInput(f"question is {len(question)} characters; the limit is {self._max_chars}")
        return question

    def ask(
        self,
        question: str,
        flt: RetrievalFilter | None = None,
        on_event: Emit | None = None,
        stop: threading.Event | None = None,
    ) -> Answer:
        """Answer `question` from the stored reports (optionally filtered). With `on_event`, the steps are told as
        they happen (see `stream`); the answer is the same either way. `stop` set (the client of a stream went
        away) ends the work at its next step with `Abandoned`."""
        watcher = SentenceWatcher(on_event, stop) if on_event else None
        answer = self._answer(question, flt, watcher)
        if on_event and watcher:
            settle(watcher, answer, on_event)
        return answer

    def _answer(self, question: str, flt: RetrievalFilter | None, watcher: SentenceWatcher | None) -> Answer:
        question = self.checked(question)
        prompt = self._prompts.get("qa", self._prompt_version)
        timer = RunTimer(prompt, self._chat.model_name, self._settings_hash)
        retrieved = self._retriever.retrieve(question, self._k, flt)
        docs = {d: doc for d in {h.passage.document_id for h in retrieved} if (doc := self._repo.get(d))}
        hits, withheld = self._screen(retrieved, docs)
        if watcher:
            check = lambda raw: self._verify_one(question, _ModelSentence.model_validate(raw), hits, docs)  # noqa: E731
            watcher.start(PassagesEvent.of(hits, withheld), check)
        best = max((h.similarity or 0.0 for h in hits), default=0.0)
        if not hits or best < self._min_similarity:
            return self._abstain(question, timer.done(), [], withheld)
        messages = prompt.render(passages=render_passages(hits), question=question)
        out = ask_structured(self._chat, messages, QAOutput, max_tokens=prompt.max_tokens, schema_name="qa_answer",
                             on_text=watcher.feed if watcher else None)  # fmt: skip
        timer.record(out.usage, out.attempts, out.model)
        if watcher:
            watcher.check()
            if out.value.answerable:
                watcher.finish(list(out.value.sentences))
        kept, rejected = self._verify(question, out.value, hits, docs)
        kind = expected_answer_type(question)
        if self.verify and kept and not any(answers_type(s.text, kind) for s in kept):
            rejected += [
                RejectedSentence(
                    text=s.text,
                    cited=[c.passage_number for c in s.citations],
                    reason=f"does not state the {kind} the question asks for",
                )
                for s in kept
            ]
            kept = []
        if self.verify and self._answer_check:
            kept = self._checked(question, kept, rejected, hits, docs, timer)
        meta = timer.done()
        shown = [h.passage.id for h in hits]
        if not kept:
            return self._abstain(question, meta, rejected, withheld, shown)
        citations: dict[str, Citation] = {}
        for s in kept:
            for c in s.citations:
                citations.setdefault(c.passage_id, c)
        return Answer(
            question=question,
            answer=" ".join(s.text for s in kept),
            abstained=False,
            sentences=kept,
            citations=list(citations.values()),
            rejected=rejected,
            withheld=withheld,
            shown=shown,
            meta=meta,
        )

    @staticmethod
    def _screen(
        hits: list[ScoredPassage], docs: dict[str, Document]
    ) -> tuple[list[ScoredPassage], list[WithheldPassage]]:
        """Withhold passages that address the model (prompt injection); the model never sees them."""
        kept: list[ScoredPassage] = []
        withheld: list[WithheldPassage] = []
        for h in hits:
            doc = docs.get(h.passage.document_id)
            if doc is None:
                continue  # deleted since it was retrieved: nothing to quote from
            reason = withheld_reason(doc.text, h.passage.start, h.passage.end)
            if reason is None:
                kept.append(h)
            else:
                withheld.append(WithheldPassage(passage_id=h.passage.id, document_id=h.passage.document_id,
                                                reason=reason))  # fmt: skip
        return kept, withheld

    def _abstain(
        self,
        question: str,
        meta: RunMeta,
        rejected: list[RejectedSentence],
        withheld: list[WithheldPassage],
        shown: list[str] | None = None,
    ) -> Answer:
        return Answer(
            question=question,
            answer=ABSTENTION,
            abstained=True,
            sentences=[],
            citations=[],
            rejected=rejected,
            withheld=withheld,
            shown=shown or [],
            meta=meta,
        )

    def _checked(
        self,
        question: str,
        kept: list[AnswerSentence],
        rejected: list[RejectedSentence],
        hits: list[ScoredPassage],
        docs: dict[str, Document],
        timer: RunTimer,
    ) -> list[AnswerSentence]:
        """The relation check on a verified answer (dropped into `rejected` when it fails or gives no verdict), then
        the second chance when nothing stands."""
        refused: set[str] = set()
        if kept:
            verdict = self._answers(question, in_context([c for k in kept for c in k.citations], docs), timer)
            if verdict:
                return kept
            reason = CHECK_FAILED if verdict is False else CHECK_NO_VERDICT
            rejected += [RejectedSentence(text=k.text, cited=[c.passage_number for c in k.citations], reason=reason)
                         for k in kept]  # fmt: skip
            refused = {c.passage_id for k in kept for c in k.citations}
        return self._rescue(question, hits, docs, timer, refused) if self._second_chance else []

    def _rescue(
        self, question: str, hits: list[ScoredPassage], docs: dict[str, Document], timer: RunTimer, refused: set[str]
    ) -> list[AnswerSentence]:
        """The second chance after an abstention (see `second_chance`): the answering words of the one passage
        that holds the question's terms, cut from the stored text, or nothing. A passage the relation check
        just refused is not asked again."""
        sp = confident_passage(question, hits)
        if sp is None or sp.passage.id in refused:
            return []
        prompt = self._prompts.get("qa_span")
        messages = prompt.render(passage=sp.passage.text, question=question)
        try:
            out = ask_structured(self._chat, messages, SpanOutput, max_tokens=prompt.max_tokens, schema_name="qa_span")
        except ModelOutputInvalid:
            return []
        timer.record(out.usage, out.attempts, out.model)
        doc = docs[sp.passage.document_id]
        span = accept_span(out.value.answer, question, doc, sp)
        citation = self._citation(hits.index(sp) + 1, sp, docs)
        if span is None or not self._answers(question, in_context([citation], docs), timer):
            return []
        return [AnswerSentence(text=doc.text[span.start : span.end], citations=[citation], extracted=True)]

    def _answers(self, question: str, passages: str, timer: RunTimer) -> bool | None:
        """The relation check: do the cited passages state the answer to this question, not a fact about
        something else? One short model call (`prompts/qa_check`); None when its output was unusable."""
        prompt = self._prompts.get("qa_check")
        messages = prompt.render(passages=passages, question=question)
        try:
            out = ask_structured(self._chat, messages, CheckOutput, max_tokens=prompt.max_tokens,
                                 schema_name="qa_check")  # fmt: skip
        except ModelOutputInvalid:
            return None
        timer.record(out.usage, out.attempts, out.model)
        return out.value.answers

    @staticmethod
    def _citation(number: int, sp: ScoredPassage, docs: dict[str, Document]) -> Citation:
        p = sp.passage
        return cite(number, docs[p.document_id], p.start, p.end, p.index)

    def _verify(
        self, question: str, out: QAOutput, hits: list[ScoredPassage], docs: dict[str, Document]
    ) -> tuple[list[AnswerSentence], list[RejectedSentence]]:
        kept: list[AnswerSentence] = []
        rejected: list[RejectedSentence] = []
        if not out.answerable:
            return kept, rejected
        for s in out.sentences:
            verdict = self._verify_one(question, s, hits, docs)
            if isinstance(verdict, AnswerSentence):
                kept.append(verdict)
            elif verdict is not None:
                rejected.append(verdict)
        return kept, rejected

    def _verify_one(
        self, question: str, s: _ModelSentence, hits: list[ScoredPassage], docs: dict[str, Document]
    ) -> AnswerSentence | RejectedSentence | None:
        """One model sentence checked against the passages it cites: kept with citations, rejected with a reason,
        or None when it says nothing."""
        verdict = verify_cited(
            s.text, s.passages, lambda n: hits[n - 1].passage.text, len(hits),
            no_citation="cites no retrieved passage", repair=True, minimal=True, check=self.verify,
            given="" if is_yes_no(question) else question, widen=lambda valid: _with_shown_neighbours(valid, hits),
            guard=question,
        )  # fmt: skip
        if verdict is None:
            return None
        if not verdict.kept:
            return RejectedSentence(text=verdict.text, cited=verdict.cited, reason=verdict.reason)
        citations = [self._citation(n, hits[n - 1], docs) for n in verdict.cited]
        return AnswerSentence(text=verdict.text, citations=citations, citation_repaired=verdict.repaired)
