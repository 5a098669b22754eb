"""Merging facts from several windows: entity aliases become one entity; duplicates collapse."""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz import fuzz

from service.core.text import normalise
from service.domain.facts import Evidence, Fact

_PLACE_TYPES = {"place", "facility"}


def name_key(name: str) -> str:
    """A name compared: normalised, lower case, without a leading "the" or a trailing possessive."""
    n = normalise(name).lower().strip()
    n = re.sub(r"^the\s+", "", n)
    return re.sub(r"'s$", "", n).strip(" .")


def _acronym(name: str) -> str:
    return "".join(w[0] for w in re.findall(r"[A-Za-z]+", name) if w[0].isupper()).lower()


def _names(f: Fact, name: str, aliases: str) -> dict[str, str]:
    """Each name and alias of `f` by its comparison key, with the name as written (acronyms need its capitals)."""
    return {name_key(n): n for n in [f.fields.get(name, ""), *(f.fields.get(aliases) or [])] if n}


def _same_entity(a: Fact, b: Fact, name: str, aliases: str) -> bool:
    # A city is not the government it hosts: places never merge with states or organisations.
    if (a.fields.get("type") in _PLACE_TYPES) != (b.fields.get("type") in _PLACE_TYPES):
        return False
    na, nb = _names(a, name, aliases), _names(b, name, aliases)
    if na.keys() & nb.keys():
        return True
    for x, x_written in na.items():
        for y, y_written in nb.items():
            if len(x) >= 2 and (x == _acronym(y_written) or y == _acronym(x_written)) and " " in (x + y):
                return True
    return False


def _union_evidence(items: list[Evidence]) -> list[Evidence]:
    seen: dict[tuple[str, int, int], Evidence] = {}
    for e in items:
        seen.setdefault((e.document_id, e.start, e.end), e)
    return sorted(seen.values(), key=lambda e: (e.document_id, e.start))


def merge_entities(facts: list[Fact], name: str = "name", aliases: str = "aliases") -> list[Fact]:
    """Group facts naming one entity: they share a name (`name` field), an alias (`aliases` field) or an
    acronym. (A table of this corpus's states and bodies used to merge more; it added nothing on the held-out
    split: docs/architecture.md.)"""
    groups: list[list[Fact]] = []
    for f in facts:
        hits = [g for g in groups if any(_same_entity(f, x, name, aliases) for x in g)]
        merged = [f, *[x for g in hits for x in g]]
        groups = [g for g in groups if g not in hits] + [merged]
    out = []
    for g in groups:
        names = [str(x.fields[name]) for x in g]
        listed = {name_key(str(x.fields[name])) for x in g if x.fields.get(aliases)}  # named with its aliases
        best = max(names, key=lambda n: (sum(name_key(n) == name_key(m) for m in names), name_key(n) in listed, len(n)))
        others = sorted(
            {n for x in g for n in [x.fields[name], *(x.fields.get(aliases) or [])] if name_key(n) != name_key(best)}
        )
        types = [x.fields.get("type") for x in g if x.fields.get("type")]
        fields: dict[str, Any] = {**g[0].fields, name: best, aliases: others}
        if types:
            fields["type"] = max(set(types), key=types.count)
        out.append(Fact(kind=g[0].kind, fields=fields, evidence=_union_evidence([e for x in g for e in x.evidence])))
    return out


def _text(f: Fact, anchor: str) -> str:
    value = f.fields.get(anchor, "")
    return normalise(" ".join(value) if isinstance(value, list) else str(value)).lower()


def merge_duplicates(facts: list[Fact], anchor: str, threshold: float = 88.0) -> list[Fact]:
    """Collapse facts whose anchor texts match (token-set ratio >= threshold), keeping all evidence."""
    out: list[Fact] = []
    for f in facts:
        twin = next((o for o in out if fuzz.token_set_ratio(_text(o, anchor), _text(f, anchor)) >= threshold), None)
        if twin is None:
            out.append(f)
            continue
        fields = {**f.fields, **{k: v for k, v in twin.fields.items() if v not in (None, "", [])}}
        out[out.index(twin)] = Fact(
            kind=twin.kind, fields=fields, evidence=_union_evidence([*twin.evidence, *f.evidence])
        )
    return out
