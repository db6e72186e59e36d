"""Many simulated nodes in one process, speaking the real node protocol with the agent's own
code: each node has its token, its `Reports` (sealed reports, heartbeats, relist pictures,
claims), its `Heartbeat` and `Relist` and its `Inflight`, and runs every operation through
`workers.tasks.run_operation` (seal opened, claim granted, engine called, outcome reported);
only the engine is simulated (`fakeengine.FakeEngine`, in memory, no docker-py).

What differs from N agents, so that 1,000 nodes fit on two cores: one Celery app sends for every
node; the node queues (`node.<uuid>`) are consumed by a few kombu connections (`--connections`),
each over its share of the queues, and the operations run on one thread pool (`--threads`)
rather than eight threads per node; one timer thread each beats and relists every node, spread
evenly over the interval, instead of two threads per node; and there is no Docker events
watcher (nothing changes a fake container behind the agent's back but `kill`, below, which
reports as the watcher's `ReportBatch` would). A message is acknowledged once handled; an
operation whose claim went unanswered is run again after the agent's own backoff.

    fakenodes.py --broker URL --tokens FILE [--threads 64] [--connections 8]
        [--heartbeat-interval 5] [--relist-interval 15] [--role all|operations|heartbeats]

`--role heartbeats` only heartbeats the nodes, `--role operations` does everything else: run
as two processes, a simulator busy with thousands of operations still heartbeats on time, as
every real agent does from a thread of its own (scale.py runs both).

Commands on standard input, one a line, each answered by a line on standard output:
`relist on` (relists begin), `kill` (every running container exits; batched reports),
`dump PATH` (when each Running report was sent, JSON {uuid: epoch seconds}), `late` (the most
each timer ran late, JSON), `quit`.
"""

from __future__ import annotations

import argparse
import heapq
import json
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from celery import Celery
from fakeengine import FakeEngine
from kombu import Connection, Consumer, Exchange, Queue

from controlplane.core import signing
from controlplane.core.celeryconf import celery_config
from controlplane.core.lifecycle import State
from controlplane.core.messages import (
    OPERATION_TASKS,
    TASK_COLLECT,
    Collect,
    Operation,
    node_queue,
)
from controlplane.core.signing import NodeToken
from workers.engine import Observation
from workers.errors import ClaimUnanswered
from workers.heartbeat import Heartbeat
from workers.inflight import Inflight
from workers.relist import Relist
from workers.reports import Reports
from workers.tasks import claim_retry_delay, collect_orphan, opened, run_operation

log = logging.getLogger("fakenodes")
OPERATIONS = frozenset(OPERATION_TASKS.values())


class TimedReports(Reports):
    """The agent's reports, remembering when each Running report left (for the event lag)."""

    def __init__(self, celery: Celery, *, token: NodeToken, sent: dict[str, float]) -> None:
        super().__init__(celery, token=token)
        self._sent = sent

    def observed(
        self, container_uuid: str, observation: Observation, *, action_uuid: str | None
    ) -> None:
        super().observed(container_uuid, observation, action_uuid=action_uuid)
        if observation.state is State.RUNNING:
            self._sent[container_uuid] = time.time()


class Node:
    def __init__(self, app: Celery, token: NodeToken, args: argparse.Namespace, sent: dict) -> None:
        self.token = token
        self.uuid = token.node_uuid
        self.engine = FakeEngine(self.uuid)
        self.inflight = Inflight()
        self.reports = TimedReports(app, token=token, sent=sent)
        self.heartbeat = Heartbeat(self.engine, self.reports, interval=args.heartbeat_interval)
        self.relist = Relist(self.engine, self.reports, interval=args.relist_interval)


