"""The agent's claim: granted unless the reporter answers that the Action was canceled, and
granted when the reporter cannot answer (fail open)."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.core.messages import CANCELED
from workers.reports import Claim


class Answer:
    """Stands in for Celery's AsyncResult: `get` returns the answer or raises it."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked = 0
        self.forgotten = False

    def get(self, *, timeout: float, disable_sync_subtasks: bool) -> Any:
        self.asked += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def forget(self) -> None:
        self.forgotten = True


@pytest.mark.parametrize(
    ("answer", "granted"),
    [
        ("In progress", True),
        (CANCELED, False),
        (None, True),  # an unknown action: nothing to cancel
        (TimeoutError("no answer"), True),
    ],
)
def test_a_claim_is_granted_unless_canceled(answer: Any, granted: bool) -> None:
    result = Answer(answer)
    claim = Claim("action", result, timeout=1)  # type: ignore[arg-type]
    assert claim.granted() is granted
    assert result.forgotten


def test_the_answer_is_awaited_once() -> None:
    result = Answer(CANCELED)
    claim = Claim("action", result, timeout=1)  # type: ignore[arg-type]
    assert [claim.granted(), claim.granted()] == [False, False]
    assert result.asked == 1


def test_a_claim_that_could_not_be_sent_is_granted() -> None:
    claim = Claim("action", None, timeout=0)
    assert claim.granted() is True
