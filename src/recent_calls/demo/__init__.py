"""Seeded demo data: reproducible tenants, rosters and calls in the import shape.

`roster` draws a tenant's contact center, `plan` the arrival rate over the window, and
`generator` the calls themselves.
"""

from recent_calls.demo.generator import generate_calls
from recent_calls.demo.roster import DEMO_TENANTS, DemoTenant, Roster, roster_for

__all__ = ["DEMO_TENANTS", "DemoTenant", "Roster", "generate_calls", "roster_for"]
