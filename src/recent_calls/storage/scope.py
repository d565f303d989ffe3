"""Tenant scope: the one place a tenant condition is written into SQL.

Every statement on a tenant's data (calls, its directory, sync watermarks) starts from
`scoped`; tests/test_storage.py traces every statement of every storage method and endpoint and
fails on one that reads or writes calls without it. The administrative tables are the one
exception, and a deliberate one: tenants, credentials and the audit trail are looked up by
tenant id as their key (storage/base.py), since authentication must find a tenant before
anything can be scoped to it.
"""

from __future__ import annotations

from recent_calls.query.dialects import Dialect
from recent_calls.query.filters import Where

TENANT_PARAM = "tenant_id"


def tenant_condition(dialect: Dialect, table: str = "") -> str:
    """`tenant_id = <the tenant parameter>`, qualified by `table` when given."""
    column = f"{table}.tenant_id" if table else "tenant_id"
    return f"{column} = {dialect.param(TENANT_PARAM)}"


def scoped(tenant_id: str, dialect: Dialect) -> Where:
    """A WHERE clause that selects only `tenant_id`'s rows; filters are added after it."""
    where = Where(dialect)
    where.params[TENANT_PARAM] = tenant_id
    where.add(tenant_condition(dialect))
    return where
