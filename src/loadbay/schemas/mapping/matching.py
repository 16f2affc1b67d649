"""Auto-mapping: score every (field, column) pair, then assign columns to fields one-to-one.

Each pair gets the confidence of the strongest kind of match it has:

=========== ============================================================= ==========
reason      when                                                          confidence
=========== ============================================================= ==========
memory      a person confirmed this pair for a similar header row         1.0
exact       the header is the field name, character for character         1.0
normalised  the same name once case, accents, punctuation, spacing and    0.95
            camelCase are set aside (``normalise.key``)
alias       the same name as one of the field's ``x-loadbay.aliases`` or  0.9
            its ``title``, normalised likewise
fuzzy       similar to the name, an alias or the title (see below)        0.68-0.85
=========== ============================================================= ==========

The kinds are exactly ``AMBIGUITY_MARGIN`` apart, and two confidences are near-equal only when
they differ by less than it: a stronger kind of match always wins clearly over a weaker one,
and ambiguity arises between matches of one kind (two headers that both normalise to the field
name, two aliases) or between close fuzzy scores.

Fuzzy scorer: rapidfuzz ``token_sort_ratio`` on the normalised words. It is an edit-distance
ratio, so one transposed pair in a five-letter word ("emial") still scores 80, and sorting the
tokens makes word order irrelevant ("name first"). ``WRatio`` and ``partial_ratio`` were not
chosen because they score a short header found inside a long name highly ("id" in
"customer id": 90), a false match that would carry confidence. The threshold of 80 admits
that single transposition and refuses one-letter substitutions in short words ("name"/"game",
"date"/"data": 75) and different words sharing a suffix ("first name"/"last name": 74). The
score maps linearly onto at most 0.85, below every kind of name match: a fuzzy match alone
never lets an import proceed without a person, whose confirmation is then remembered.

Assignment is greedy by descending confidence, ties broken by schema order of the field and
then file order of the column. Unlike maximising the total, greedy never gives up an exact
match to make room for two weaker ones, which is what a person expects; the coin-flips it
makes between near-equal matches are reported as ambiguity rather than hidden.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from loadbay.schemas.mapping.normalise import identity, is_blank, words
from loadbay.schemas.mapping.proposal import Candidate, FieldMatch, MappingProposal, Reason
from loadbay.schemas.model import SchemaField, TableSchema

EXACT = 1.0
NORMALISED = 0.95
ALIAS = 0.9
FUZZY_CEILING = 0.85
FUZZY_THRESHOLD = 80.0
AMBIGUITY_MARGIN = 0.05
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class HeaderRow:
    """The columns of a file as names: which exist, and which a name can identify."""

    distinct: tuple[str, ...]  # file order, first occurrence
    duplicates: tuple[str, ...]
    usable: tuple[str, ...]  # neither blank nor duplicated: the ones a mapping may use

    @classmethod
    def of(cls, headers: Iterable[str]) -> HeaderRow:
        counts = Counter(headers)
        distinct = tuple(counts)  # Counter keeps first-insertion order
        duplicates = tuple(h for h in distinct if counts[h] > 1)
        usable = tuple(h for h in distinct if counts[h] == 1 and not is_blank(h))
        return cls(distinct, duplicates, usable)


def near(a: float, b: float) -> bool:
    return abs(a - b) < AMBIGUITY_MARGIN - _EPSILON


def propose(
    schema: TableSchema, headers: list[str], remembered: Mapping[str, str] | None = None
) -> MappingProposal:
    """The mapping proposal for ``headers``; ``remembered`` pairs (a confirmed mapping of a
    similar header row) come first, for the fields and columns that still exist."""
    row = HeaderRow.of(headers)
    memory = _resolve_memory(schema, row, remembered or {})
    columns = _Columns([c for c in row.usable if c not in memory.values()])
    scored = {f.name: _score_field(f, columns) for f in schema.fields if f.name not in memory}
    assigned = _assign(scored, columns.order)

    matches: dict[str, FieldMatch] = {
        name: FieldMatch(
            field=name,
            required=schema.is_required(name),
            column=column,
            confidence=EXACT,
            reason="memory",
        )
        for name, column in memory.items()
    }
    for name, candidates in scored.items():
        chosen = assigned.get(name)
        matches[name] = FieldMatch(
            field=name,
            required=schema.is_required(name),
            column=chosen.column if chosen else None,
            confidence=chosen.confidence if chosen else 0.0,
            reason=chosen.reason if chosen else None,
            candidates=_ambiguity(name, candidates, assigned, columns.order),
        )
    fields = tuple(matches[name] for name in schema.field_names)
    used = {m.column for m in fields if m.column is not None}
    return MappingProposal(
        schema_name=schema.name,
        fields=fields,
        unmapped_columns=tuple(c for c in row.distinct if c not in used),
        duplicate_columns=row.duplicates,
        missing_required=tuple(m.field for m in fields if m.required and m.column is None),
        from_memory=bool(memory),
    )


class _Columns:
    """The columns open to auto-matching, with their normalised forms computed once."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.order = {name: i for i, name in enumerate(names)}
        self.words: list[str | None] = [words(n) or None for n in names]  # None: no words
        self.by_key: dict[str, list[str]] = {}
        for name in names:
            self.by_key.setdefault(identity(name), []).append(name)


