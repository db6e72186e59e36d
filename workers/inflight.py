"""What the agent is doing now, so that the events watcher does not report it a second time.

Every operation of the agent makes Docker send events: a stop's die, a start's start, the destroy
of the container a redeploy replaced. The operation reports its own outcome, so those events are
no news, and reporting them would cost the reporter a transaction or, worse, mislead it (the
destroy of a redeployed container's old self would look like the end of the record). The tasks
mark the operations they run (`starting`, `stopping`), the driver marks the containers it removes
on its own initiative (`removing`), and the watcher asks here before it reports an event.

Two kinds of marks, both keyed by container uuid except removals (by Docker id):

- running counters: how many starts, or stops, terminates and redeploys, of a container run on
  this agent now; several deliveries of one operation may run at once.
- forget-on-read marks: something the agent did whose one event is still to come (the exit after
  a stop, the destroy after a removal). The watcher's question takes the mark, so the same event
  later is news again.

It knows nothing of Docker, so the watcher and the tasks share it without the driver's client.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


class Inflight:
    """The agent's operations running now and its own doings whose events are yet to come;
    safe to share between the task threads, the driver and the watcher."""

    def __init__(self) -> None:
        # Containers the agent stopped since it last started them.
        self._stopped: set[str] = set()
        # Docker ids of containers the agent removed on its own initiative (autodestroy, a start
        # called off), whose destroy event is no news.
        self._removed: set[str] = set()
        self._winding_down: Counter[str] = Counter()
        self._starting: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def starting(self, container_uuid: str) -> Iterator[None]:
        """Mark a start of the container as running on this agent. A container started again
        is no longer one the agent stopped: its next exit is news."""
        with self._lock:
            self._stopped.discard(container_uuid)
        with self._marked(self._starting, container_uuid):
            yield

    @contextmanager
    def stopping(self, container_uuid: str) -> Iterator[None]:
        """Mark a stop, terminate or redeploy of the container as running on this agent."""
        with self._lock:
            self._stopped.add(container_uuid)
        with self._marked(self._winding_down, container_uuid):
            yield

    def removing(self, docker_id: str) -> None:
        """The agent is about to remove this Docker container on its own initiative."""
        with self._lock:
            self._removed.add(docker_id)

    def being_started(self, container_uuid: str) -> bool:
        """Whether a start of the container is running on this agent."""
        return self._running(self._starting, container_uuid)

    def winding_down(self, container_uuid: str) -> bool:
        """Whether a stop, terminate or redeploy of the container is running on this agent."""
        return self._running(self._winding_down, container_uuid)

    def stopped_by_agent(self, container_uuid: str) -> bool:
        """Whether the agent stopped the container since it last started it; forgets it."""
        return self._take(self._stopped, container_uuid)

    def removed_by_agent(self, docker_id: str) -> bool:
        """Whether the agent removed this Docker container itself; forgets it."""
        return self._take(self._removed, docker_id)

    def _take(self, marks: set[str], key: str) -> bool:
        """Whether `key` is among `marks`, removing it."""
        with self._lock:
            if key in marks:
                marks.discard(key)
                return True
            return False

    def _running(self, running: Counter[str], container_uuid: str) -> bool:
        with self._lock:
            return running[container_uuid] > 0

    @contextmanager
    def _marked(self, running: Counter[str], container_uuid: str) -> Iterator[None]:
        with self._lock:
            running[container_uuid] += 1
        try:
            yield
        finally:
            with self._lock:
                running[container_uuid] -= 1
                if running[container_uuid] <= 0:
                    del running[container_uuid]
