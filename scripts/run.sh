#!/usr/bin/env bash
# Quick start: the control plane (API, reporter) and one node agent for the local Docker Engine.
# Installs and starts whatever is missing first; Ctrl-C stops everything this script started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
bootstrap all
cd "$CP_ROOT"

STATE="${CONTROLPLANE_STATE_DIR:-$CP_ROOT/.state}"
PORT="${CONTROLPLANE_PORT:-8000}"
mkdir -p "$STATE/logs"
export CONTROLPLANE_DATABASE_URL="${CONTROLPLANE_DATABASE_URL:-sqlite:///$STATE/controlplane.db}"
export CONTROLPLANE_BROKER_URL="${CONTROLPLANE_BROKER_URL:-redis://127.0.0.1:6379/0}"
export CONTROLPLANE_AGENT_BROKER_URL="${CONTROLPLANE_AGENT_BROKER_URL:-$CONTROLPLANE_BROKER_URL}"
export CONTROLPLANE_AGENT_STATE_DIR="${CONTROLPLANE_AGENT_STATE_DIR:-$STATE/agent}"
CP="$CP_VENV/bin/controlplane"

"$CP" db upgrade >/dev/null 2>&1
KEY="$("$CP" user ensure admin --key-file "$STATE/admin.key" 2>/dev/null)"

pids=()
stop_all() {
  trap - INT TERM EXIT
  if ((${#pids[@]})); then
    say "stopping controlplane"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop_all INT TERM EXIT

# Run "$@" again whenever it exits with a failure, as a supervisor with Restart=on-failure would:
# the agent and the reporter outlive their broker, and exit non-zero if their worker ever stops
# on its own. A clean exit, or the TERM stop_all sends, ends the loop.
supervise() {
  local child="" status
  trap '[[ -n "$child" ]] && kill -TERM "$child" 2>/dev/null; wait "$child" 2>/dev/null; exit 0' TERM INT
  while true; do
    "$@" & child=$!
    status=0; wait "$child" || status=$?
    ((status == 0)) && exit 0
    say "'${*:2}' exited with status $status; restarting it in 2 s"
    sleep 2
  done
}

supervise "$CP" reporter >>"$STATE/logs/reporter.log" 2>&1 & pids+=($!)
supervise "$CP" agent >>"$STATE/logs/agent.log" 2>&1 & pids+=($!)
"$CP" api --bind "127.0.0.1:$PORT" >"$STATE/logs/api.log" 2>&1 & pids+=($!)

# Ready when the API answers and the agent has registered its node (creates need a node).
URL="http://127.0.0.1:$PORT"
ready=""
for _ in $(seq 1 300); do
  if curl -sf -H "Authorization: ApiKey admin:$KEY" "$URL/api/v1/node/" | grep -q '"Deployed"'; then
    ready=1; break
  fi
  sleep 0.2
done
[[ -n "$ready" ]] || { say "not ready after 60 s; see $STATE/logs"; exit 1; }

cat <<BANNER

controlplane is running
  API      $URL/api/v1/
  user     admin
  API key  $KEY
  image    $CP_IMAGE (local, built from busybox-static)
  logs     $STATE/logs/{api,reporter,agent}.log

Try:
  curl -s -H 'Authorization: ApiKey admin:$KEY' -H 'Content-Type: application/json' \\
       -d '{"image_name": "$CP_IMAGE", "name": "hello", "run_command": "sh -c \"echo hello; sleep 3600\""}' \\
       $URL/api/v1/container/

Press Ctrl-C to stop.
BANNER

# Exit (and stop the rest) as soon as any of the three stops.
wait -n "${pids[@]}" || true
say "a controlplane process exited; see $STATE/logs"
