"""Fact extraction grounded by construction: sentence numbers in, character spans out."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator

from service.core.dates import date_mention, normalise_date
from service.core.injection import screened
from service.core.segment import windows
from service.core.spans import narrow
from service.core.structured import RunTimer, ask_json
from service.core.support import verify_cited
from service.domain.errors import NotFound
from service.domain.facts import Evidence, Extraction, Fact, FactKind, FactSchema, RejectedFact
from service.domain.models import Document, Sentence
from service.domain.ports import ChatModel, DocumentRepository, ExtractionStore, PromptStore
from service.extract.attribution import stance_from_cues
from service.extract.merge import merge_duplicates, merge_entities

Progress = Callable[[int, int], None]
KeyFn = Callable[[str, str, str, str], str]


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)] if value not in (None, "") else []


class ExtractService:
    """Extracts schema facts from a document, window by window, and grounds each one.

    The prompt shows numbered sentences; the model returns facts with sentence numbers. A fact is kept
    only if its evidence can be located: `mention` kinds need their anchor (a name, a value) found in
    a cited sentence (or, failing that, in another sentence of the window); `statement` kinds need
    their text supported by the cited sentences, as answers are. Evidence is then narrowed to the
    mention where possible. Everything else goes to `rejected` with the reason. Results are cached by
    document content, schema, prompt version and model.
    """

    def __init__(
        self,
        repo: DocumentRepository,
        store: ExtractionStore,
        chat: ChatModel,
        prompts: PromptStore,
        key: KeyFn,
        *,
        settings_hash: str,
        window_chars: int,
    ) -> None:
        self._repo = repo
        self._store = store
        self._chat = chat
        self._prompts = prompts
        self._key = key
        self._settings_hash = settings_hash
        self._window_chars = window_chars

    def stored(self, document_id: str, schema: FactSchema) -> Extraction | None:
        """The stored result of extracting `schema` from the document with today's prompt and model, if any."""
        prompt = self._prompts.get("extract")
        hit = self._store.get(self._key(document_id, schema.ref, prompt.ref, self._chat.model_name))
        return hit.model_copy(update={"cached": True}) if hit is not None else None

    def extract(
        self, document_id: str, schema: FactSchema, *, refresh: bool = False, progress: Progress | None = None
    ) -> Extraction:
        """Extract (or return the stored result unless `refresh`)."""
        doc = self._repo.get(document_id)
        if doc is None:
            raise NotFound(f"document {document_id!r} does not exist")
        prompt = self._prompts.get("extract")
        key = self._key(doc.id, schema.ref, prompt.ref, self._chat.model_name)
        if not refresh and (hit := self._store.get(key)) is not None:
            return hit.model_copy(update={"cached": True})
        timer = RunTimer(prompt, self._chat.model_name, self._settings_hash)
        out_schema = schema.output_json_schema()
        validator = Draft202012Validator(out_schema)
        instructions = "\n".join(f"- {name}: {k.description}" for name, k in schema.kinds.items())
        parts = windows(screened(doc.text), self._window_chars)
        facts: dict[str, list[Fact]] = {name: [] for name in schema.kinds}
        rejected: list[RejectedFact] = []
        for i, window in enumerate(parts):
            numbered = "\n".join(f"[{n}] {doc.text[s.start : s.end]}" for n, s in enumerate(window, start=1))
            messages = prompt.render(sentences=numbered, instructions=instructions, example=schema.example or "(none)")
            out = ask_json(
                self._chat,
                messages,
                out_schema,
                lambda t: _validated(validator, t),
                max_tokens=prompt.max_tokens,
                schema_name=schema.id.replace("-", "_"),
            )
            timer.record(out.usage, out.attempts, out.model)
            for name, kind in schema.kinds.items():
                for raw in out.value.get(name) or []:
                    fact, why = self._ground(doc, window, name, kind, raw)
                    if fact is not None:
                        facts[name].append(fact)
                    else:
                        fields = {k: v for k, v in raw.items() if k != "sentences"}
                        rejected.append(
                            RejectedFact(kind=name, fields=fields, cited=raw.get("sentences") or [], reason=why)
                        )
            if progress:
                progress(i + 1, len(parts))
        for name, kind in schema.kinds.items():
            facts[name] = (
                merge_entities(facts[name], kind.anchor, kind.alias_field)
                if kind.alias_field
                else merge_duplicates(facts[name], kind.anchor)
            )
        meta = timer.done()
        result = Extraction(
            document_id=doc.id,
            schema_id=schema.id,
            schema_version=schema.version,
            facts=facts,
            rejected=rejected,
            windows=len(parts),
            meta=meta,
            created_at=dt.datetime.now(dt.UTC),
        )
        self._store.save(key, result)
        return result

    def query(
        self,
        schema_id: str,
        *,
        entity: str | None = None,
        type: str | None = None,
        collections: list[str] | None = None,
    ) -> list[tuple[str, str, str, Fact]]:
        """(document id, title, kind, fact) across the newest extraction of each live document, filtered by an
        entity's name or alias (case-insensitive substring) and by fact kind or entity type, within `collections`
        (None: all)."""
        titles = {d.id: d.title for d in self._repo.list(collections)}
        out: list[tuple[str, str, str, Fact]] = []
        seen: set[str] = set()
        for ex in self._store.all(schema_id):
            if ex.document_id in seen or ex.document_id not in titles:
                continue  # newest extraction per live document only
            seen.add(ex.document_id)
            for kind, items in ex.facts.items():
                for f in items:
                    if type and type != kind and f.fields.get("type") != type:
                        continue
                    if entity and entity.lower() not in _haystack(f.fields):
                        continue
                    out.append((ex.document_id, titles[ex.document_id], kind, f))
        return out

    def _ground(
        self, doc: Document, window: list[Sentence], name: str, kind: FactKind, raw: dict[str, Any]
    ) -> tuple[Fact | None, str]:
        fields = {k: v for k, v in raw.items() if k != "sentences"}
        cited = [window[n - 1] for n in sorted(set(raw.get("sentences") or [])) if 1 <= n <= len(window)]
        anchors = _strings(fields.get(kind.anchor))
        if kind.alias_field:
            anchors += _strings(fields.get(kind.alias_field))
        if not anchors:
            return None, f"empty {kind.anchor!r}"
        if kind.support == "mention":
            spans = self._mentions(doc, cited, anchors) or self._mentions(doc, window, anchors)
            if not spans:
                return None, f"{kind.anchor} {anchors[0]!r} not found in the cited sentences"
            evidence = spans
        else:
            claim = " ".join(anchors + _strings(fields.get("date")))
            verdict = verify_cited(
                claim,
                raw.get("sentences") or [],
                lambda n: doc.text[window[n - 1].start : window[n - 1].end],
                len(window),
                no_citation=None,
                each=True,
                widen=_with_previous,
                repair=True,
                skip_abstentions=False,
            )
            if verdict is None or not verdict.kept:
                why = verdict.reason if verdict else "empty statement"
                return None, f"not supported by the cited sentences ({why})"
            support = [window[n - 1] for n in verdict.cited]
            evidence = [self._statement_span(doc, s, anchors[0]) for s in support]
        if kind.occurrence and (odd := _not_an_occurrence(doc, window, evidence)):
            return None, odd
        missing = [v for f in kind.parties for v in _strings(fields.get(f)) if not _names_in(v, doc.text)]
        if missing:
            return None, f"named party not in the document: {', '.join(missing)}"
        if kind.speaker_field and kind.stance_field:
            self._attribute(doc, window, evidence[0], fields, kind.speaker_field, kind.stance_field)
        if kind.date_field:
            if not fields.get(kind.date_field) and kind.date_source:  # the model left the date in another field
                fields[kind.date_field] = date_mention(str(fields.get(kind.date_source) or ""))
            fields[f"{kind.date_field}_iso"] = normalise_date(fields.get(kind.date_field))
        return Fact(kind=name, fields=fields, evidence=evidence), "grounded"

    @staticmethod
    def _attribute(
        doc: Document, window: list[Sentence], first: Evidence, fields: dict[str, Any], speaker_f: str, stance_f: str
    ) -> None:
        """The stance rule on the sentence holding the evidence; the model's own values kept in `model_said`."""
        text = doc.text[first.start : first.end]
        sentence = next((doc.text[x.start : x.end] for x in window if x.start <= first.start < x.end), text)
        stance = stance_from_cues(str(fields.get(stance_f) or "asserts"), sentence)
        if stance != fields.get(stance_f):
            fields["model_said"] = {speaker_f: fields.get(speaker_f), stance_f: fields.get(stance_f)}
            fields[stance_f] = stance

    @staticmethod
    def _mentions(doc: Document, sentences: list[Sentence], anchors: list[str]) -> list[Evidence]:
        out = []
        for s in sentences:
            for a in anchors:
                span = narrow(a, doc.text, s.start, s.end)
                if span:
                    out.append(
                        Evidence(
                            document_id=doc.id,
                            start=span.start,
                            end=span.end,
                            text=doc.text[span.start : span.end],
                            grounding=span.grounding,
                        )
                    )
                    break
        return out

    @staticmethod
    def _statement_span(doc: Document, s: Sentence, statement: str) -> Evidence:
        # Statements narrow only on an exact match: a fuzzy partial would cut the claim in half.
        span = narrow(statement, doc.text, s.start, s.end)
        if span is None or span.grounding != "exact":
            span = None
        start, end, how = (span.start, span.end, span.grounding) if span else (s.start, s.end, "sentence")
        return Evidence(document_id=doc.id, start=start, end=end, text=doc.text[start:end], grounding=how)


