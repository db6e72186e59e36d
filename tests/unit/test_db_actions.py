"""The action list's queries (controlplane/db/actions.py): newest first, and each read from an
index without a sort or a walk of all of the owner's actions."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from controlplane.db import actions
from tests.unit.helpers import Account, query_plans


def plans_of(session: Session, account: Account, filters: actions.ActionFilters) -> list[str]:
    return query_plans(
        session,
        lambda: actions.list_actions(
            session, owner_id=account.user_id, filters=filters, limit=25, offset=0
        ),
    )


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (actions.ActionFilters(), "ix_actions_owner_order (owner_id=?)"),
        (actions.ActionFilters(state="Success"), "ix_actions_owner_order (owner_id=?)"),
    ],
    ids=["none", "state"],
)
def test_newest_first_is_read_backwards_from_an_index_with_no_sort(
    session: Session, account: Account, filters: actions.ActionFilters, index: str
) -> None:
    """Both indexes end with the row id, so a descending scan yields the page in list order:
    a page reads its own rows, not every action of the owner to sort them."""
    plans = plans_of(session, account, filters)
    assert plans and all(index in plan for plan in plans), plans
    assert not [plan for plan in plans if "TEMP B-TREE" in plan], plans


def test_an_object_s_actions_are_read_backwards_from_its_own_index(
    session: Session, account: Account, container: str
) -> None:
    """The object is looked up first, then its actions read through the index of its column."""
    plans = plans_of(session, account, actions.ActionFilters(object_uuid=container))
    listed = [plan for plan in plans if "actions" in plan]
    assert listed and all("ix_actions_container_id (container_id=?)" in p for p in listed), plans
    assert not [plan for plan in plans if "TEMP B-TREE" in plan], plans


def test_a_uuid_prefix_reads_only_the_actions_with_that_prefix(
    session: Session, account: Account
) -> None:
    """A short id reads a range of the unique uuid index (and sorts the few it finds), not all
    of the owner's actions in list order, which a plain condition would make SQLite do."""
    plans = plans_of(session, account, actions.ActionFilters(uuid_prefix="0A1B"))
    assert plans and all("INDEX sqlite_autoindex_actions_1 (uuid>? AND uuid<?)" in p for p in plans)
