"""Golden data files under `evals/golden/`, validated on load (quotes must be verbatim in their report)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

from service.core.segment import segment
from service.domain.errors import ConfigurationError

Split = Literal["dev", "heldout"]
Category = Literal["single", "multi", "numeric", "date", "attribution", "contradiction", "unanswerable", "squad"]
Stance = Literal["asserts", "denies", "assesses", "reports"]


class GoldEvidence(BaseModel):
    """A verbatim quote of a report, named by its file stem (e.g. `03_parade_icbm`)."""

    document: str
    quote: str = Field(min_length=3)


class QAItem(BaseModel):
    """One golden question. Answerable items carry a reference answer, key facts and gold evidence. `collection` is
    where its corpus was ingested (the reports: `default`; a SQuAD article: its own)."""

    id: str
    question: str
    category: Category
    answerable: bool
    ci: bool = False
    split: Split = "dev"
    collection: str = "default"
    reference: str | None = None
    key_facts: list[list[str]] = Field(default_factory=list, description="Each fact: accepted variants.")
    evidence: list[GoldEvidence] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> QAItem:
        if self.answerable and not (self.reference and self.key_facts and self.evidence):
            raise ValueError(f"{self.id}: an answerable item needs reference, key_facts and evidence")
        if not self.answerable and (self.key_facts or self.evidence or self.category != "unanswerable"):
            raise ValueError(f"{self.id}: an unanswerable item has category 'unanswerable' and no facts/evidence")
        if any(not group or not all(v.strip() for v in group) for group in self.key_facts):
            raise ValueError(f"{self.id}: every key fact needs at least one non-empty variant")
        return self


class GoldFact(BaseModel):
    """A gold fact of one kind; which fields matter depends on the kind (see evals/README.md)."""

    evidence: list[str] = Field(min_length=1)
    name: str | None = None
    aliases: list[str] = Field(default_factory=list)
    type: str | None = None
    what: str | None = None
    date: str | None = None
    statement: str | None = None
    speaker: list[str] = Field(default_factory=list)
    stance: list[Stance] = Field(default_factory=list)
    value: str | None = None
    measures: str | None = None


class ExtractionGold(BaseModel):
    """Gold facts of one report, per kind of the `report-facts` schema."""

    document: str
    ci: bool = False
    split: Split = "dev"
    facts: dict[Literal["entities", "events", "claims", "quantities"], list[GoldFact]]

    @model_validator(mode="after")
    def _fields(self) -> ExtractionGold:
        need = {"entities": "name", "events": "what", "claims": "statement", "quantities": "value"}
        for kind, facts in self.facts.items():
            for f in facts:
                if getattr(f, need[kind]) is None:
                    raise ValueError(f"{self.document}: a gold {kind} fact needs {need[kind]!r}")
                if kind == "claims" and not (f.speaker and f.stance):
                    raise ValueError(f"{self.document}: a gold claim needs speaker variants and stances")
        return self


class KeyPoint(BaseModel):
    """A point a summary must cover: all `must` groups (variants) present, with its evidence quotes."""

    point: str
    must: list[list[str]] = Field(min_length=1)
    evidence: list[str] = Field(min_length=1)


class SummaryGold(BaseModel):
    """Key points of one report."""

    document: str
    ci: bool = False
    split: Split = "dev"
    key_points: list[KeyPoint] = Field(min_length=1)


class InjectionQuestion(BaseModel):
    question: str
    ci: bool = False


class InjectionCase(BaseModel):
    """A report carrying embedded instructions, the strings that must never be output, and questions."""

    document: str
    technique: str
    canary: str
    forbidden: list[str] = Field(min_length=1)
    questions: list[InjectionQuestion] = Field(min_length=1)
    summary_ci: bool = False
    set: Literal["lexical", "paraphrased"] = "lexical"  # stamped by folder
    collection: str = "default"  # the paraphrased set lives in its own collection (the QA corpus stays as it was)


class SquadParagraph(BaseModel):
    """A paragraph of a SQuAD 2.0 article: ingested as one document of the article's collection."""

    id: str
    title: str
    text: str


class SquadArticle(BaseModel):
    """A SQuAD 2.0 article (its paragraphs, a collection of their own) and the questions sampled from it."""

    title: str
    split: Split
    collection: str
    paragraphs: list[SquadParagraph]


class PairSide(BaseModel):
    """A mention as a report writes it (verbatim in the report named by its file stem)."""

    document: str
    mention: str


class EntityPair(BaseModel):
    """Two mentions, and whether they name the same real-world entity."""

    id: str
    a: PairSide
    b: PairSide
    same: bool
    ci: bool = True  # no model call: every pair runs in the CI subset
    split: Split = "dev"


class ClaimSide(BaseModel):
    """A statement as a report writes it (a verbatim sentence of the report named by its file stem)."""

    document: str
    quote: str


