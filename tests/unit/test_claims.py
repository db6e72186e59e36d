"""The agent's claim: an operation runs only on a granted claim. A refused claim stops it for
good; a claim nobody answered (or could not be sent), or answered by anything but a verdict the
control plane sealed for this claim, stops it for now, to be retried."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.core import signing
from controlplane.core.messages import TASK_CLAIM_ACTION, ClaimVerdict
from controlplane.core.signing import NodeToken
from workers.errors import ClaimRefused, ClaimUnanswered
from workers.reports import Claim
from workers.tasks import CLAIM_RETRY_MAX_SECONDS, claim_retry_delay


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


TOKEN = NodeToken(node_uuid="6f1c8f8e-2b8e-4c59-9a57-5d2f3c1e0a01", key=b"k" * 32)
NONCE = "the claim's nonce"


def verdict(
    granted: bool, reason: str | None = None, *, key: bytes = TOKEN.key, claim: str = NONCE
) -> dict[str, Any]:
    """A verdict as the reporter seals it for the claim whose seal had `claim` as its nonce."""
    return signing.sealed(
        key,
        TOKEN.node_uuid,
        f"{signing.TO_NODE}:{TASK_CLAIM_ACTION}",
        {"verdict": ClaimVerdict(granted=granted, reason=reason).to_dict(), "claim": claim},
    )


def claim_for(answer: Any) -> tuple[Claim, Answer]:
    result = Answer(answer)
    claim = Claim("action", result, timeout=1, token=TOKEN, nonce=NONCE)  # type: ignore[arg-type]
    return claim, result


def test_a_granted_claim_lets_the_operation_run() -> None:
    claim, result = claim_for(verdict(True))
    claim.check()
    assert result.forgotten


@pytest.mark.parametrize(
    "reason",
    [
        "action x is Canceled",
        "action x is Failed",
        "superseded by action y",
        "action x is unknown",
        "action x is not for container c on node n",
    ],
)
def test_a_refused_claim_stops_the_operation_with_the_reason(reason: str) -> None:
    claim, _ = claim_for(verdict(False, reason))
    with pytest.raises(ClaimRefused) as refused:
        claim.check()
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    "answer",
    [
        TimeoutError("no answer"),
        "In progress",  # an older reporter's bare state is no grant
        None,
        ClaimVerdict(granted=True).to_dict(),  # unsealed: a broker client can write results
        verdict(True, key=b"x" * 32),  # sealed with a key that is not this node's
        verdict(True, claim="an earlier claim's nonce"),  # copied from another claim's answer
        {**verdict(True), "verdict": {"granted": True, "reason": "changed on the way"}},
    ],
)
def test_a_claim_without_a_verdict_is_never_taken_as_granted(answer: Any) -> None:
    claim, result = claim_for(answer)
    with pytest.raises(ClaimUnanswered):
        claim.check()
    assert result.forgotten


def test_the_answer_is_awaited_once() -> None:
    claim, result = claim_for(verdict(False, "canceled"))
    for _ in range(2):
        with pytest.raises(ClaimRefused):
            claim.check()
    assert result.asked == 1


def test_a_claim_that_could_not_be_sent_is_unanswered() -> None:
    claim = Claim("action", None, timeout=0, token=TOKEN)
    with pytest.raises(ClaimUnanswered):
        claim.check()


def test_an_unanswered_claim_is_retried_sooner_first_and_at_most_every_thirty_seconds() -> None:
    delays = [claim_retry_delay(retries) for retries in range(8)]
    assert delays[:3] == [1.0, 2.0, 4.0]
    assert delays == sorted(delays)
    assert max(delays) == CLAIM_RETRY_MAX_SECONDS
