"""Fuzzing: schemathesis against a real server, from our OpenAPI document and the vendor's.

    python -m bench.fuzz                      # the full run: >= 1000 requests per document
    python -m bench.fuzz --examples 50        # examples per operation and mode

Every generated request (valid and invalid bodies, with and without good credentials) must get
an answer that is not a 5xx, whose status, content type, headers and body our own OpenAPI
document allows. Requests from the vendor's document (whose paths live under its server URL
`.../customerexperience/v1`) are checked against our document's answer for the same path.
The tests in tests/test_fuzz.py run a bounded share of the same engine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from recent_calls.admin.credentials import IssuedCredential

VENDOR_DOCUMENT = Path(__file__).resolve().parents[1] / "vendor/recent-calls-openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# The web page's files are not fuzzed; the admin API is, with the admin token, but not its
# demo seeding (a valid body writes up to millions of calls) nor its streamed import.
SKIPPED_PREFIXES = ("/static/",)
SKIPPED_PATHS = ("/", "/admin/v1/demo", "/admin/v1/tenants/{tenant_id}/import")
ADMIN_PREFIX = "/admin/"


@dataclass
class Report:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    by_mode: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0

    def count(self, status: int, mode: str = "") -> None:
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if mode:
            self.by_mode[mode] = self.by_mode.get(mode, 0) + 1
        if status >= 500:
            self.server_errors += 1

    def add(self, other: Report) -> None:
        self.requests += other.requests
        self.server_errors += other.server_errors
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        for mode, n in other.by_mode.items():
            self.by_mode[mode] = self.by_mode.get(mode, 0) + n

    def describe(self, name: str) -> str:
        modes = ", ".join(f"{mode} {n}" for mode, n in sorted(self.by_mode.items()))
        return (
            f"{name}: {self.requests} requests ({modes}), {self.server_errors} 5xx, "
            f"statuses {sorted(self.statuses.items())}"
        )


def _admin_headers_strategy(token: str) -> st.SearchStrategy[dict[str, str]]:
    good = {"Authorization": f"Bearer {token}"}
    return st.one_of(
        st.just(good), st.just(good), st.just(good), st.just({}),
        st.just({"Authorization": "Bearer not-the-token"}),
    )  # fmt: skip


def _headers_strategy(credential: IssuedCredential) -> st.SearchStrategy[dict[str, str]]:
    good = {"8x8-apikey": credential.api_key, "token": credential.token}
    return st.one_of(
        st.just(good),
        st.just(good),
        st.just({"8x8-api-key": credential.api_key, "token": credential.token}),
        st.just({}),
        st.just({"8x8-apikey": credential.api_key, "token": "not-the-token"}),
    )


AIMS = ("tenant", "tenant and paging", "as generated")


def _aim(body: Any, tenant_id: str, aim: str) -> Any:
    """Point most generated bodies at the caller's own tenant (and a valid page), so that they
    reach the filters and the query rather than stop at the first check."""
    if aim == "as generated" or not isinstance(body, dict):
        return body
    body = {**body, "tenantId": tenant_id}
    if aim == "tenant and paging":
        body.update(page="1", rows="10", duration="allhistory")
    return body


def _operations(schema: Any) -> list[Any]:
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(SKIPPED_PREFIXES) or operation.path in SKIPPED_PATHS:
            continue
        found.append(operation)
    return found


def fuzz_operation(
    operation: Any,
    base_url: str,
    credential: IssuedCredential,
    examples: int,
    mode: GenerationMode,
    report: Report,
    judge: Callable[[Any, requests.Response], None] | None = None,
    session: requests.Session | None = None,
    admin_token: str | None = None,
) -> None:
    """Run `examples` generated requests against one operation; raise on the first failure."""
    session = session or requests.Session()
    is_admin = operation.path.startswith(ADMIN_PREFIX)
    headers_strategy = (
        _admin_headers_strategy(admin_token or "") if is_admin else _headers_strategy(credential)
    )

    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        headers=headers_strategy,
        aim=st.sampled_from(AIMS),
        # Hypothesis starts from the first choices: the real route, then the others.
        route=st.sampled_from([credential.region, "us", "uk", "generated", "generated"]),
    )
    def run(case: Any, headers: dict[str, str], aim: str, route: str) -> None:
        case.headers = {**(case.headers or {}), **headers}
        if route != "generated" and case.path_parameters:
            # Most requests take a real route, so that they reach the checks behind it.
            known = {"version": "v1", "region": route}
            case.path_parameters = {
                name: known.get(name, value) for name, value in case.path_parameters.items()
            }
        if is_admin and case.path_parameters and route != "generated":
            # Most admin requests name the fuzzed tenant, so that they reach the body's checks.
            case.path_parameters = {
                name: credential.tenant_id if name == "tenant_id" else value
                for name, value in case.path_parameters.items()
            }
        elif not is_admin and (case.body is not None or operation.method.upper() == "POST"):
            case.body = _aim(case.body, credential.tenant_id, aim)
        response = case.call(base_url=base_url, session=session, timeout=30)
        report.count(response.status_code, mode.value)
        assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"
        if response.status_code >= 400:
            # A field error quotes the value sent: a word the request itself carried is no leak.
            sent = " ".join(
                str(part) for part in (case.body, case.query, case.path_parameters, case.headers)
            )
            for word in ("Traceback", "SELECT ", "duckdb", "psycopg"):
                leaked = word in response.text and word not in sent
                assert not leaked, f"{word!r} in an answer: {response.text[:500]}"
        if is_admin:
            # Operator routes: no 5xx and nothing of the engine in an answer (checked above);
            # their error answers are the API's problem documents, not in the document.
            pass
        elif judge is None:
            case.validate_response(response, checks=CHECKS)
        else:
            judge(case, response)

    try:
        run()
    except Unsatisfiable:
        # An operation with no parameters and no body has no invalid form to send.
        if mode is not GenerationMode.NEGATIVE:
            raise


def our_schema(url: str) -> Any:
    document = httpx.get(f"{url}/openapi.json").json()
    return schemathesis.openapi.from_dict(document)


def fuzz_ours(
    url: str,
    credential: IssuedCredential,
    examples: int,
    modes: list[GenerationMode],
    admin_token: str | None = None,
) -> Report:
    """Every operation of our own document, in each mode (the admin API's given its token)."""
    report = Report()
    schema = our_schema(url)
    for operation in _operations(schema):
        if operation.path.startswith(ADMIN_PREFIX) and admin_token is None:
            continue
        for mode in modes:
            fuzz_operation(
                operation, url, credential, examples, mode, report, admin_token=admin_token
            )
    return report


def operations_fuzzed(url: str, admin_token: str | None) -> list[str]:
    """ "METHOD path" of each operation `fuzz_ours` covers."""
    return [
        f"{op.method.upper()} {op.path}"
        for op in _operations(our_schema(url))
        if admin_token is not None or not op.path.startswith(ADMIN_PREFIX)
    ]


def fuzz_vendor(
    url: str, credential: IssuedCredential, examples: int, modes: list[GenerationMode]
) -> Report:
    """The vendor's document pointed at our server; answers judged by our own document."""
    report = Report()
    vendor = schemathesis.openapi.from_dict(orjson.loads(VENDOR_DOCUMENT.read_bytes()))
    ours = our_schema(url)
    base_url = f"{url}/customerexperience/v1"

    def judge(case: Any, response: requests.Response) -> None:
        ours_operation = ours["/customerexperience/{version}/recentCallData/{region}"]["POST"]
        mirror = ours_operation.Case(
            path_parameters={"version": "v1", **(case.path_parameters or {})},
            headers=case.headers,
            body=case.body,
            media_type="application/json",
        )
        mirror.validate_response(
            response, checks=[not_a_server_error, content_type_conformance, *CHECKS[3:]]
        )
        assert response.status_code in (200, 400, 401, 403, 404, 413, 415, 429), response.text

    for operation in _operations(vendor):
        for mode in modes:
            fuzz_operation(operation, base_url, credential, examples, mode, report, judge)
    return report


def main() -> int:
    from bench.soak import ServerProcess, prepare

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=150, help="Per operation and mode.")
    args = parser.parse_args()
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    admin_token = "fuzz-admin-token"
    with tempfile.TemporaryDirectory() as scratch:
        database = str(Path(scratch) / "fuzz.duckdb")
        [credential] = prepare(database, tenants=1, calls=2000)
        env = {"RECENT_CALLS_RATE_LIMIT_PER_S": "0", "RECENT_CALLS_ADMIN_TOKEN": admin_token}
        with ServerProcess(database, Path(scratch) / "server.log", env) as server:
            covered = operations_fuzzed(server.url, admin_token)
            ours = fuzz_ours(server.url, credential, args.examples, modes, admin_token)
            vendor = fuzz_vendor(server.url, credential, args.examples * 4, modes)
    print(f"operations: {len(covered)} ({'; '.join(covered)})")
    total = Report()
    for name, report in (("our document", ours), ("vendor document", vendor)):
        print(report.describe(name))
        total.add(report)
    print(total.describe("all"))
    print("PASS: no 5xx, every answer conforms to our document")
    return 0


if __name__ == "__main__":
    sys.exit(main())
