"""The layout of the test suites themselves, where it would otherwise regress silently:

- a unit run never imports the live-plane harness (tests/support, but for its pure `openapi`
  and `tables` modules), and its conftests none of the clients the harness drives (docker,
  redis, requests, websocket): the root conftest, which every run loads, imports them only
  inside its fixtures' bodies;
- tests/integration and tests/conformance share the one `plane` of tests/conftest.py: fixtures of
  their own would start a second plane, whose reporter would consume the first one's reports;
- no test module imports another test module or a conftest: what tests share lives in
  tests/support, tests/unit/helpers.py and tests/conformance/sdk.py.

The first two run pytest itself, in a fresh interpreter (this one imported everything long
ago), with a probe plugin that writes what it saw to a JSON file.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"

# Run as `python -c PROBE + RUN <output file> <pytest arguments...>`.
RUN = """
probe = Probe()
exit_code = pytest.main(sys.argv[2:], plugins=[probe])
with open(sys.argv[1], "w") as out:
    json.dump({"exit_code": int(exit_code), "found": probe.found}, out)
"""

IMPORTS_PROBE = """
import json
import sys

import pytest

HARNESS = ("tests.support", "docker", "redis", "requests", "websocket")


def loaded():
    return sorted(
        name for name in sys.modules if any(name == h or name.startswith(h + ".") for h in HARNESS)
    )


class Probe:
    def __init__(self):
        self.found = {}

    def pytest_plugin_registered(self, plugin):
        if getattr(plugin, "__name__", None) == "tests.conftest":
            self.found["after the root conftest"] = loaded()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session):
        self.found["before collection"] = loaded()  # every conftest of the run is loaded

    def pytest_collection_finish(self, session):
        self.found["after collection"] = loaded()  # and every test module
"""

FIXTURES_PROBE = """
import inspect
import json
import os
import sys

import pytest


class Probe:
    def __init__(self):
        # session fixture -> where it is defined -> the suites whose tests use that definition
        self.found = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items):
        for item in items:
            # pytest's own resolution of the item's fixtures (no public API gives it).
            for name, fixturedefs in item._fixtureinfo.name2fixturedefs.items():
                fixturedef = fixturedefs[-1]
                if fixturedef.scope != "session":
                    continue
                path = os.path.relpath(inspect.getsourcefile(fixturedef.func))
                where = f"{path}:{inspect.getsourcelines(fixturedef.func)[1]}"
                suites = self.found.setdefault(name, {}).setdefault(where, [])
                suite = item.nodeid.split("/")[1]
                if suite not in suites:
                    suites.append(suite)
"""


def run_pytest_with(probe: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    output = tmp_path / "probe.json"
    finished = subprocess.run(
        [sys.executable, "-c", probe + RUN, str(output), *args, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert output.exists(), finished.stdout + finished.stderr
    result: dict[str, Any] = json.loads(output.read_text())
    return result


@pytest.fixture(scope="module")
def unit_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """What of the harness and its clients a collection of tests/unit had imported: after the
    root conftest, after every conftest, after every test module."""
    run = run_pytest_with(
        IMPORTS_PROBE, tmp_path_factory.mktemp("unit-run"), "tests/unit", "--collect-only"
    )
    assert run["exit_code"] == 0, run
    found: dict[str, list[str]] = run["found"]
    return found


def test_the_conftests_of_a_unit_run_import_no_harness_nor_docker_requests_or_websocket(
    unit_run: dict[str, list[str]],
) -> None:
    # The root conftest imports none of them, redis included; the unit conftest only redis, which
    # the API itself imports (controlplane.api.logchannels), through the app its fixtures build.
    assert unit_run["after the root conftest"] == []
    assert {name.split(".")[0] for name in unit_run["before collection"]} <= {"redis"}


def test_no_unit_test_module_imports_the_harness(unit_run: dict[str, list[str]]) -> None:
    # The unit tests of the node agent's driver import docker (and with it requests) themselves.
    # tests/support/openapi.py is no harness: it only validates answers against the API's
    # document, for the unit tests and for a fuzzer on a live plane alike; tests/support/tables.py
    # only reads the legacy CLIs' tables back into cells.
    support = {name for name in unit_run["after collection"] if name.startswith("tests.support")}
    assert support <= {"tests.support", "tests.support.openapi", "tests.support.tables"}


def test_the_live_suites_share_the_one_plane_of_the_root_conftest(tmp_path: Path) -> None:
    run = run_pytest_with(
        FIXTURES_PROBE, tmp_path, "tests/integration", "tests/conformance", "--collect-only"
    )
    assert run["exit_code"] == 0
    found = run["found"]
    assert len(found["plane"]) == 1, found["plane"]
    [(where, suites)] = found["plane"].items()
    assert where.startswith("tests/conftest.py:")
    assert sorted(suites) == ["conformance", "integration"]
    # Nor is any other session fixture defined twice (e.g. the plane's docker_client or redis_db).
    assert {name: list(places) for name, places in found.items() if len(places) > 1} == {}


def imported_modules(tree: ast.Module) -> set[str]:
    """Every module an import statement names, and every `from` import's names as submodules."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def offending_prefix(module: str) -> str | None:
    """`tests.unit.test_store` of `tests.unit.test_store.REQUEST`: the test module or conftest
    a name is in, if it is in one."""
    parts = module.split(".")
    for index, part in enumerate(parts):
        if part == "conftest" or part.startswith("test_"):
            return ".".join(parts[: index + 1])
    return None


def test_no_test_module_imports_a_test_module_or_a_conftest() -> None:
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        bad = {prefix for name in imported_modules(tree) if (prefix := offending_prefix(name))}
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}
