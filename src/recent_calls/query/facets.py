"""The facets compiler: the distinct values a tenant's calls hold, for the page's pickers."""

from __future__ import annotations

from typing import Any

from recent_calls.query.filters import Where

_FACET_COLUMNS = {
    "agents": ("agent_ids", True),
    "queues": ("queue_ids", True),
    "groups": ("agent_groups", True),
    "channels": ("dialed_number", False),
}
MAX_FACET_VALUES = 1000


def facets_sql(scope: Where) -> dict[str, tuple[str, dict[str, Any]]]:
    """Per facet, SQL for the distinct non-empty values the scoped calls hold (sorted)."""
    statements = {}
    for facet, (column, is_list) in _FACET_COLUMNS.items():
        value = f"unnest({column})" if is_list else column
        statements[facet] = (
            f"SELECT value FROM (SELECT DISTINCT {value} AS value FROM calls "
            f"WHERE {scope.sql}) AS v WHERE value <> '' "
            f"ORDER BY {scope.dialect.text_key('value')} LIMIT {MAX_FACET_VALUES}",
            scope.params,
        )
    return statements
