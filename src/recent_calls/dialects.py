"""How each storage engine spells the few things the filter compiler needs. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    """The SQL spellings that differ between engines."""

    name: str

    def param(self, name: str) -> str:
        """A named placeholder."""
        return f"${name}" if self.name == "duckdb" else f"%({name})s"

    def contains(self, column: str, param: str) -> str:
        """`column` contains the parameter's text (already case-folded) as a substring."""
        if self.name == "duckdb":
            return f"contains({column}, {self.param(param)})"
        # LIKE, not strpos, so that a pg_trgm index can serve it; the value is escaped.
        return f"{column} LIKE {self.param(param)}"

    def contains_value(self, needle: str) -> str:
        """The parameter value that `contains` compares with."""
        if self.name == "duckdb":
            return needle
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"

    def overlaps(self, list_column: str, param: str) -> str:
        """The list column shares at least one element with the parameter's list."""
        if self.name == "duckdb":
            return f"list_has_any({list_column}, {self.param(param)}::VARCHAR[])"
        return f"{list_column} && {self.param(param)}::text[]"

    def one_of(self, column: str, param: str) -> str:
        """The column's value is an element of the parameter's list."""
        if self.name == "duckdb":
            return f"list_contains({self.param(param)}::VARCHAR[], {column})"
        return f"{column} = ANY({self.param(param)}::text[])"

    def text_key(self, expression: str) -> str:
        """A text sort key compared byte-wise (code point order), whatever the database locale."""
        return expression if self.name == "duckdb" else f'({expression}) COLLATE "C"'


DUCKDB = Dialect("duckdb")
POSTGRES = Dialect("postgres")
