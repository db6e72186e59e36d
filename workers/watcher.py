"""The Docker events watcher: changes nobody asked the control plane for reach the API.

A daemon thread of the agent follows Docker's container events for this node's containers and
reports each change that matters, stamped with Docker's own event time, through the same reports
as the tasks: a process that exits by itself, `docker stop`/`kill`/`start`/`rm` by hand, an OOM
kill, a restart by Docker's restart policy (autorestart). The reporter's ordering by observation
time keeps these reports and the tasks' from moving a container backwards.

The watcher also enforces autodestroy: a container that exits when nobody stopped it through the
control plane is removed if its policy says so (ON_SUCCESS: exit code 0; ALWAYS: any exit), and
reported Terminated.

If the stream breaks (Docker restarted, socket closed) the watcher reconnects after a short,
growing backoff and logs each attempt; it never dies silently. An event lost while disconnected
is repaired by the periodic relist (`workers.relist`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from controlplane.core.lifecycle import State
from controlplane.core.messages import LABEL_AUTODESTROY, LABEL_CONTAINER_UUID
from workers.docker.driver import DockerDriver
from workers.docker.observe import OOM_REASON, EventFeed
from workers.engine import Observation
from workers.inflight import Inflight
from workers.reports import ReportBatch, Reports

log = logging.getLogger(__name__)

REMOVED_REASON = "removed outside the control plane"
AUTODESTROY_REASON = "removed by autodestroy ({policy}) after exit code {code}"
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 10.0


@dataclass(frozen=True)
class Change:
    """One container change read from a Docker event: which container, what was observed, and
    the container's autodestroy policy (from its label)."""

    container_uuid: str
    observation: Observation
    autodestroy: str = "OFF"


def exit_reason(exit_code: int) -> str | None:
    """Why a process ended, when its exit code says it was killed by a signal (128 + n)."""
    if exit_code > 128:
        return f"killed by signal {exit_code - 128}"
    return None


@dataclass
class EventFolder:
    """Turns Docker events into changes. Pure apart from remembering which containers were
    OOM-killed: Docker sends `oom` before `die`, and the die must keep the OOM reason."""

    oom_killed: set[str] = field(default_factory=set)

    def fold(self, event: dict[str, Any]) -> Change | None:
        actor = event.get("Actor") or {}
        attributes: dict[str, str] = actor.get("Attributes") or {}
        container_uuid = attributes.get(LABEL_CONTAINER_UUID)
        docker_id = str(actor.get("ID") or event.get("id") or "")
        if container_uuid is None or not docker_id:
            return None
        action = str(event.get("Action") or event.get("status") or "")
        observed_ns = int(event.get("timeNano") or 0)
        observation = self._observation(action, docker_id, observed_ns, attributes)
        if observation is None:
            return None
        return Change(container_uuid, observation, attributes.get(LABEL_AUTODESTROY, "OFF"))

    def _observation(
        self, action: str, docker_id: str, observed_ns: int, attributes: dict[str, str]
    ) -> Observation | None:
        if action == "oom":
            self.oom_killed.add(docker_id)
            return None
        if action == "start":
            self.oom_killed.discard(docker_id)
            return Observation(State.RUNNING, observed_ns, docker_id=docker_id)
        if action == "die":
            code = int(attributes.get("exitCode", "0"))
            oom = docker_id in self.oom_killed
            self.oom_killed.discard(docker_id)
            reason = OOM_REASON if oom else exit_reason(code)
            return Observation(
                State.STOPPED, observed_ns, exit_code=code, docker_id=docker_id, reason=reason
            )
        if action in ("pause", "unpause"):
            return Observation(
                State.RUNNING, observed_ns, docker_id=docker_id, paused=action == "pause"
            )
        if action == "destroy":
            return Observation(
                State.TERMINATED, observed_ns, docker_id=docker_id, reason=REMOVED_REASON
            )
        return None


def autodestroys(policy: str, exit_code: int | None) -> bool:
    """Whether a container with autodestroy `policy` is removed after exiting with `exit_code`."""
    return policy == "ALWAYS" or (policy == "ON_SUCCESS" and exit_code == 0)


class Watcher:
    """Follows the events in a daemon thread; its reports leave through a `ReportBatch`, so a
    burst of events (hundreds of containers exiting at once) does not fall behind."""

    def __init__(self, driver: DockerDriver, reports: Reports, inflight: Inflight) -> None:
        self.driver = driver
        self.inflight = inflight
        self.reports = reports
        self.batch = ReportBatch(reports.send_batch)
        self.folder = EventFolder()
        self._stop = threading.Event()
        self._feed: EventFeed | None = None
        self._thread = threading.Thread(target=self._run, name="watcher", daemon=True)

    def start(self) -> None:
        self.batch.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._feed is not None:
            self._feed.close()
        self._thread.join(timeout=5)
        self.batch.stop()

    def _run(self) -> None:
        backoff = _BACKOFF_FIRST
        while not self._stop.is_set():
            try:
                self._feed = self.driver.events()
                log.info("following Docker events")
                backoff = _BACKOFF_FIRST
                for event in self._feed:
                    self._handle(event)
            except Exception as exc:  # Docker restarting, broker down: never die silently
                if self._stop.is_set():
                    break
                log.warning("Docker events stream lost (%s); reconnecting in %s s", exc, backoff)
            else:
                log.warning("Docker events stream ended; reconnecting in %s s", backoff)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _handle(self, event: dict[str, Any]) -> None:
        change = self.folder.fold(event)
        if change is None or self._caused_by_agent(change):
            return
        observation = change.observation
        if observation.state is State.TERMINATED:
            if self._skip_destroy(change):
                return
        elif observation.state is State.RUNNING:
            # The event has no ports; Docker's view has them, with StartedAt as its time.
            observation = self.driver.observe_id(str(observation.docker_id)) or observation
        log.info("event: container %s %s", change.container_uuid, observation.state.value)
        self.batch.put(self.reports.encode(change.container_uuid, observation))
        if observation.state is State.STOPPED:
            self._enforce_autodestroy(change)

    def _caused_by_agent(self, change: Change) -> bool:
        """A die or destroy while the agent stops, removes or replaces the container, or a
        start while it starts it, is that operation's doing: its own report tells the outcome.
        (Reporting a redeploy's removal of the old container would, for one, make it look like
        the end of the record; reporting a start twice would cost the reporter a transaction.)"""
        if change.observation.state is State.RUNNING:
            return self.inflight.being_started(change.container_uuid)
        return self.inflight.winding_down(change.container_uuid)

    def _skip_destroy(self, change: Change) -> bool:
        """A destroy is news only when nothing the control plane did explains it: not a removal
        of the agent's own (autodestroy, a start called off), and no other container holds the
        uuid (a redeploy removes the old one)."""
        if self.inflight.removed_by_agent(str(change.observation.docker_id)):
            return True
        return self.driver.find(change.container_uuid) is not None

    def _enforce_autodestroy(self, change: Change) -> None:
        observation = change.observation
        if self.inflight.stopped_by_agent(change.container_uuid):
            return
        if not autodestroys(change.autodestroy, observation.exit_code):
            return
        docker_id = str(observation.docker_id)
        self.driver.remove_exited(docker_id)
        reason = AUTODESTROY_REASON.format(policy=change.autodestroy, code=observation.exit_code)
        log.info("autodestroy: container %s %s", change.container_uuid, reason)
        removed = Observation(
            State.TERMINATED, observation.observed_ns + 1, docker_id=docker_id, reason=reason
        )
        self.batch.put(self.reports.encode(change.container_uuid, removed))
