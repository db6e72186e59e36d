"""A seeded, bounded property-based fuzzer against a live API, once on SQLite and once on
PostgreSQL (issue 11). Every request is drawn from the API's own OpenAPI document, and every
answer must hold:

- no 5xx, but the 503s and 504s the document states for that operation;
- a JSON body (but a 204) from the app, never a server's HTML page;
- a status the document states for the operation, and a body its schema for that status allows;
- a refused request (4xx) wrote nothing: every row of every table is as it was;
- nothing of bob's changed, and no answer to alice shows anything only bob's objects hold.

Hypothesis runs derandomized (the same examples every run, no example database), with
CONTROLPLANE_FUZZ_EXAMPLES examples per backend (default 1500). The figures (requests, statuses,
writes on refusal) are printed at the end of each backend's run.
"""

from __future__ import annotations

import collections
import json
import os
import re
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from jsonschema import ValidationError

from tests.fuzz.strategies import Call, calls, url_segment, writing_calls
from tests.fuzz.target import VICTIM_MARKERS, Snapshot, Target
from tests.support.openapi import documents_text, validate_answer

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("CONTROLPLANE_FUZZ_EXAMPLES", "1500"))
WRITES = max(EXAMPLES // 10, 20)


def fetch_document(target: Target) -> dict[str, Any]:
    answer = requests.get(target.base_url + "/api/openapi.json", timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def encoded_query(query: list[tuple[str, str]]) -> str:
    return "&".join(f"{url_segment(name)}={url_segment(value)}" for name, value in query)


def send(target: Target, call: Call) -> requests.Response:
    headers = {"Content-Type": "application/json", **call.headers}
    query = list(call.query)
    if call.auth == "alice":
        headers["Authorization"] = f"ApiKey alice:{target.keys['alice']}"
    elif call.auth == "garbage":
        headers["Authorization"] = "ApiKey \x00:\x00" if len(query) % 2 else "Basic !!!"
    elif call.auth == "bob-wrong-key":
        headers["Authorization"] = f"ApiKey bob:{target.keys['alice']}"
    elif call.auth == "alice-query":
        query += [("user", "alice"), ("token", target.keys["alice"])]
    url = target.base_url + call.path + ("?" + encoded_query(query) if query else "")
    return requests.request(call.method, url, data=call.body, headers=headers, timeout=60)


def violations_of(
    document: dict[str, Any],
    call: Call,
    answer: requests.Response,
    before: Snapshot,
    after: Snapshot,
) -> list[str]:
    """What is wrong with `answer` to `call`, given the database before and after it."""
    status = answer.status_code
    found = []
    if before.victim_rows() != after.victim_rows():
        found.append("bob's rows changed")
    if status >= 400 and after.rows != before.rows:
        found.append(f"refused ({status}) yet {before.changed_tables(after)} changed")
    # A 503 (broker or node unavailable) or a 504 (a node that did not answer a logs request:
    # the target's node has no agent) must be one the document states for the operation, which
    # is checked with the rest of the answer below; any other 5xx is a bug.
    if status >= 500 and status not in (503, 504):
        found.append(f"{status}: {answer.text[:300]}")
    if status == 204:
        return found
    media = answer.headers.get("Content-Type", "")
    if documents_text(document, call.method, call.template, status, media):
        return found
    if not media.startswith("application/json"):
        return [*found, f"{status} not JSON: {answer.text[:300]}"]
    found += [f"bob's {mark!r} shown to alice" for mark in VICTIM_MARKERS if mark in answer.text]
    try:
        validate_answer(document, call.method, call.template, status, answer.json())
    except (AssertionError, ValidationError) as exc:
        found.append(f"not as documented: {str(exc)[:300]}")
    return found


def report(violations: list[tuple[Call, str]]) -> str:
    """Each kind of violation once (its first 100 characters), with its count and the first
    request that showed it."""
    kinds: dict[str, list[Call]] = collections.defaultdict(list)
    for call, problem in violations:
        kinds[problem.splitlines()[0][:100]].append(call)
    return "\n".join(
        f"{len(calls)} x {kind}\n    first: {calls[0]!r}" for kind, calls in kinds.items()
    )


def seeded(examples: int) -> settings:
    """The same `examples` requests every run. Every example runs to the end and every
    violation is kept, so one run's figures count them all; the examples are drawn, not shrunk
    (each is a plain request to replay)."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def test_no_request_breaks_the_api_or_crosses_tenants(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    document = fetch_document(target)
    statuses: collections.Counter[int] = collections.Counter()
    violations: list[tuple[Call, str]] = []

    @seeded(EXAMPLES)
    @given(call=calls(document, target.own_uuids, target.victim_uuids))
    def fuzz(call: Call) -> None:
        before = target.snapshot()
        answer = send(target, call)
        after = target.snapshot()
        statuses[answer.status_code] += 1
        problems = violations_of(document, call, answer, before, after)
        violations.extend((call, problem) for problem in problems)

    fuzz()
    figures = {
        "backend": target.backend,
        "requests": sum(statuses.values()),
        "statuses": dict(sorted(statuses.items())),
        "5xx": sum(n for status, n in statuses.items() if status >= 500),
        "violations": len(violations),
    }
    with capsys.disabled():
        print("\nfuzz figures: " + json.dumps(figures))
    assert not violations, report(violations)


def test_accepted_writes_store_hostile_headers_and_bodies(target: Target) -> None:
    """The requests that write an Action (a create, an action on a fresh container), sent with
    a User-Agent and a body no column may hold as they are: each is answered as documented,
    and, when accepted, its Action reads back. Accepted writes are rare in the run above (most
    drawn requests are refused), so they get a run of their own."""
    document = fetch_document(target)
    violations: list[tuple[Call, str]] = []

    @seeded(WRITES)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        call = data.draw(writing_calls(target.create("alice")["uuid"]))
        before = target.snapshot()
        answer = send(target, call)
        problems = violations_of(document, call, answer, before, target.snapshot())
        if answer.status_code in (201, 202) and not problems:
            problems += action_readback(target, document, answer)
        violations.extend((call, problem) for problem in problems)

    fuzz()
    assert not violations, report(violations)


def action_readback(
    target: Target, document: dict[str, Any], answer: requests.Response
) -> list[str]:
    uri = answer.headers.get("X-Tutum-Action-URI") or answer.headers.get("X-DockerCloud-Action-URI")
    if uri is None:
        return ["no action URI on an accepted write"]
    action = target.session("alice").get(target.base_url + uri, timeout=30)
    if action.status_code != 200:
        return [f"its action {uri} answered {action.status_code}: {action.text[:200]}"]
    try:
        template = re.sub("[0-9a-f-]{36}/$", "{uuid}/", uri).replace("/alice/", "/{namespace}/")
        validate_answer(document, "GET", template, 200, action.json())
    except (AssertionError, ValidationError) as exc:
        return [f"its action is not as documented: {str(exc)[:300]}"]
    return []
