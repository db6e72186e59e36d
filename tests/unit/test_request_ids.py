"""Every API answer carries its request's id (the client's X-Request-Id when usable, a new one
otherwise), the operation it queues carries it sealed to the node, and the claim back to the
reporter; log records made meanwhile carry it too, in text (` [request <id>]`) and in JSON
lines (`core.logcontext`)."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest
from flask.testing import FlaskClient

from controlplane.core import logcontext
from controlplane.core.messages import ClaimRequest, Operation
from tests.unit.helpers import CONTAINERS, Account, SentOperations, create

MADE = re.compile(r"^[0-9a-f]{32}$")


@pytest.mark.parametrize(
    ("path", "status"), [(CONTAINERS, 200), ("/api/v1/nowhere/", 404), ("/livez", 200)]
)
def test_a_usable_request_id_comes_back_on_every_answer(
    client: FlaskClient, account: Account, path: str, status: int
) -> None:
    answer = client.get(path, headers={**account.headers, "X-Request-Id": "deploy-42.a:b_c"})
    assert (answer.status_code, answer.headers["X-Request-Id"]) == (status, "deploy-42.a:b_c")


@pytest.mark.parametrize("sent_id", [None, "", "has space", "x" * 129, "tab\there", "%0d%0a", "é"])
def test_without_a_usable_one_the_api_makes_one(client: FlaskClient, sent_id: str | None) -> None:
    headers = {} if sent_id is None else {"X-Request-Id": sent_id}
    answer = client.get(CONTAINERS, headers=headers)  # refused (401): it has an id all the same
    assert answer.status_code == 401
    assert MADE.match(answer.headers["X-Request-Id"])
    assert answer.headers["X-Request-Id"] != client.get(CONTAINERS).headers["X-Request-Id"]


def test_the_operation_a_request_queues_carries_its_id(
    client: FlaskClient, account: Account, sent: SentOperations, node: str
) -> None:
    uuid = create(client, account)["uuid"]
    headers = {**account.headers, "X-Request-Id": "start-it"}
    assert client.post(f"{CONTAINERS}{uuid}/start/", headers=headers).status_code == 202
    [(_, operation)] = sent.take()
    assert operation.request_id == "start-it"
    assert Operation.from_dict(operation.to_dict()).request_id == "start-it"


def test_messages_of_an_older_sender_have_no_request_id() -> None:
    claim = {"action_uuid": "a", "container_uuid": "c", "node_uuid": "n"}
    assert ClaimRequest.from_dict(claim).request_id == ""
    older = Operation("start", "a", "c", "Stopped", 1).to_dict()
    del older["request_id"]
    assert Operation.from_dict(older).request_id == ""


def record(message: str) -> logging.LogRecord:
    made = logging.LogRecord("controlplane.test", logging.INFO, __file__, 1, message, (), None)
    logcontext.RequestIdFilter().filter(made)
    return made


def test_a_text_line_ends_with_the_request_id_when_there_is_one() -> None:
    text = logcontext.formatter("text")
    assert text.format(record("outside")).endswith("INFO controlplane.test: outside")
    with logcontext.request_context("r-1"):
        assert text.format(record("inside")).endswith("controlplane.test: inside [request r-1]")


def test_a_json_line_is_one_object_with_the_request_id() -> None:
    lines = logcontext.formatter("json")
    with logcontext.request_context("r-2"):
        line = lines.format(record("two\\nlines"))
    assert "\n" not in line
    parsed = json.loads(line)
    assert {key: parsed[key] for key in ("level", "logger", "message", "request_id")} == {
        "level": "INFO",
        "logger": "controlplane.test",
        "message": "two\\nlines",
        "request_id": "r-2",
    }
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", parsed["time"])
    assert json.loads(lines.format(record("none")))["request_id"] is None


def test_an_exception_goes_into_its_json_line() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        failed.exc_info = sys.exc_info()
    logcontext.RequestIdFilter().filter(failed)
    parsed = json.loads(logcontext.formatter("json").format(failed))
    assert "ValueError: bad" in parsed["exception"] and parsed["message"] == "failed"