def _not_an_occurrence(doc: Document, window: list[Sentence], evidence: list[Evidence]) -> str | None:
    """Why a fact of an `occurrence` kind is the headline restated rather than something that happened."""
    held = [s for s in window if any(s.start <= e.start < s.end for e in evidence)]
    sentences = [doc.text[s.start : s.end] for s in held]
    if sentences and all(t.strip() == doc.title.strip() for t in sentences):
        return "rests only on the headline, which restates the report"
    return None


def _with_previous(cited: list[int]) -> list[int]:
    """The cited sentences and the one before each: a pronoun ("he debuted ...") resolves there."""
    return sorted({*cited, *(n - 1 for n in cited if n > 1)})


def _names_in(value: str, text: str) -> bool:
    """Capitalised words of `value` (a speaker, an actor) all occur in the document."""
    folded = text.lower().replace("\u2019", "'")
    caps = [w.strip(".,'\"()").lower() for w in value.split() if w[:1].isupper()]
    return all(c in folded for c in caps if len(c) > 1)


def _validated(validator: Draft202012Validator, text: str) -> dict[str, Any]:
    data = json.loads(text)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        raise ValueError(f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def _haystack(fields: dict[str, Any]) -> str:
    parts: list[str] = []
    for v in fields.values():
        parts.extend(str(x) for x in v) if isinstance(v, list) else parts.append(str(v))
    return " ".join(parts).lower()
