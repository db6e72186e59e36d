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

# The live suites run in two lanes side by side (they mostly wait on Docker and on timeouts, not
# on the CPU), each with a session plane of its own on its own Redis database:
#   lane 1: integration, conformance and fuzz, the planes on SQLite, then the PostgreSQL pass of
#     the integration and conformance suites (Redis db 15);
#   lane 2: the fault suite with its planes on SQLite, then on PostgreSQL (Redis db 14).
# The PostgreSQL pass covers every store path: containers, actions and their claims, reports,
# relists and repairs, orphans, the SDKs' container and service lifecycles, and in the fault
# suite two API processes and two reporters at once. It leaves out the modules that need the
# extra nodes (test_nodes.py, test_services.py), whose daemons have fixed names and run on
# SQLite; services and stacks are on PostgreSQL in the unit suite and through the SDKs. Each
# lane's share takes about the same time (the slowest tests are listed at the end of each run).
# CONTROLPLANE_TEST_POSTGRES_PASS=all runs every live suite on PostgreSQL after the SQLite runs
# instead, one lane after the other (docs/architecture.md §8).
POSTGRES_PASS=(
  tests/conformance/test_sdk_lifecycle.py tests/conformance/test_sdk_services.py
  tests/integration/test_containers_api.py tests/integration/test_actions.py
  tests/integration/test_redelivery.py tests/integration/test_out_of_band.py
  tests/integration/test_orphans.py tests/integration/test_redeploy.py
)
LANE_1_REDIS=redis://127.0.0.1:6379/15 LANE_2_REDIS=redis://127.0.0.1:6379/14
LIVE=("$CP_VENV/bin/pytest" --durations=20)
failed=()

say "pytest: unit, on every core"
"$CP_VENV/bin/pytest" -n auto tests/unit || failed+=(unit)

if [[ "${CONTROLPLANE_TEST_POSTGRES_PASS:-}" == all ]]; then
  say "pytest: live suites, planes on SQLite"
  CONTROLPLANE_TEST_REDIS_URL=$LANE_1_REDIS "${LIVE[@]}" \
    tests/integration tests/conformance tests/fuzz tests/faults || failed+=(live-sqlite)
  say "pytest: live suites, planes on PostgreSQL"
  CONTROLPLANE_TEST_PLANE_DATABASE=postgres CONTROLPLANE_TEST_REDIS_URL=$LANE_1_REDIS \
    "${LIVE[@]}" tests/integration tests/conformance tests/faults || failed+=(live-postgres)
else
  lane_2_log=$(mktemp)
  (
    say "lane 2: the fault suite, planes on SQLite"
    CONTROLPLANE_TEST_REDIS_URL=$LANE_2_REDIS "${LIVE[@]}" tests/faults || status=1
    say "lane 2: the fault suite, planes on PostgreSQL"
    CONTROLPLANE_TEST_PLANE_DATABASE=postgres CONTROLPLANE_TEST_REDIS_URL=$LANE_2_REDIS \
      "${LIVE[@]}" tests/faults || status=1
    exit "${status:-0}"
  ) > "$lane_2_log" 2>&1 &
  lane_2=$!
  say "pytest: lane 1, integration, conformance and fuzz, planes on SQLite (lane 2 in the background)"
  CONTROLPLANE_TEST_REDIS_URL=$LANE_1_REDIS "${LIVE[@]}" \
    tests/integration tests/conformance tests/fuzz || failed+=(lane-1)
  say "pytest: lane 1, the PostgreSQL pass of the integration and conformance suites"
  CONTROLPLANE_TEST_PLANE_DATABASE=postgres CONTROLPLANE_TEST_REDIS_URL=$LANE_1_REDIS \
    "${LIVE[@]}" "${POSTGRES_PASS[@]}" || failed+=(lane-1-postgres)
  say "pytest: waiting for lane 2 (the fault suite on SQLite and PostgreSQL)"
  wait "$lane_2" || failed+=(lane-2)
  cat "$lane_2_log"
  rm -f "$lane_2_log"
fi
if (( ${#failed[@]} )); then
  say "failed: ${failed[*]}"; exit 1
fi
