"""A tenant's directory: display names for the agents, queues, groups and channels of its calls.

Pure: no I/O. Entries come from a CSV file (header `kind,id,name`) or a JSON list; a source
with any bad entry is rejected whole, naming every bad line, so a directory is never half
replaced. Calls keep their ids; the page looks names up here and falls back to the id.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from recent_calls.errors import MAX_REPORTED_ERRORS, FieldError, InvalidRequest
from recent_calls.fields import csv_cell, csv_uncell

KINDS = ("agent", "queue", "group", "channel")
"""The kinds of id a directory names, in the order exports list them."""
HEADER = ("kind", "id", "name")
MAX_LENGTH = 256
MAX_ENTRIES = 100_000
_KIND_EXPECTED = "expected " + ", ".join(KINDS[:-1]) + " or " + KINDS[-1]


@dataclass(frozen=True)
class Entry:
    """The display name of one id of one kind."""

    kind: str
    id: str
    name: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "id": self.id, "name": self.name}


def _has_lone_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def _text_problem(what: str, value: Any) -> str | None:
    """Why `value` cannot be an id or a name, or None when it can."""
    if value is None:
        return f"{what} is missing"
    if not isinstance(value, str):
        return f"{what} must be text, not {type(value).__name__}"
    if not value.strip():
        return f"{what} is empty"
    if len(value) > MAX_LENGTH:
        return f"{what} is {len(value)} characters long; at most {MAX_LENGTH}"
    if "\x00" in value:
        return f"{what} holds a NUL character"
    if _has_lone_surrogate(value):
        return f"{what} holds a lone surrogate (not valid Unicode text)"
    return None


def check_entry(kind: Any, entry_id: Any, name: Any) -> tuple[Entry | None, list[str]]:
    """The entry, or every reason it is invalid."""
    problems = []
    if kind is None:
        problems.append(f"kind is missing; {_KIND_EXPECTED}")
    elif kind not in KINDS:
        shown = repr(kind[:40]) if isinstance(kind, str) else f"a {type(kind).__name__}"
        problems.append(f"kind {shown} is not known; {_KIND_EXPECTED}")
    for what, value in (("id", entry_id), ("name", name)):
        problem = _text_problem(what, value)
        if problem:
            problems.append(problem)
    if problems:
        return None, problems
    return Entry(kind, entry_id.strip(), name.strip()), []


def _checked(items: Iterable[tuple[str, Any, Any, Any]], errors: list[FieldError]) -> list[Entry]:
    """Entries of (where, kind, id, name) items; every problem is added to `errors`."""
    entries: list[Entry] = []
    seen: dict[tuple[str, str], str] = {}
    for where, kind, entry_id, name in items:
        entry, problems = check_entry(kind, entry_id, name)
        if entry is not None:
            first = seen.setdefault((entry.kind, entry.id), where)
            if first != where:
                problems.append(f"{entry.kind} {entry.id!r} is named already, on {first}")
        if problems:
            errors.append(FieldError(where, "; ".join(problems)))
        elif entry is not None:
            entries.append(entry)
        if len(entries) > MAX_ENTRIES:
            errors.append(FieldError("file", f"more than {MAX_ENTRIES} entries"))
            break
    return entries


def parse_csv(data: bytes | str) -> list[Entry]:
    """Entries of a CSV file with the header `kind,id,name` (in any order); InvalidRequest
    naming every bad line (and nothing returned) when any is bad."""
    if isinstance(data, bytes):
        raw = data
        try:
            data = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise InvalidRequest(
                [FieldError(f"line {line}", "is not UTF-8 text")],
                detail="The directory file is not UTF-8 text; nothing was stored.",
            ) from None
    reader = csv.reader(io.StringIO(data, newline=""))
    errors: list[FieldError] = _Errors()
    try:
        header = next(reader, None)
        columns = [name.strip().lower() for name in header or []]
        if sorted(columns) != sorted(HEADER):
            shown = ",".join(header or []) or "nothing"
            errors.append(
                FieldError("line 1", f"the header is {shown[:80]!r}; expected kind,id,name")
            )
            raise InvalidRequest(errors, detail=_rejected(errors))
        at = {name: columns.index(name) for name in HEADER}

        def items() -> Iterable[tuple[str, Any, Any, Any]]:
            for row in reader:
                where = f"line {reader.line_num}"
                if not row or all(not cell.strip() for cell in row):
                    continue  # blank lines separate nothing
                if len(row) != len(HEADER):
                    errors.append(FieldError(where, f"has {len(row)} fields; expected 3"))
                    continue
                entry_id, name = (csv_uncell(row[at[key]].strip()) for key in ("id", "name"))
                yield where, row[at["kind"]].strip().lower(), entry_id, name

        entries = _checked(items(), errors)
    except csv.Error as exc:
        errors.append(FieldError(f"line {reader.line_num}", f"is not valid CSV ({exc})"))
        entries = []
    if errors:
        raise InvalidRequest(errors, detail=_rejected(errors))
    return entries


def parse_json(items: Any) -> list[Entry]:
    """Entries of a JSON list of {kind, id, name} objects; InvalidRequest naming every bad
    entry (1-based) when any is bad."""
    if not isinstance(items, list):
        raise InvalidRequest([FieldError("body", "expected a JSON list of {kind, id, name}")])
    errors: list[FieldError] = _Errors()

    def checked_items() -> Iterable[tuple[str, Any, Any, Any]]:
        for number, item in enumerate(items, start=1):
            where = f"entry {number}"
            if not isinstance(item, dict):
                errors.append(FieldError(where, "expected an object with kind, id and name"))
                continue
            yield where, item.get("kind"), item.get("id"), item.get("name")

    entries = _checked(checked_items(), errors)
    if errors:
        raise InvalidRequest(errors, detail=_rejected(errors))
    return entries


class _Errors(list[FieldError]):
    """The first MAX_REPORTED_ERRORS errors, as the call import keeps; `total` counts all."""

    total = 0

    def append(self, error: FieldError) -> None:
        self.total += 1
        if len(self) < MAX_REPORTED_ERRORS:
            super().append(error)


def _rejected(errors: list[FieldError]) -> str:
    total = errors.total if isinstance(errors, _Errors) else len(errors)
    listed = f" (the first {len(errors)} are listed)" if total > len(errors) else ""
    return f"The directory has {total} invalid lines{listed}; nothing was stored."


def export_order(entries: Iterable[Entry]) -> list[Entry]:
    """Kinds in KINDS order, then by name (case-insensitive), then id."""
    return sorted(entries, key=lambda e: (KINDS.index(e.kind), e.name.casefold(), e.name, e.id))


def to_csv(entries: Sequence[Entry]) -> str:
    """The CSV that `parse_csv` reads back as the same entries; formula-safe, as the call
    export is (`csv_cell`), since it is as likely to be opened in a spreadsheet."""
    text = io.StringIO(newline="")
    rows = csv.writer(text, lineterminator="\n")
    rows.writerow(HEADER)
    rows.writerows((e.kind, csv_cell(e.id), csv_cell(e.name)) for e in export_order(entries))
    return text.getvalue()


def by_kind(entries: Iterable[Entry]) -> dict[str, list[dict[str, str]]]:
    """{agents, queues, groups, channels}: each [{id, name}], by name (case-insensitive), id."""
    found: dict[str, list[Entry]] = {kind: [] for kind in KINDS}
    for entry in entries:
        found[entry.kind].append(entry)
    return {
        f"{kind}s": [
            {"id": e.id, "name": e.name}
            for e in sorted(found[kind], key=lambda e: (e.name.casefold(), e.id))
        ]
        for kind in KINDS
    }
