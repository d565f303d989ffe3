"""How each storage engine spells the few things the compilers need. Pure: no I/O.

The filter, ordering and stats compilers write SQL through a `Dialect`; every difference between
the engines' SQL is a method or property here, so no module outside storage/ branches on the
engine.
"""

from __future__ import annotations


class Dialect:
    """The SQL spellings that differ between engines (the base class names the operations)."""

    name: str
    row_key: str
    """A column that finds a row again cheaply: late materialisation sorts only these."""

    def param(self, name: str) -> str:
        """A named placeholder."""
        raise NotImplementedError

    def contains(self, column: str, param: str) -> str:
        """`column` contains the parameter's text (already case-folded) as a substring."""
        raise NotImplementedError

    def contains_value(self, needle: str) -> str:
        """The parameter value that `contains` compares with."""
        return needle

    def overlaps(self, list_column: str, param: str) -> str:
        """The list column shares at least one element with the parameter's list."""
        raise NotImplementedError

    def one_of(self, column: str, param: str) -> str:
        """The column's value is an element of the parameter's list."""
        raise NotImplementedError

    def text_key(self, expression: str) -> str:
        """A text sort key compared byte-wise (code point order), whatever the database locale."""
        return expression

    def bucketed(self, source: str, measures: str, low: str, high: str) -> str:
        """(bucket 1..n, *measures) per non-empty bucket, for `source` (a SELECT of calls whose
        start lies within the buckets) and the sorted bucket bounds in the list parameters `low`
        and `high` (bucket i is [low[i], high[i])); sorted by bucket."""
        raise NotImplementedError

    def keyed(self, source: str, column: str, is_list: bool, measured: str) -> str:
        """`source`'s rows (a SELECT of `column` and the `measured` columns of calls), one row per
        distinct value of `column` as `group_key` (a call with an empty list gets one, "")."""
        if not is_list:
            return f"SELECT {column} AS group_key, {measured} FROM ({source}) AS c"
        return self._keyed_list(source, column, measured)

    def _keyed_list(self, source: str, column: str, measured: str) -> str:
        raise NotImplementedError


class DuckDBDialect(Dialect):
    name = "duckdb"
    row_key = "rowid"

    def param(self, name: str) -> str:
        return f"${name}"

    def contains(self, column: str, param: str) -> str:
        return f"contains({column}, {self.param(param)})"

    def overlaps(self, list_column: str, param: str) -> str:
        return f"list_has_any({list_column}, {self.param(param)}::VARCHAR[])"

    def one_of(self, column: str, param: str) -> str:
        return f"list_contains({self.param(param)}::VARCHAR[], {column})"

    def bucketed(self, source: str, measures: str, low: str, high: str) -> str:
        # An ASOF join matches each call with the last bucket starting at or before it: one
        # sort-merge pass (a plain range join took 12x as long on 3M calls). Buckets are
        # contiguous and calls are inside them, so that bucket also ends after the call.
        lows, highs = self.param(low), self.param(high)
        buckets = (
            f"SELECT unnest(range(1, len({lows}::BIGINT[]) + 1)) AS bucket, "
            f"unnest({lows}::BIGINT[]) AS low, unnest({highs}::BIGINT[]) AS high"
        )
        return (
            f"SELECT b.bucket, {measures} FROM ({source}) AS c "
            f"ASOF JOIN ({buckets}) AS b ON c.start_ms >= b.low WHERE c.start_ms < b.high "
            "GROUP BY b.bucket ORDER BY b.bucket"
        )

    def _keyed_list(self, source: str, column: str, measured: str) -> str:
        values = f"list_distinct({column})"
        key = f"unnest(CASE WHEN len({values}) = 0 THEN ['']::VARCHAR[] ELSE {values} END)"
        return f"SELECT {key} AS group_key, {measured} FROM ({source}) AS c"


class PostgresDialect(Dialect):
    name = "postgres"
    row_key = "call_id"

    def param(self, name: str) -> str:
        return f"%({name})s"

    def contains(self, column: str, param: str) -> str:
        # LIKE, not strpos, so that a pg_trgm index can serve it; the value is escaped.
        return f"{column} LIKE {self.param(param)}"

    def contains_value(self, needle: str) -> str:
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"%{escaped}%"

    def overlaps(self, list_column: str, param: str) -> str:
        return f"{list_column} && {self.param(param)}::text[]"

    def one_of(self, column: str, param: str) -> str:
        return f"{column} = ANY({self.param(param)}::text[])"

    def text_key(self, expression: str) -> str:
        return f'({expression}) COLLATE "C"'

    def bucketed(self, source: str, measures: str, low: str, high: str) -> str:
        # width_bucket over the sorted bucket starts is a binary search per row; `high` is
        # implied, since the buckets are contiguous and the source ends at the last one.
        return (
            f"SELECT width_bucket(start_ms, {self.param(low)}::bigint[]) AS bucket, {measures} "
            f"FROM ({source}) AS c GROUP BY 1 ORDER BY 1"
        )

    def _keyed_list(self, source: str, column: str, measured: str) -> str:
        # unnest in a LATERAL subquery, so that DISTINCT applies per call.
        return (
            f"SELECT u.group_key, {measured} FROM ({source}) AS c CROSS JOIN LATERAL "
            f"(SELECT DISTINCT value AS group_key FROM unnest(CASE WHEN cardinality(c.{column}) "
            f"= 0 THEN ARRAY['']::text[] ELSE c.{column} END) AS value) AS u"
        )


DUCKDB = DuckDBDialect()
POSTGRES = PostgresDialect()
