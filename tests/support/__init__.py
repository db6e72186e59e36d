"""The live-plane harness of tests/integration and tests/conformance: the real Docker Engine, a
real Redis and the control plane's real processes.

`plane.start_plane` runs the reporter, one node agent and the API (gunicorn) as subprocesses
exactly as an operator runs them (`controlplane reporter|agent|api`), against a dedicated Redis
database that is flushed before and after, and a fresh SQLite file. Docker is never mocked: tests
read the real containers back with their own docker-py client (`containers`).

The session fixtures that start one plane (`plane`, `alice`, `bob`, `docker_client`, ...) are in
tests/conftest.py, so that tests/integration and tests/conformance share a single plane; they
import this package inside their bodies, so a unit run (tests/unit) never imports it, nor docker,
redis, requests or websocket (tests/unit/test_suite_layout.py checks both). The one exception is
`openapi`, which only validates answers against the API's document and imports none of them.
"""
