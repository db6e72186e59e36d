#!/usr/bin/env bash
# The whole test suite: installs and starts what is missing, then lint, layer contracts, types,
# unit and integration tests. Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
bootstrap all test,postgres
cd "$CP_ROOT"
export HOME="${CP_TEST_HOME:-$(mktemp -d)}"   # no user config (docker, SDK) leaks into the tests

say "ruff";        "$CP_VENV/bin/ruff" check . && "$CP_VENV/bin/ruff" format --check .
say "lint-imports"; "$CP_VENV/bin/lint-imports"
say "mypy";        "$CP_VENV/bin/mypy" controlplane workers benchmarks
export CONTROLPLANE_TEST_POSTGRES_URL="${CONTROLPLANE_TEST_POSTGRES_URL:-$(postgres_admin_url)}"
say "pytest";      "$CP_VENV/bin/pytest" "$@"
