"""A summary's later sentences: one more call over the report sentences after the last one the summary cites,
against an OpenAI-compatible stub on loopback. Its sentences are verified like the rest; an invalid reply keeps
the summary; too few sentences left, or the setting at 0, makes no call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.domain.models import DocumentMeta
from tests.conftest import make_container, make_settings
from tests.stub_openai import StubServer, numbered_lines, schema_name
from tests.stub_openai import quoting as stub_quoting

REPORT = " ".join(
    f"Sentence {w} of the report names Station {w.title()}." for w in ("one two three four five six".split())
)


def quoting(tail_reply: str | None = None) -> Any:
    """The shared quoting stub (a summary of the first three numbered sentences, a tail of the first two), with the
    tail's reply replaced by `tail_reply` when given."""
    shared = stub_quoting()

    def step(body: dict[str, Any]) -> tuple[Any, ...]:
        if tail_reply is not None and schema_name(body) == "summary_tail":
            return ("content", tail_reply)
        return shared(body)

    return step


def _summarize(
    tmp: Path, tail_min: int, tail_reply: str | None = None, report: str = REPORT, **extra: Any
) -> tuple[Any, list[dict[str, Any]]]:
    with StubServer([quoting(tail_reply)]) as stub:
        settings = make_settings(
            tmp,
            llm_base_url=stub.base_url,
            llm_model="stub",
            llm_max_attempts=1,
            summary_tail_min_sentences=tail_min,
            **extra,
        )
        c = make_container(settings)
        doc = c.ingest.ingest_text(report, DocumentMeta(title="Stations"), "k").document
        summary = c.summarizer.summarize(doc)
        for s in summary.sentences:
            for cit in s.citations:
                assert cit.quote == doc.text[cit.start : cit.end]
        return summary, list(stub.requests)


def test_the_sentences_after_the_last_cited_one_get_two_more_summary_sentences(tmp_path: Path) -> None:
    summary, requests = _summarize(tmp_path, tail_min=3)
    assert [s.text for s in summary.sentences] == [
        f"Sentence {w} of the report names Station {w.title()}." for w in "one two three four five".split()
    ]
    assert [s.citations[0].quote for s in summary.sentences[3:]] == [
        summary.sentences[3].text,
        summary.sentences[4].text,
    ]
    tail = [r for r in requests if schema_name(r) == "summary_tail"]
    assert len(tail) == 1 and numbered_lines(tail[0]) == [
        f"Sentence {w} of the report names Station {w.title()}." for w in ("four", "five", "six")
    ]
    assert summary.meta.usage.calls == 2


def test_tail_calls_repeat_from_the_last_cited_sentence_up_to_the_setting(tmp_path: Path) -> None:
    words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen".split()
    report = " ".join(f"Sentence {w} of the report names Station {w.title()}." for w in words)
    summary, requests = _summarize(tmp_path / "three", tail_min=2, report=report, summary_tail_max_calls=3)
    assert [s.text for s in summary.sentences] == [
        f"Sentence {w} of the report names Station {w.title()}." for w in words[:9]
    ]
    shown = [numbered_lines(r)[0] for r in requests if schema_name(r) == "summary_tail"]
    assert shown == [f"Sentence {w} of the report names Station {w.title()}." for w in ("four", "six", "eight")]
    assert summary.meta.usage.calls == 4  # five sentences are still left: the setting stopped it
    one, requests = _summarize(tmp_path / "one", tail_min=2, report=report, summary_tail_max_calls=1)
    assert len(one.sentences) == 5 and [schema_name(r) for r in requests].count("summary_tail") == 1


def test_a_tail_call_that_keeps_nothing_ends_them(tmp_path: Path) -> None:
    unsupported = json.dumps({"sentences": [{"text": "Station Four paid 9 dollars.", "sentences": [1]}] * 2})
    summary, requests = _summarize(tmp_path, tail_min=2, tail_reply=unsupported, summary_tail_max_calls=3)
    assert len(summary.sentences) == 3 and len(summary.rejected) == 2
    assert [schema_name(r) for r in requests].count("summary_tail") == 1


def test_no_tail_call_when_too_few_sentences_are_left_or_it_is_off(tmp_path: Path) -> None:
    few, requests = _summarize(tmp_path / "few", tail_min=4)  # three are left
    assert len(few.sentences) == 3 and [schema_name(r) for r in requests] == ["summary"]
    off, requests = _summarize(tmp_path / "off", tail_min=0)
    assert len(off.sentences) == 3 and [schema_name(r) for r in requests] == ["summary"]


def test_an_invalid_tail_reply_keeps_the_summary(tmp_path: Path) -> None:
    three = json.dumps({"sentences": [{"text": "x", "sentences": [1]}] * 3})  # the tail's schema allows two
    summary, requests = _summarize(tmp_path, tail_min=3, tail_reply=three)
    assert len(summary.sentences) == 3 and [schema_name(r) for r in requests].count("summary_tail") == 2  # a re-ask
    assert summary.meta.usage.calls == 1 + 2  # the failed calls are counted


def test_a_rejected_tail_sentence_names_the_report_sentence_it_cited(tmp_path: Path) -> None:
    wrong = json.dumps(
        {
            "sentences": [
                {"text": "Sentence four of the report names Station Four.", "sentences": [1]},
                {"text": "Station Four paid 9 dollars.", "sentences": [1]},
            ]
        }
    )
    summary, _ = _summarize(tmp_path, tail_min=3, tail_reply=wrong)
    assert [s.text for s in summary.sentences][-1] == "Sentence four of the report names Station Four."
    [rejected] = summary.rejected
    assert rejected.text == "Station Four paid 9 dollars." and rejected.cited == [4]  # the report's fourth sentence
