"""Every distribution the processes import at run time is installed by the package's own
requirements, without the test extra.

The test venv holds more than a plain install does (pytest brings `packaging`, for one), so a
module that imports an undeclared dependency works here and fails on an operator's machine:
kombu's Redis transport imports `packaging` without declaring it, and a quick-start install
lacked it. This imports what the API, reporter and agent import, in a fresh interpreter, and
checks each distribution that supplied a module against the closure of `controlplane`'s own
requirements."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import distribution, packages_distributions

from packaging.requirements import Requirement

RUNTIME_IMPORTS = (
    "controlplane.cli",
    "controlplane.admincli",
    "controlplane.apiserver",
    "controlplane.client.commands.containers",
    "controlplane.client.commands.events",
    "controlplane.app",
    "controlplane.core.stackfile",  # PyYAML
    "controlplane.reporter.tasks",
    "workers.cli",
    "workers.agent",
    "kombu.transport.redis",
    "celery.backends.redis",
    "gunicorn.workers.gthread",
    "sqlalchemy.dialects.sqlite.pysqlite",
)
# Imported when present, and not needed: a plain install runs without them.
OPTIONAL = {
    "pygments": "Mako (Alembic's templates) highlights tracebacks with it if it can",
    "setuptools": "its distutils-precedence.pth runs in every venv that has it",
}
LOADED = (
    "import json, sys; import importlib\n"
    "for name in sys.argv[1:]: importlib.import_module(name)\n"
    "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
)


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def requirement_closure(root: str) -> set[str]:
    """The distributions `root` needs, transitively, without extras."""
    needed, queue = set(), [root]
    while queue:
        name = _name(queue.pop())
        if name in needed:
            continue
        needed.add(name)
        for line in distribution(name).requires or ():
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                queue.append(requirement.name)
    return needed


def test_runtime_imports_come_from_declared_requirements() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", LOADED, *RUNTIME_IMPORTS],
        capture_output=True,
        text=True,
        check=True,
    )
    providers = packages_distributions()
    used = {
        _name(dist)
        for module in json.loads(loaded.stdout)
        for dist in providers.get(module, ())
        if _name(dist) != "controlplane" and _name(dist) not in OPTIONAL
    }
    assert used, "no third-party distribution found: the check cannot see anything"
    assert used - requirement_closure("controlplane") == set()
