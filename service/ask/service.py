"""Question answering: one answer call over numbered sentences, the model's own yes/no judgements on the same prefix,
and one calibrated decision to answer or to abstain."""

from __future__ import annotations

import threading
from functools import partial

from pydantic import BaseModel, Field

from service.ask.evidence import Evidence, Grounded, render_passages, screen
from service.ask.retrieval import HybridRetriever
from service.ask.stream import Emit, PassagesEvent, SentenceWatcher, settle
from service.core.calibration import Calibrator
from service.core.judging import judge
from service.core.structured import RunTimer, ask_structured
from service.core.turns import ModelTurns
from service.domain.errors import Abandoned, InvalidInput
from service.domain.models import (
    Answer,
    AnswerSentence,
    Citation,
    HeldBack,
    RejectedSentence,
    RetrievalFilter,
    RunMeta,
    WithheldPassage,
)
from service.domain.ports import ChatModel, DocumentRepository, PromptTemplate

ABSTENTION = "The sources do not say."
NOTHING_SHOWN = "no stored passage is similar enough to the question to be shown to the model"
Signals = dict[str, float | None]


class _ModelSentence(BaseModel):
    text: str = Field(max_length=600)
    passages: list[int] = Field(default_factory=list, max_length=8)


class QAOutput(BaseModel):
    """What the model must return for a question (the JSON schema sent with the request)."""

    sentences: list[_ModelSentence] = Field(default_factory=list, max_length=6)


