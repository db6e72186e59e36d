#!/usr/bin/env bash
# Quick start: the control plane (API, reporter) and one node agent for the local Docker Engine.
# Installs and starts whatever is missing first; Ctrl-C stops everything this script started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
bootstrap node
cd "$CP_ROOT"

STATE="${CONTROLPLANE_STATE_DIR:-$CP_ROOT/.state}"
PORT="${CONTROLPLANE_PORT:-8000}"
# Everything from here on is private to its owner: the state directory, the database (container
# environment values), the keys, Redis's files and the logs (docs/operations.md §8). State an
# earlier version created readable by others is tightened too.
umask 077
mkdir -p "$STATE/logs"
chmod -R go-rwx "$STATE"
export CONTROLPLANE_DATABASE_URL="${CONTROLPLANE_DATABASE_URL:-sqlite:///$STATE/controlplane.db}"
CP="$CP_VENV/bin/controlplane"

pids=()
broker=""

# The broker: unless CONTROLPLANE_BROKER_URL names one, a Redis of our own on loopback
# (CONTROLPLANE_REDIS_PORT, 6380) that needs the password generated into $STATE/redis.conf
# on the first run: anybody who reaches the broker can send the nodes work and read every
# log stream, so no client without the password may. A Redis this script started earlier and
# that still runs (its pid file says so) is used as it is, and left running on exit. Ours runs
# in a session of its own, so a Ctrl-C does not take it down before the workers that use it
# (which would reconnect to it for ever instead of finishing their shutdown): it is stopped last.
start_broker() {
  local port="${CONTROLPLANE_REDIS_PORT:-6380}" conf="$STATE/redis.conf" pidfile="$STATE/redis.pid"
  mkdir -p "$STATE/redis"
  if [[ ! -s "$conf" ]]; then
    (umask 077; printf 'bind 127.0.0.1\nport %s\ndir %s\nappendonly yes\nsave ""\nrequirepass %s\n' \
      "$port" "$STATE/redis" "$("$CP_VENV/bin/python" -c 'import secrets; print(secrets.token_hex(32))')" >"$conf")
  fi
  port="$(awk '$1 == "port" {print $2}' "$conf")"
  local password; password="$(awk '$1 == "requirepass" {print $2}' "$conf")"
  export CONTROLPLANE_BROKER_URL="redis://:$password@127.0.0.1:$port/0"
  if [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null &&
    REDISCLI_AUTH="$password" redis-cli -p "$port" ping >/dev/null 2>&1; then
    return
  fi
  (exec_closing_fds setsid redis-server "$conf" --logfile "$STATE/logs/redis.log") & broker=$!
  echo "$broker" >"$pidfile"
  local i
  for i in $(seq 1 50); do
    REDISCLI_AUTH="$password" redis-cli -p "$port" ping >/dev/null 2>&1 && return
    sleep 0.2
  done
  say "redis-server did not come up on 127.0.0.1:$port; see $STATE/logs/redis.log"
  return 1
}

stop_all() {
  trap - INT TERM EXIT
  if ((${#pids[@]})); then
    say "stopping controlplane"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  if [[ -n "$broker" ]]; then
    kill -TERM "$broker" 2>/dev/null || true
    wait "$broker" 2>/dev/null || true
  fi
}
trap stop_all INT TERM EXIT

[[ -n "${CONTROLPLANE_BROKER_URL:-}" ]] || start_broker
export CONTROLPLANE_AGENT_BROKER_URL="${CONTROLPLANE_AGENT_BROKER_URL:-$CONTROLPLANE_BROKER_URL}"
# The key every node credential is derived from, generated on the first run and kept from the
# nodes; the local node is enrolled once, and its agent starts with the token that printed.
if [[ -z "${CONTROLPLANE_SECRET_KEY:-}${CONTROLPLANE_SECRET_KEY_FILE:-}" ]]; then
  export CONTROLPLANE_SECRET_KEY_FILE="$STATE/secret-key"
  [[ -s "$CONTROLPLANE_SECRET_KEY_FILE" ]] || (umask 077
    "$CP_VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))' >"$CONTROLPLANE_SECRET_KEY_FILE")
fi
"$CP" db upgrade >/dev/null 2>&1
KEY="$("$CP" user ensure admin --key-file "$STATE/admin.key" 2>/dev/null)"
if [[ -z "${CONTROLPLANE_AGENT_TOKEN:-}${CONTROLPLANE_AGENT_TOKEN_FILE:-}" ]]; then
  export CONTROLPLANE_AGENT_TOKEN_FILE="$STATE/agent/token"
  NODE_NAME="${CONTROLPLANE_NODE_NAME:-$(hostname -s | tr -c 'A-Za-z0-9_.\n-' '-')}"
  "$CP" node ensure "$NODE_NAME" --token-file "$CONTROLPLANE_AGENT_TOKEN_FILE" >/dev/null
fi

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
  metrics  $URL/metrics (Prometheus; docs/operations.md §13)

Try the CLI (docs/cli.md):
  export CONTROLPLANE_URL=$URL CONTROLPLANE_USER=admin CONTROLPLANE_APIKEY=\$(cat $STATE/admin.key)
  $CP container run --wait --name hello $CP_IMAGE sh -c 'echo hello; sleep 3600'
  $CP container logs -f hello

or curl:
  curl -s -H 'Authorization: ApiKey admin:$KEY' -H 'Content-Type: application/json' \\
       -d '{"image_name": "$CP_IMAGE", "name": "hello", "run_command": "sh -c \"echo hello; sleep 3600\""}' \\
       $URL/api/v1/container/

Press Ctrl-C to stop.
BANNER

# Exit (and stop the rest) as soon as any of the three stops.
wait -n "${pids[@]}" || true
say "a controlplane process exited; see $STATE/logs"
