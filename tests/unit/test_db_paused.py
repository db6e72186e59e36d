"""A paused container (`docker pause`) is Running with `paused` set. Docker stamps no time on a
pause, so the flag follows the latest report about a Running record, whatever its time."""

from __future__ import annotations

from sqlalchemy.orm import Session

from controlplane.core.lifecycle import State
from controlplane.db.models import Container
from tests.unit.helpers import Account, add_container, apply


def paused(session: Session, uuid: str) -> bool:
    session.expire_all()
    record = session.query(Container).filter_by(uuid=uuid).one()
    return record.paused


def test_a_pause_reported_with_the_containers_start_time_still_shows(
    session: Session, account: Account, node: str
) -> None:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    assert apply(session, uuid, State.RUNNING, 100, node)
    # The watcher and the relist both stamp a running container with Docker's StartedAt.
    assert apply(session, uuid, State.RUNNING, 100, node, paused=True)
    assert paused(session, uuid)
    assert not apply(session, uuid, State.RUNNING, 100, node, paused=True)  # nothing new
    assert apply(session, uuid, State.RUNNING, 100, node, paused=False)
    assert not paused(session, uuid)


def test_a_container_that_stops_is_no_longer_paused(
    session: Session, account: Account, node: str
) -> None:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    assert apply(session, uuid, State.RUNNING, 100, node, paused=True)
    assert paused(session, uuid)
    assert apply(session, uuid, State.STOPPED, 200, node, exit_code=137)
    assert not paused(session, uuid)


def test_a_stopped_record_ignores_a_stale_paused_report(
    session: Session, account: Account, node: str
) -> None:
    uuid = add_container(session, owner_id=account.user_id, node_uuid=node)
    assert apply(session, uuid, State.RUNNING, 100, node)
    assert apply(session, uuid, State.STOPPED, 200, node, exit_code=0)
    assert not apply(session, uuid, State.RUNNING, 100, node, paused=True)
    assert not paused(session, uuid)
