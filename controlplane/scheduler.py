"""Placement: which node a new container goes to.

Pure: it chooses among plain snapshots (`store.NodeLoad`) so the rule can be tested without a
database and swapped without touching the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class Candidate(Protocol):
    @property
    def uuid(self) -> str: ...

    @property
    def containers(self) -> int: ...


C = TypeVar("C", bound=Candidate)


def choose_node(candidates: Sequence[C]) -> C | None:
    """The emptiest node (fewest live containers); ties go to the lowest uuid, so the choice is
    deterministic. None when there is no candidate."""
    if not candidates:
        return None
    return min(candidates, key=lambda node: (node.containers, node.uuid))