class QAService:
    """Answers questions with verified citations and a calibrated confidence, or abstains.

    Retrieval gives sentence passages (injected instructions withheld); the prompt numbers them; the model answers
    in JSON, citing numbers, and always gives its best candidate. Each sentence is grounded structurally (it cites
    shown sentences, states no number they lack, relays no link or request) and measured (coverage, fuzzy
    alignment, retrieval similarity). Then the model is asked, on the same prompt prefix, whether its answer is
    stated by what it cites and whether the sentences answer the question at all; its P(yes) for each, with the
    measurements, go into the calibrator, which gives each sentence the probability that it is a correct, supported
    answer. Sentences at or above the threshold are the answer; with none, Dossier abstains and shows the best
    candidate it held back. Every citation's quote is `document.text[start:end]`.
    """

    def __init__(
        self,
        retriever: HybridRetriever,
        repo: DocumentRepository,
        chat: ChatModel,
        prompt: PromptTemplate,
        calibrator: Calibrator,
        *,
        settings_hash: str,
        passages: int,
        min_similarity: float,
        max_question_chars: int,
        min_confidence: float | None = None,
        verify: bool = True,
        turns: ModelTurns | None = None,
        verify_band: tuple[float, float] = (1.0, 0.0),
    ) -> None:
        """`turns` is shared with the chat model's other users: the answer and its judges run in one turn.
        `verify_band`: a candidate sentence is put to the prompt's judges asked alone (one call each) when the
        confidence without them lies in this band; outside it they would not change the decision enough to pay."""
        self._retriever = retriever
        self._turns = turns or ModelTurns(1)
        self._repo = repo
        self._chat = chat
        self._prompt = prompt
        self._calibrator = calibrator
        self._settings_hash = settings_hash
        self._k = passages
        self._min_similarity = min_similarity
        self._max_chars = max_question_chars
        self.min_confidence = calibrator.threshold if min_confidence is None else min_confidence
        self.verify = verify  # off only in a test configuration, to prove the eval gate catches it
        self._band = verify_band

    @property
    def calibrator_ref(self) -> str:
        """The calibrator artefact answers are scored with (`<id>/v<N>`)."""
        return self._calibrator.ref

    def checked(self, question: str, min_confidence: float | None = None) -> str:
        """The question stripped; 422 when it is empty or too long, or the threshold is not a probability (a stream
        checks this before it starts)."""
        question = question.strip()
        if not question:
            raise InvalidInput("question is empty")
        if len(question) > self._max_chars:
            raise InvalidInput(f"question is {len(question)} characters; the limit is {self._max_chars}")
        if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
            raise InvalidInput(f"min_confidence is {min_confidence}; it must be between 0 and 1")
        return question

    def ask(
        self,
        question: str,
        flt: RetrievalFilter | None = None,
        on_event: Emit | None = None,
        stop: threading.Event | None = None,
        min_confidence: float | None = None,
    ) -> Answer:
        """Answer `question` from the stored reports (optionally filtered), deciding with `min_confidence` (default:
        the configured threshold). With `on_event`, the steps are told as they happen (see `stream`); the answer is
        the same either way. `stop` set (the client went away, or the request's budget ran out) ends the work at
        its next step: waiting for its model turn, or streaming."""
        question = self.checked(question, min_confidence)
        threshold = self.min_confidence if min_confidence is None else min_confidence
        watcher = SentenceWatcher(on_event, stop) if on_event else None
        answer = self._answer(question, flt, watcher, threshold, stop)
        if on_event and watcher:
            settle(watcher, answer, on_event)
        return answer

    def _answer(
        self,
        question: str,
        flt: RetrievalFilter | None,
        watcher: SentenceWatcher | None,
        threshold: float,
        stop: threading.Event | None = None,
    ) -> Answer:
        timer = RunTimer(self._prompt, self._chat.model_name, self._settings_hash, self._calibrator.ref)
        retrieved = self._retriever.retrieve(question, self._k, flt)
        docs = {d: doc for d in {h.passage.document_id for h in retrieved} if (doc := self._repo.get(d))}
        hits, withheld = screen(retrieved, docs)
        evidence = Evidence(question, hits, docs)
        signals = evidence.answer_signals()
        if watcher:
            watcher.start(PassagesEvent.of(hits, withheld), lambda raw: self._early(evidence, raw, signals, threshold))
        if not hits or (signals["sim_top"] or 0.0) < self._min_similarity:
            return self._abstain(question, timer.done(), threshold, [], withheld, signals, None, NOTHING_SHOWN)
        values = {"passages": render_passages(hits), "question": question}
        with self._turns.turn(partial(_still_wanted, stop) if stop else None):  # the judges reuse its prompt
            out = ask_structured(
                self._chat,
                self._prompt.render(**values),
                QAOutput,
                max_tokens=self._prompt.max_tokens,
                schema_name="qa_answer",
                on_text=watcher.feed if watcher else None,
            )
            timer.record(out.usage, out.attempts, out.model)
            if watcher:
                watcher.check()
                watcher.finish(list(out.value.sentences))
            grounded = [evidence.ground(s.text, s.passages) for s in out.value.sentences if s.text.strip()]
            if grounded and self.verify:
                signals |= self._judgements(values, out.text, timer)
                shared = self._prompt.judge_names(alone=False)
                if all(
                    signals.get(f"p_{n}") is not None for n in shared
                ):  # without log-probabilities they tell nothing
                    for g in grounded:
                        self._judge_alone(question, evidence, g, signals, timer)
        return self._decide(question, evidence, grounded, signals, threshold, timer.done(), withheld)

    def _judgements(self, values: dict[str, str], answer: str, timer: RunTimer) -> Signals:
        """The model's P(yes) for each judge of the prompt, on the answer's own prefix (None: no log-probabilities).
        Judges that follow the answer go first: their prefix is exactly what the server has just evaluated."""
        out: Signals = {}
        shared = self._prompt.judge_names(alone=False)
        for name in sorted(shared, key=lambda n: not self._prompt.judges[n].after_answer):
            p, usage = judge(self._chat, self._prompt.judge(name, answer, **values))
            timer.record(usage, 1, self._chat.model_name)
            out[f"p_{name}"] = p
            if p is None:
                break  # the endpoint gives no log-probabilities: the next judge would tell nothing either
        return out

    def _judge_alone(self, question: str, evidence: Evidence, g: Grounded, signals: Signals, timer: RunTimer) -> None:
        """Put one candidate sentence, with only the sentences it cites, to each judge asked alone (its P(yes) joins
        the sentence's signals as `p_<name>`), when its confidence so far lies in the verify band."""
        if g.problem or not g.cited:
            return
        so_far = self._score(signals, g)
        if so_far is None or not self._band[0] <= so_far <= self._band[1]:
            return
        source = "\n".join(evidence.citation(n).quote for n in g.cited)
        for name in self._prompt.judge_names(alone=True):
            p, usage = judge(self._chat, self._prompt.judge(name, g.text, source=source, question=question))
            timer.record(usage, 1, self._chat.model_name)
            g.signals[f"p_{name}"] = p

    def _score(self, signals: Signals, g: Grounded) -> float | None:
        scored = self._calibrator.score(signals | g.signals)
        return None if scored is None else scored.confidence

    def _sentence(self, evidence: Evidence, g: Grounded, confidence: float | None) -> AnswerSentence:
        citations = [evidence.citation(n) for n in g.cited]
        return AnswerSentence(
            text=g.text, citations=citations, confidence=confidence, citation_repaired=g.repaired, signals=g.signals
        )

    def _early(self, evidence: Evidence, raw: object, signals: Signals, threshold: float) -> AnswerSentence | None:
        """A streamed sentence, scored as soon as it is complete by the calibrator's model for what is known so far
        (the judgements come after the whole answer); shown when it reaches the threshold, retracted later if the
        final decision drops it."""
        s = _ModelSentence.model_validate(raw)
        g = evidence.ground(s.text, s.passages)
        if g.problem or not g.cited:
            return None
        confidence = self._score(signals, g)
        if self.verify and (confidence is None or confidence < threshold):
            return None
        return self._sentence(evidence, g, confidence)

    def _decide(
        self,
        question: str,
        evidence: Evidence,
        grounded: list[Grounded],
        signals: Signals,
        threshold: float,
        meta: RunMeta,
        withheld: list[WithheldPassage],
    ) -> Answer:
        """Keep the sentences whose confidence reaches the threshold; the answer's confidence is its weakest kept
        sentence's. With none kept, abstain and show the best candidate held back."""
        rejected: list[RejectedSentence] = []
        candidates: list[AnswerSentence] = []
        for g in grounded:
            if g.problem and self.verify:
                rejected.append(
                    RejectedSentence(
                        text=g.text,
                        cited=g.cited,
                        reason=g.problem,
                        confidence=self._score(signals, g),
                        signals=signals | g.signals,
                    )
                )
            elif g.cited:
                candidates.append(self._sentence(evidence, g, self._score(signals, g) if self.verify else None))
        kept = [s for s in candidates if not self.verify or (s.confidence or 0.0) >= threshold]
        low = [s for s in candidates if s not in kept]
        shown = [h.passage.id for h in evidence.hits]
        if not kept:
            best = max(candidates, key=lambda s: s.confidence or 0.0, default=None)
            why = (
                f"confidence {best.confidence:.2f} is below the threshold {threshold:.2f}"
                if best and best.confidence is not None
                else "no sentence could be scored"
            )
            return self._abstain(question, meta, threshold, rejected, withheld, signals, best, why, shown, candidates)
        rejected += [
            RejectedSentence(
                text=s.text,
                cited=[c.passage_number for c in s.citations],
                reason=f"confidence {s.confidence or 0.0:.2f} is below the threshold {threshold:.2f}",
            )
            for s in low
        ]
        citations: dict[str, Citation] = {}
        for s in kept:
            for c in s.citations:
                citations.setdefault(c.passage_id, c)
        scores = [s.confidence for s in kept if s.confidence is not None]
        return Answer(
            question=question,
            answer=" ".join(s.text for s in kept),
            abstained=False,
            sentences=kept,
            citations=list(citations.values()),
            confidence=min(scores) if scores else None,
            min_confidence=threshold,
            rejected=rejected,
            withheld=withheld,
            shown=shown,
            signals=signals,
            meta=meta,
        )

    @staticmethod
    def _abstain(
        question: str,
        meta: RunMeta,
        threshold: float,
        rejected: list[RejectedSentence],
        withheld: list[WithheldPassage],
        signals: Signals,
        best: AnswerSentence | None,
        reason: str,
        shown: list[str] | None = None,
        candidates: list[AnswerSentence] | None = None,
    ) -> Answer:
        held = None
        if best is not None:
            sentences = candidates or [best]
            held = HeldBack(
                text=" ".join(s.text for s in sentences), sentences=sentences, confidence=best.confidence, reason=reason
            )
        return Answer(
            question=question,
            answer=ABSTENTION,
            abstained=True,
            sentences=[],
            citations=[],
            confidence=None,
            min_confidence=threshold,
            held_back=held,
            rejected=rejected,
            withheld=withheld,
            shown=shown or [],
            signals=signals,
            meta=meta,
        )


def _still_wanted(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise Abandoned("the client went away, or the request's budget ran out, before the model was free")
