"""The events of a streamed answer, and the watcher that verifies each answer sentence as soon as the model has
finished writing it.

Order: `passages` (what the model is shown, and what was withheld), then a `sentence` for each sentence as soon as
it is complete and verified, `retracted` for a streamed sentence that the final decision (with the model's judgements of
the whole answer) later dropped, `rejected` for each sentence verification dropped, and last `answer`: the whole
answer, the same object a non-streamed request returns.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from service.domain.errors import Abandoned
from service.domain.models import Answer, AnswerSentence, RejectedSentence, ScoredPassage, WithheldPassage

EventName = Literal["passages", "sentence", "retracted", "rejected", "answer", "error"]
Emit = Callable[[EventName, BaseModel], None]


class ShownPassage(BaseModel):
    """A passage shown to the model, under the number the model cites it by."""

    number: int
    passage_id: str
    document_id: str
    title: str
    start: int
    end: int
    text: str


class PassagesEvent(BaseModel):
    """The first event: the passages the model is shown, and those withheld from it."""

    shown: list[ShownPassage]
    withheld: list[WithheldPassage]

    @classmethod
    def of(cls, hits: list[ScoredPassage], withheld: list[WithheldPassage]) -> PassagesEvent:
        shown = [
            ShownPassage(
                number=n,
                passage_id=h.passage.id,
                document_id=h.passage.document_id,
                title=h.passage.title,
                start=h.passage.start,
                end=h.passage.end,
                text=h.passage.text,
            )
            for n, h in enumerate(hits, 1)
        ]
        return cls(shown=shown, withheld=withheld)


class SentenceEvent(BaseModel):
    """An answer sentence that passed verification, with its citations (quotes cut from the stored text)."""

    index: int
    sentence: AnswerSentence


class RetractedEvent(BaseModel):
    """A streamed sentence that the final decision dropped after it was sent; it is not in the answer."""

    index: int
    text: str
    reason: str


class AnswerEvent(BaseModel):
    """The last event: the whole answer, as `POST /v1/ask` without `stream` returns it."""

    answer: Answer


Verify = Callable[[object], AnswerSentence | RejectedSentence | None]


class SentenceWatcher:
    """Fed the model's JSON as it streams; each sentence object is verified once it is complete (the next one has
    begun, or the output has ended) and, if it stands, emitted at once. Sentence events are numbered in the order
    they are sent; a retraction names that number. When the model's output starts again (a retry, a re-ask),
    whatever was shown of the abandoned output is retracted first. `stop` set means the client went away: the
    next piece of output raises `Abandoned`, which ends the model call."""

    def __init__(self, emit: Emit, stop: threading.Event | None = None) -> None:
        self._emit = emit
        self._stop = stop
        self._verify: Verify | None = None
        self._seen = 0
        self._sent = 0
        self.live: list[tuple[int, AnswerSentence]] = []  # shown and not retracted, in order

    def start(self, passages: PassagesEvent, verify: Verify) -> None:
        """Retrieval is done: send the passages; model sentences are checked with `verify` from now on."""
        self._emit("passages", passages)
        self._verify = verify

    def check(self) -> None:
        """Raise `Abandoned` if the client went away."""
        if self._stop is not None and self._stop.is_set():
            raise Abandoned("the client closed the stream")

    def feed(self, text: str) -> None:
        """The model's output so far; an empty text means it starts again from nothing."""
        self.check()
        if not text:
            self._restart()
            return
        try:
            partial = from_json(text, allow_partial=True)
        except ValueError:
            return
        if not isinstance(partial, dict):
            return
        sentences = partial.get("sentences")
        if isinstance(sentences, list):
            self._take(sentences[:-1])  # the last one may still be growing

    def finish(self, sentences: list[object]) -> None:
        """The validated output's sentences: whatever was not yet seen is checked now."""
        self._take(sentences)

    def _restart(self) -> None:
        for index, sentence in self.live:
            self._emit(
                "retracted",
                RetractedEvent(index=index, text=sentence.text, reason="the model started its answer again"),
            )
        self.live = []
        self._seen = 0

    def _take(self, sentences: list[object]) -> None:
        if self._verify is None:
            return
        for i in range(self._seen, len(sentences)):
            self._seen = i + 1
            try:
                verdict = self._verify(sentences[i])
            except (ValidationError, ValueError, TypeError):
                continue  # malformed in the stream: the validated output decides
            if isinstance(verdict, AnswerSentence):
                self.send(verdict)

    def send(self, sentence: AnswerSentence) -> None:
        """Emit `sentence` as the next sentence event."""
        index = self._sent
        self._sent += 1
        self.live.append((index, sentence))
        self._emit("sentence", SentenceEvent(index=index, sentence=sentence))


def _same(a: AnswerSentence, b: AnswerSentence) -> bool:
    """The same sentence on the same citations (its confidence may have been refined since it was shown)."""
    return a.text == b.text and [c.passage_id for c in a.citations] == [c.passage_id for c in b.citations]


def settle(watcher: SentenceWatcher, answer: Answer, emit: Emit) -> None:
    """After the answer is final: retract what the final decision dropped, send what was not streamed yet, then the
    rejected sentences and the answer itself (whose sentences carry their final confidence). What stays shown is
    then the answer's sentences, in order."""
    reasons = {r.text: r.reason for r in answer.rejected}
    if answer.held_back is not None:
        reasons |= {s.text: answer.held_back.reason for s in answer.held_back.sentences}
    for index, sentence in list(watcher.live):
        if not any(_same(sentence, s) for s in answer.sentences):
            reason = reasons.get(sentence.text, "dropped by the final decision")
            emit("retracted", RetractedEvent(index=index, text=sentence.text, reason=reason))
            watcher.live.remove((index, sentence))
    shown = [s for _, s in watcher.live]
    for sentence in answer.sentences:
        if not any(_same(sentence, s) for s in shown):
            watcher.send(sentence)
    for r in answer.rejected:
        emit("rejected", r)
    emit("answer", AnswerEvent(answer=answer))