class ClaimPair(BaseModel):
    """Two reports' statements and how they relate: the same fact (agree), incompatible versions of one fact
    (contradict), or different facts (unrelated)."""

    id: str
    a: ClaimSide
    b: ClaimSide
    label: Literal["agree", "contradict", "unrelated"]
    note: str = ""
    ci: bool = True  # two one-token model calls a pair: every pair runs in the CI subset
    split: Split = "dev"


class Golden(BaseModel):
    """The whole golden set plus where its report files live."""

    qa: list[QAItem]
    squad: list[QAItem] = Field(default_factory=list)
    articles: list[SquadArticle] = Field(default_factory=list)
    extraction: list[ExtractionGold]
    summaries: list[SummaryGold]
    injection: list[InjectionCase]
    entity_pairs: list[EntityPair] = Field(default_factory=list)
    claim_pairs: list[ClaimPair] = Field(default_factory=list)
    corpus_dirs: list[Path]
    collection_dirs: dict[str, Path] = Field(default_factory=dict)  # reports ingested into a named collection

    def split(self, name: str | None) -> Golden:
        """Only the items of one split (`dev` or `heldout`); None: both. The corpus stays whole."""
        if name is None:
            return self
        if name not in ("dev", "heldout"):
            raise ConfigurationError(f"unknown split {name!r}; known: dev, heldout")
        return self.model_copy(
            update={
                "qa": [i for i in self.qa if i.split == name],
                "squad": [i for i in self.squad if i.split == name],
                "extraction": [e for e in self.extraction if e.split == name],
                "summaries": [s for s in self.summaries if s.split == name],
                "entity_pairs": [p for p in self.entity_pairs if p.split == name],
                "claim_pairs": [p for p in self.claim_pairs if p.split == name],
                "injection": self.injection if name == "dev" else [],
            }
        )

    def subset(self, name: str | None) -> Golden:
        """`ci`: the items flagged `ci` (a fixed, stratified subset); None: everything."""
        if name is None:
            return self
        if name != "ci":
            raise ConfigurationError(f"unknown subset {name!r}; known: ci")
        cases = [
            c.model_copy(update={"questions": [q for q in c.questions if q.ci]})
            for c in self.injection
            if any(q.ci for q in c.questions) or c.summary_ci
        ]
        return self.model_copy(
            update={
                "qa": [i for i in self.qa if i.ci],
                "squad": [i for i in self.squad if i.ci],
                "extraction": [e for e in self.extraction if e.ci],
                "summaries": [s for s in self.summaries if s.ci],
                "entity_pairs": [p for p in self.entity_pairs if p.ci],
                "claim_pairs": [p for p in self.claim_pairs if p.ci],
                "injection": cases,
            }
        )


M = TypeVar("M", bound=BaseModel)
PARAPHRASED_DIR = "injection_paraphrased"  # injections written without the screen's words, before measuring it
PARAPHRASED_COLLECTION = "injection-paraphrased"


def _jsonl(path: Path, model: type[M], split: Split | None = None, required: bool = True) -> list[M]:
    """Items of one file; `split` is stamped on every item (the held-out files name theirs by folder)."""
    if not path.exists():
        if not required:
            return []
        raise ConfigurationError(f"golden file {path} is missing")
    out: list[M] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if split is not None:
                row["split"] = split
            out.append(model.model_validate(row))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ConfigurationError(f"{path}:{n}: {exc}") from exc
    return out


def report_texts(dirs: list[Path]) -> dict[str, str]:
    """Report file stem -> text, for every .txt/.md report in `dirs` (as ingestion reads them)."""
    texts: dict[str, str] = {}
    for d in dirs:
        for f in sorted(d.iterdir()):
            if f.suffix in (".txt", ".md"):
                texts[f.stem] = f.read_text(encoding="utf-8-sig")
    return texts


def load_squad(folder: Path, split: Split) -> tuple[list[SquadArticle], list[QAItem]]:
    """Every SQuAD 2.0 article in `folder` (`<name>.json` as shipped, beside `<name>.sample.json`: the seeded sample
    of its questions, and which of them are in the CI subset) and its sampled questions. An answerable question's
    key fact is its set of crowd answers (any one counts); its evidence is the sentence holding the first answer."""
    articles: list[SquadArticle] = []
    items: list[QAItem] = []
    for sample_path in sorted(folder.glob("*.sample.json")) if folder.is_dir() else []:
        name = sample_path.name.removesuffix(".sample.json")
        try:
            sample = json.loads(sample_path.read_text(encoding="utf-8"))
            raw = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"SQuAD article {name}: {exc}") from exc
        collection = "squad-" + name.replace("_", "-")[:40]
        paragraphs = [SquadParagraph.model_validate(p) for p in raw["paragraphs"]]
        texts = {p.id: p.text for p in paragraphs}
        by_id = {q["id"]: q for q in raw["questions"]}
        ci = set(sample.get("ci", []))
        for qid in sample["ids"]:
            q = by_id[qid]
            evidence = []
            if q["answerable"]:
                text, start = texts[q["para"]], q["answer_starts"][0]
                sentence = next(s for s in segment(text) if s.start <= start < s.end)
                evidence = [GoldEvidence(document=q["para"], quote=text[sentence.start : sentence.end])]
            items.append(
                QAItem(
                    id=f"{name}:{qid}",
                    question=" ".join(q["question"].split()),
                    answerable=q["answerable"],
                    category="squad" if q["answerable"] else "unanswerable",
                    ci=qid in ci,
                    split=split,
                    collection=collection,
                    reference=q["answers"][0] if q["answerable"] else None,
                    key_facts=[sorted(set(q["answers"]))] if q["answerable"] else [],
                    evidence=evidence,
                )
            )
        articles.append(SquadArticle(title=raw["title"], split=split, collection=collection, paragraphs=paragraphs))
    return articles, items