def _resolve_memory(
    schema: TableSchema, row: HeaderRow, remembered: Mapping[str, str]
) -> dict[str, str]:
    """The remembered pairs that still apply: the field exists, and so does the column —
    by its exact name, or else as the one usable column of the same normalised name."""
    fields = set(schema.field_names)
    usable = set(row.usable)
    by_key = _Columns(list(row.usable)).by_key if remembered else {}
    resolved: dict[str, str] = {}
    for field, column in remembered.items():
        if field not in fields:
            continue
        if column not in usable:
            same = by_key.get(identity(column), [])
            if len(same) != 1:
                continue
            column = same[0]
        if column not in resolved.values():
            resolved[field] = column
    return resolved


def _score_field(field: SchemaField, columns: _Columns) -> dict[str, Candidate]:
    """Every column that matches ``field`` at all, with its best confidence and reason."""
    best: dict[str, Candidate] = {}

    def offer(column: str, confidence: float, reason: Reason) -> None:
        current = best.get(column)
        if current is None or confidence > current.confidence:
            best[column] = Candidate(column=column, confidence=confidence, reason=reason)

    other_names = [*field.x_loadbay.aliases, *([field.title] if field.title else [])]
    for target in {words(n) for n in [field.name, *other_names]} - {""}:
        for _, score, index in process.extract(
            target,
            columns.words,
            scorer=fuzz.token_sort_ratio,
            processor=None,
            score_cutoff=FUZZY_THRESHOLD,
            limit=None,
        ):
            offer(columns.names[index], round(score / 100 * FUZZY_CEILING, 4), "fuzzy")

    for alias in other_names:
        for column in columns.by_key.get(identity(alias), []):
            offer(column, ALIAS, "alias")
    for column in columns.by_key.get(identity(field.name), []):
        offer(column, NORMALISED, "normalised")
    if field.name in columns.order:
        offer(field.name, EXACT, "exact")
    return best


def _assign(
    scored: Mapping[str, Mapping[str, Candidate]], column_order: Mapping[str, int]
) -> dict[str, Candidate]:
    """Greedy one-to-one assignment (see the module docstring): field name -> its match."""
    field_order = {name: i for i, name in enumerate(scored)}
    pairs = sorted(
        ((name, c) for name, candidates in scored.items() for c in candidates.values()),
        key=lambda pair: (-pair[1].confidence, field_order[pair[0]], column_order[pair[1].column]),
    )
    assigned: dict[str, Candidate] = {}
    taken: set[str] = set()
    for name, candidate in pairs:
        if name not in assigned and candidate.column not in taken:
            assigned[name] = candidate
            taken.add(candidate.column)
    return assigned


def _ambiguity(
    field: str,
    candidates: Mapping[str, Candidate],
    assigned: Mapping[str, Candidate],
    column_order: Mapping[str, int],
) -> tuple[Candidate, ...]:
    """The columns that fit ``field`` near-equally well at the top, when there are several.

    A column another field took with a clearly higher confidence is no real alternative (it
    is, say, that field's exact name), so it neither counts nor sets the top.
    """
    claimed = {c.column: (name, c.confidence) for name, c in assigned.items()}

    def available(candidate: Candidate) -> bool:
        owner, confidence = claimed.get(candidate.column, (field, 0.0))
        return owner == field or not (
            confidence > candidate.confidence and not near(confidence, candidate.confidence)
        )

    open_candidates = [c for c in candidates.values() if available(c)]
    if not open_candidates:
        return ()
    top = max(c.confidence for c in open_candidates)
    close = [c for c in open_candidates if near(c.confidence, top)]
    if len(close) < 2:
        return ()
    chosen = assigned.get(field)
    return tuple(
        sorted(
            close,
            key=lambda c: (
                -c.confidence,
                not (chosen and chosen.column == c.column),
                column_order[c.column],
            ),
        )
    )