class Simulator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.app = Celery("fakenodes", set_as_current=False)
        self.app.conf.update(celery_config(args.broker, visibility_timeout=3600))
        self.app.conf.broker_pool_limit = args.threads + 8
        self.sent: dict[str, float] = {}
        tokens = [NodeToken.parse(line) for line in Path(args.tokens).read_text().split()]
        self.nodes = {node_queue(t.node_uuid): Node(self.app, t, args, self.sent) for t in tokens}
        self.pool = ThreadPoolExecutor(args.threads, thread_name_prefix="op")
        self.stopping = threading.Event()
        self.relisting = threading.Event()
        self.handled = 0
        self.retried = 0
        # The most any timer's tick ran late (s), by timer: a simulator too busy to heartbeat on
        # time makes nodes Unreachable that a real fleet would keep (scale.py prints it).
        self.late: dict[str, float] = {"heartbeat": 0.0, "relist": 0.0}

    # -- node queues ------------------------------------------------------------------------

    def consume(self, queues: list[str]) -> None:
        """One kombu connection over `queues`; handled messages are acknowledged here, in the
        connection's own thread."""
        done: deque[Any] = deque()
        with Connection(self.args.broker, transport_options={"visibility_timeout": 3600}) as conn:
            declared = [
                Queue(name, Exchange(name, type="direct"), routing_key=name) for name in queues
            ]

            def received(body: Any, message: Any) -> None:
                node = self.nodes[message.delivery_info["routing_key"]]
                task = message.headers["task"]
                kwargs = body[1]
                self.pool.submit(self.handle, node, task, kwargs, 0, lambda: done.append(message))

            with Consumer(conn, declared, callbacks=[received], accept=["json"]) as consumer:
                consumer.qos(prefetch_count=self.args.prefetch)
                while not self.stopping.is_set():
                    while done:
                        done.popleft().ack()
                    try:
                        conn.drain_events(timeout=0.02)
                    except TimeoutError:
                        pass

    def handle(
        self, node: Node, task: str, kwargs: dict[str, Any], retries: int, ack: Callable[[], None]
    ) -> None:
        try:
            self._run(node, task, kwargs, retries)
        except Exception:
            log.exception("task %s on node %s failed", task, node.uuid)
        finally:
            ack()

    def _run(self, node: Node, task: str, kwargs: dict[str, Any], retries: int) -> None:
        try:
            body, _ = opened(node.token, task, kwargs)
        except signing.SealError as exc:
            log.warning("refused a %s task: %s", task, exc.reason)
            return
        if task in OPERATIONS:
            operation = Operation.from_dict(body["operation"])
            try:
                run_operation(node.engine, node.inflight, node.reports, operation)
            except ClaimUnanswered as exc:
                delay = claim_retry_delay(retries)
                log.warning("%s; tried again in %s s", exc, delay)
                self.retried += 1
                timer = threading.Timer(
                    delay, self.pool.submit, (self.handle, node, task, kwargs, retries + 1, _no_ack)
                )
                timer.daemon = True
                timer.start()
        elif task == TASK_COLLECT:
            collect_orphan(node.engine, node.inflight, Collect.from_dict(body["collect"]))
        self.handled += 1

    # -- timers -----------------------------------------------------------------------------

    def every(
        self,
        name: str,
        interval: float,
        tick: Callable[[Node], object],
        gate: threading.Event | None,
    ) -> None:
        """`tick` for every node once an interval, spread evenly over it (the first round too,
        as agents started at random moments would)."""
        if gate is not None:
            gate.wait()
        nodes = list(self.nodes.values())
        start = time.monotonic()
        due = [(start + interval * i / len(nodes), i) for i in range(len(nodes))]
        heapq.heapify(due)
        while not self.stopping.is_set():
            when, index = heapq.heappop(due)
            delay = when - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                return
            self.late[name] = max(self.late[name], -delay)
            try:
                tick(nodes[index])
            except Exception as exc:  # broker trouble: the real Periodic logs and goes on
                log.warning("tick of node %s failed: %s", nodes[index].uuid, exc)
            heapq.heappush(due, (when + interval, index))

    # -- commands ---------------------------------------------------------------------------

    def kill(self) -> str:
        """Every running container exits; each node reports its burst in one batch, as its
        watcher's `ReportBatch` would send it."""
        started = time.perf_counter()
        changes = 0
        for node in self.nodes.values():
            died = node.engine.kill_all()
            if died:
                node.reports.send_batch(
                    [node.reports.encode(uuid, seen) for uuid, seen in died.items()]
                )
                changes += len(died)
        return f"{changes} {time.perf_counter() - started:.3f}"

    def run(self) -> None:
        queues = sorted(self.nodes)
        shares = max(1, min(self.args.connections, len(queues)))
        threads = []
        if self.args.role != "heartbeats":
            threads += [
                threading.Thread(target=self.consume, args=(queues[i::shares],), daemon=True)
                for i in range(shares)
            ]
            threads.append(
                threading.Thread(
                    target=self.every,
                    args=("relist", self.args.relist_interval, lambda n: n.relist.relist(),
                          self.relisting),
                    daemon=True,
                )
            )  # fmt: skip
        if self.args.role != "operations":
            threads.append(
                threading.Thread(
                    target=self.every,
                    args=("heartbeat", self.args.heartbeat_interval, lambda n: n.heartbeat.beat(),
                          None),
                    daemon=True,
                )
            )  # fmt: skip
        for thread in threads:
            thread.start()
        print(f"ready {len(self.nodes)}", flush=True)
        for line in sys.stdin:
            command, _, rest = line.strip().partition(" ")
            if command == "relist":
                self.relisting.set()
                answer = "relisting"
            elif command == "kill":
                answer = self.kill()
            elif command == "dump":
                Path(rest).write_text(json.dumps(dict(self.sent)))
                answer = f"{len(self.sent)} {self.handled} {self.retried}"
            elif command == "late":
                answer = json.dumps({name: round(late, 2) for name, late in self.late.items()})
            elif command == "quit":
                break
            else:
                answer = f"unknown command {command!r}"
            print(f"ok {answer}", flush=True)
        self.stopping.set()
        self.relisting.set()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _no_ack() -> None:
    """A retried operation's message was acknowledged when its first run ended."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--broker", required=True)
    parser.add_argument("--tokens", required=True, help="a file of node tokens, one a line")
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--prefetch", type=int, default=64, help="per connection")
    parser.add_argument("--heartbeat-interval", type=float, default=5)
    parser.add_argument("--relist-interval", type=float, default=15)
    parser.add_argument("--role", choices=("all", "operations", "heartbeats"), default="all")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if "docker" in sys.modules:
        raise SystemExit("the simulated nodes imported docker-py")
    Simulator(args).run()
    if "docker" in sys.modules:
        raise SystemExit("the simulated nodes imported docker-py")


if __name__ == "__main__":
    main()