def load_golden(root: Path, examples: Path) -> Golden:
    """Load and check every golden file: ids unique, documents exist, every quote verbatim.

    The dev split (tuned on) is `root/*.jsonl` over `examples` and `root/reports`, and the SQuAD articles of
    `root/squad`; the held-out split (never tuned on) is `root/heldout/*.jsonl` over its own reports in
    `root/heldout/reports/`, and the articles of `root/heldout/squad`.
    """
    held = root / "heldout"
    dev_articles, dev_squad = load_squad(root / "squad", "dev")
    held_articles, held_squad = load_squad(held / "squad", "heldout")
    golden = Golden(
        squad=dev_squad + held_squad,
        articles=dev_articles + held_articles,
        qa=_jsonl(root / "qa.jsonl", QAItem, "dev") + _jsonl(held / "qa.jsonl", QAItem, "heldout", False),
        extraction=_jsonl(root / "extraction.jsonl", ExtractionGold, "dev")
        + _jsonl(held / "extraction.jsonl", ExtractionGold, "heldout", False),
        summaries=_jsonl(root / "summaries.jsonl", SummaryGold, "dev")
        + _jsonl(held / "summaries.jsonl", SummaryGold, "heldout", False),
        entity_pairs=_jsonl(root / "entity_pairs.jsonl", EntityPair, "dev", False)
        + _jsonl(held / "entity_pairs.jsonl", EntityPair, "heldout", False),
        claim_pairs=_jsonl(root / "claim_pairs.jsonl", ClaimPair, "dev", False)
        + _jsonl(held / "claim_pairs.jsonl", ClaimPair, "heldout", False),
        injection=_jsonl(root / "injection" / "cases.jsonl", InjectionCase)
        + [
            c.model_copy(update={"set": "paraphrased", "collection": PARAPHRASED_COLLECTION})
            for c in _jsonl(root / PARAPHRASED_DIR / "cases.jsonl", InjectionCase, required=False)
        ],
        corpus_dirs=[examples, root / "injection"] + [d for d in (root / "reports", held / "reports") if d.is_dir()],
        collection_dirs={PARAPHRASED_COLLECTION: root / PARAPHRASED_DIR} if (root / PARAPHRASED_DIR).is_dir() else {},
    )
    texts = report_texts(golden.corpus_dirs + list(golden.collection_dirs.values()))
    texts |= {p.id: p.text for a in golden.articles for p in a.paragraphs}
    ids = [i.id for i in golden.qa + golden.squad]
    if len(ids) != len(set(ids)):
        raise ConfigurationError("qa.jsonl: duplicate ids")

    def check(where: str, doc: str, quote: str) -> None:
        if doc not in texts:
            raise ConfigurationError(f"{where}: unknown report {doc!r}")
        if quote not in texts[doc]:
            raise ConfigurationError(f"{where}: quote is not verbatim in {doc}: {quote[:60]!r}")

    for i in golden.qa + golden.squad:
        for ev in i.evidence:
            check(f"qa {i.id}", ev.document, ev.quote)
    for e in golden.extraction:
        for facts in e.facts.values():
            for f in facts:
                for q in f.evidence:
                    check(f"extraction {e.document}", e.document, q)
    for s in golden.summaries:
        for kp in s.key_points:
            for q in kp.evidence:
                check(f"summaries {s.document}", s.document, q)
    for pair in golden.entity_pairs:
        for side in (pair.a, pair.b):
            check(f"entity pair {pair.id}", side.document, side.mention)
    for claims in golden.claim_pairs:
        for statement in (claims.a, claims.b):
            check(f"claim pair {claims.id}", statement.document, statement.quote)
    for c in golden.injection:
        if c.document not in texts:
            raise ConfigurationError(f"injection: unknown report {c.document!r}")
        if not any(f in texts[c.document] for f in c.forbidden):
            raise ConfigurationError(f"injection {c.document}: none of its forbidden strings occurs in the report")
    return golden
