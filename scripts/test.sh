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
if (( $# )); then
  say "pytest"; exec "$CP_VENV/bin/pytest" "$@"
fi

# The live suites' planes run on SQLite, then a second pass runs them on PostgreSQL: the tests
# below cover every store path (containers, actions and their claims, reports, relists and
# repairs, nodes, services and stacks, the SDKs' lifecycle, the fault suite with two API
# processes and two reporters at once). CONTROLPLANE_TEST_POSTGRES_PASS=all runs every live
# suite there instead (docs/architecture.md §8).
POSTGRES_PASS=(
  tests/faults
  tests/conformance/test_sdk_lifecycle.py tests/conformance/test_sdk_services.py
  tests/integration/test_containers_api.py tests/integration/test_actions.py
  tests/integration/test_redelivery.py tests/integration/test_out_of_band.py
  tests/integration/test_orphans.py tests/integration/test_services.py
)
[[ "${CONTROLPLANE_TEST_POSTGRES_PASS:-}" == all ]] && POSTGRES_PASS=(tests/integration tests/conformance tests/faults)
failed=()
say "pytest: unit, on every core"
"$CP_VENV/bin/pytest" -n auto tests/unit || failed+=(unit)
say "pytest: live suites, planes on SQLite"
"$CP_VENV/bin/pytest" tests/integration tests/conformance tests/fuzz tests/faults || failed+=(live-sqlite)
say "pytest: live suites, planes on PostgreSQL"
CONTROLPLANE_TEST_PLANE_DATABASE=postgres "$CP_VENV/bin/pytest" "${POSTGRES_PASS[@]}" || failed+=(live-postgres)
if (( ${#failed[@]} )); then
  say "failed: ${failed[*]}"; exit 1
fi
