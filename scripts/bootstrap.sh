#!/usr/bin/env bash
# Installs what is missing and starts what is not running, for scripts/run.sh and scripts/test.sh.
# Idempotent: a second run on a ready machine only checks. Usable sourced (functions) or run:
#   bash scripts/bootstrap.sh [all|packages|python|services|image|postgres] [test]
set -euo pipefail

CP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CP_VENV="${CP_VENV:-$CP_ROOT/.venv}"
CP_IMAGE="${CP_IMAGE:-controlplane/busybox:latest}"
# The main Docker daemon: its socket, and the pid file it writes before it listens (dockerd's
# defaults; the suite's tests of these functions point them at a fake daemon's).
CP_DOCKER_SOCK="${CP_DOCKER_SOCK:-/var/run/docker.sock}"
CP_DOCKER_PIDFILE="${CP_DOCKER_PIDFILE:-/var/run/docker.pid}"
CP_CONTAINERD_PIDFILE="${CP_CONTAINERD_PIDFILE:-/var/run/docker/containerd/containerd.pid}"
CP_LOG_DIR="${CP_LOG_DIR:-/var/log/controlplane}"
CP_PACKAGES=(docker.io redis-server busybox-static docker-compose curl iptables iproute2)
# Only the test suite's: PostgreSQL (the second database backend, a cluster of the suite's own),
# nginx (the production front whose config docs/ ships, tested in front of the API), and for the
# nodes on hosts of their own (tests/support/netns.py) nsenter (util-linux) and sysctl (procps)
# beside iproute2's `ip netns`; systemd for `systemd-analyze verify` of the units docs/ ships.
CP_TEST_PACKAGES=(postgresql nginx-light util-linux procps systemd)

say() { printf '==> %s\n' "$*" >&2; }

ensure_packages() {
  local extras="${1:-}" missing=() pkg wanted=("${CP_PACKAGES[@]}")
  [[ ",$extras," == *,test,* ]] && wanted+=("${CP_TEST_PACKAGES[@]}")
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then missing+=(python3-venv); fi
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# The client SDKs the conformance suite (tests/conformance) drives the server with, unmodified.
# Installed --no-deps: their own pins (requests 2.7, websocket-client 0.3x, future 0.15) are from
# 2015 and would downgrade the project's; what they need on Python 3 is pinned in the `test` extra.
CP_TEST_SDKS=(python-tutum==0.21.2 python-dockercloud==1.0.12)

# The virtualenv is rebuilt only when setup.cfg, pyproject.toml or the SDK pins change (or the
# extras asked for).
ensure_python() {
  local extras="${1:-}" digest installed=""
  digest="$( (cat "$CP_ROOT/setup.cfg" "$CP_ROOT/pyproject.toml"; echo "${CP_TEST_SDKS[*]}") | sha256sum | cut -c1-16)"
  [[ -f "$CP_VENV/.cp-stamp" ]] && installed="$(cat "$CP_VENV/.cp-stamp")"
  # Up to date when the same files were installed with these extras, or, when no extras are
  # asked for (the run command), with any: the quick start must not reinstall (or strip) the
  # test tools of a venv the test suite is using at that very moment.
  if [[ -x "$CP_VENV/bin/python" && ( "$installed" == "$digest-$extras" || ( -z "$extras" && "$installed" == "$digest-"* ) ) ]]; then
    return
  fi
  say "installing the Python package and its pinned dependencies into $CP_VENV"
  [[ -x "$CP_VENV/bin/python" ]] || python3 -m venv "$CP_VENV"
  "$CP_VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
  "$CP_VENV/bin/pip" install -q --disable-pip-version-check -e "$CP_ROOT$([[ -n "$extras" ]] && echo "[$extras]")"
  if [[ ",$extras," == *,test,* ]]; then
    say "installing the client SDKs for the conformance tests: ${CP_TEST_SDKS[*]}"
    "$CP_VENV/bin/pip" install -q --disable-pip-version-check --no-deps "${CP_TEST_SDKS[@]}"
  fi
  echo "$digest-$extras" > "$CP_VENV/.cp-stamp"
}

docker_ready() { curl -sf --unix-socket "$CP_DOCKER_SOCK" http://localhost/_ping >/dev/null 2>&1; }

# A killed process can linger as a zombie until PID 1 reaps it, and kill -0 (like dockerd's own
# pid-file check) takes a zombie for alive; only a process that is not a zombie counts.
pid_alive() {
  local stat
  stat="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$stat" && "$stat" != Z* ]]
}

# Whether the main daemon, the one that owns $CP_DOCKER_SOCK, is alive (it may still be starting
# up, not answering yet): the dockerd its pid file names. Any other dockerd on the machine (the
# test suite's extra nodes, another tool's) is not it, and neither is a process that was given
# the pid of a daemon long gone.
dockerd_alive() {
  local pid
  [[ -s "$CP_DOCKER_PIDFILE" ]] || return 1
  pid="$(cat "$CP_DOCKER_PIDFILE")"
  pid_alive "$pid" && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]
}

clear_stale_pidfile() {
  if [[ -f "$1" ]] && ! pid_alive "$(cat "$1")"; then
    say "removing stale $1"
    rm -f "$1"
  fi
}

# Run "$@" in place of this (sub)shell with every descriptor above stderr closed. The daemons
# started here outlive the script, and must not keep what its caller had open: a `flock` lock
# that a test run holds (every later run would wait on it for as long as dockerd lives), or a
# pipe a CI runner waits on to close.
exec_closing_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd="${fd##*/}"
    if ((fd > 2)); then eval "exec $fd>&-"; fi
  done
  exec "$@"
}

# A killed dockerd leaves its pid file, its socket and the pid file of the containerd it managed
# (killed with it). dockerd refuses to start while its pid file names a live process, whatever
# it is, and waits in vain for a containerd whose pid file names one: its own goes unless it
# names a live dockerd, containerd's unless it names a live process.
#
# dockerd runs in a session of its own (setsid): in the caller's process group, the Ctrl-C that
# stops scripts/run.sh, or any signal to that group, would stop the daemon and with it every
# container on the machine (dockerd listens for SIGINT even where the shell had it ignored).
start_dockerd() {
  if [[ -f "$CP_DOCKER_PIDFILE" ]] && ! dockerd_alive; then
    say "removing stale $CP_DOCKER_PIDFILE"
    rm -f "$CP_DOCKER_PIDFILE"
  fi
  clear_stale_pidfile "$CP_CONTAINERD_PIDFILE"
  rm -f "$CP_DOCKER_SOCK"
  mkdir -p "$CP_LOG_DIR"
  say "starting dockerd (log: $CP_LOG_DIR/dockerd.log)"
  (exec_closing_fds setsid dockerd -H "unix://$CP_DOCKER_SOCK" --pidfile "$CP_DOCKER_PIDFILE" \
    >>"$CP_LOG_DIR/dockerd.log" 2>&1 </dev/null) &
}

# Starts dockerd unless it answers; waits up to a minute, starting it at most three times.
ensure_dockerd() {
  local i starts=0
  for i in $(seq 1 120); do
    docker_ready && return
    if ! dockerd_alive && ((starts < 3)); then
      start_dockerd
      starts=$((starts + 1))
    fi
    sleep 0.5
  done
  say "dockerd did not come up; see $CP_LOG_DIR/dockerd.log"
  tail -20 "$CP_LOG_DIR/dockerd.log" >&2 || true
  return 1
}

ensure_redis() {
  redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return
  mkdir -p "$CP_LOG_DIR" /var/lib/redis
  say "starting redis-server on 127.0.0.1:6379 (log: $CP_LOG_DIR/redis.log)"
  (exec_closing_fds redis-server --daemonize yes --bind 127.0.0.1 --port 6379 \
    --dir /var/lib/redis --logfile "$CP_LOG_DIR/redis.log" >/dev/null)
  local i
  for i in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return; sleep 0.2; done
  say "redis-server did not come up; see $CP_LOG_DIR/redis.log"; return 1
}

# The test suite's own PostgreSQL cluster, beside (never instead of) any cluster of the machine's:
# its own data directory, a loopback port, password auth over TCP. It belongs to the `postgres`
# user (initdb refuses root), so it lives where that user can reach it, not in the work tree.
# Durability is off (fsync, full_page_writes): the suite's databases are thrown away.
CP_PG_DIR="${CP_PG_DIR:-/var/lib/controlplane-test/postgres}"
CP_PG_PORT="${CP_PG_PORT:-55432}"
CP_PG_USER=controlplane

pg_bin() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [[ -n "$bin" ]] || { say "PostgreSQL is not installed"; return 1; }
  echo "$bin"
}

pg_ready() { "$1/pg_isready" -q -h 127.0.0.1 -p "$CP_PG_PORT" 2>/dev/null; }

init_postgres() {
  local bin="$1"
  say "creating the test PostgreSQL cluster in $CP_PG_DIR/data"
  rm -rf "$CP_PG_DIR/data"
  install -d -m 0700 -o postgres -g postgres "$CP_PG_DIR" "$CP_PG_DIR/data" "$CP_PG_DIR/run"
  (umask 077; head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$CP_PG_DIR/password")
  chown postgres:postgres "$CP_PG_DIR/password"
  runuser -u postgres -- "$bin/initdb" -D "$CP_PG_DIR/data" -U "$CP_PG_USER" \
    --pwfile="$CP_PG_DIR/password" --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  cat >>"$CP_PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $CP_PG_PORT
unix_socket_directories = '$CP_PG_DIR/run'
max_connections = 300
fsync = off
full_page_writes = off
synchronous_commit = off
CONF
}

# A killed postmaster leaves its lock files, postmaster.pid and the socket's, each naming its
# pid. postgres sees through them when that pid is gone, but refuses to start while it names a
# live process, as it does while the killed postmaster is a zombie nobody reaped, or once pids
# are reused (a machine restarted): only a live postgres keeps them.
clear_stale_postgres_locks() {
  local file pid
  for file in "$CP_PG_DIR/data/postmaster.pid" "$CP_PG_DIR/run/.s.PGSQL.$CP_PG_PORT.lock"; do
    [[ -f "$file" ]] || continue
    pid="$(head -1 "$file")"
    if ! pid_alive "$pid" || [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" != postgres ]]; then
      say "removing stale $file"
      rm -f "$file"
    fi
  done
}

# Starts the cluster unless it answers; creates it first when it does not exist.
ensure_postgres() {
  local bin i
  bin="$(pg_bin)"
  pg_ready "$bin" && return
  [[ -f "$CP_PG_DIR/data/PG_VERSION" && -f "$CP_PG_DIR/password" ]] || init_postgres "$bin"
  clear_stale_postgres_locks
  mkdir -p "$CP_LOG_DIR"
  touch "$CP_LOG_DIR/postgres-test.log" && chown postgres:postgres "$CP_LOG_DIR/postgres-test.log"
  say "starting the test PostgreSQL on 127.0.0.1:$CP_PG_PORT (log: $CP_LOG_DIR/postgres-test.log)"
  (exec_closing_fds runuser -u postgres -- "$bin/pg_ctl" -D "$CP_PG_DIR/data" -s \
    -l "$CP_LOG_DIR/postgres-test.log" start >/dev/null)
  for i in $(seq 1 100); do pg_ready "$bin" && return; sleep 0.2; done
  say "PostgreSQL did not come up; see $CP_LOG_DIR/postgres-test.log"
  tail -20 "$CP_LOG_DIR/postgres-test.log" >&2 || true
  return 1
}

# The URL the suite creates its throwaway databases through (tests/support/postgres.py).
postgres_admin_url() {
  echo "postgresql+psycopg://$CP_PG_USER:$(cat "$CP_PG_DIR/password")@127.0.0.1:$CP_PG_PORT/postgres"
}

# A tiny local image from busybox-static: no registry is reachable, so nothing is ever pulled.
ensure_image() {
  docker image inspect "$CP_IMAGE" >/dev/null 2>&1 && return
  say "building $CP_IMAGE from busybox-static"
  local dir applet
  dir="$(mktemp -d)"
  mkdir -p "$dir/bin" "$dir/tmp"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $("$dir/bin/busybox" --list); do
    [[ "$applet" == busybox ]] || ln -sf busybox "$dir/bin/$applet"
  done
  tar -C "$dir" -c . | docker import --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$CP_IMAGE" >/dev/null
  rm -rf "$dir"
}

bootstrap() {
  local what="${1:-all}" extras="${2:-}"
  case "$what" in
    packages) ensure_packages "$extras" ;;
    python) ensure_python "$extras" ;;
    services) ensure_dockerd; ensure_redis ;;
    image) ensure_image ;;
    all)
      ensure_packages "$extras"; ensure_python "$extras"; ensure_dockerd; ensure_redis; ensure_image
      if [[ ",$extras," == *,test,* ]]; then ensure_postgres; fi
      ;;
    postgres) ensure_postgres ;;
    # What the quick start needs: it runs a password-protected Redis of its own (scripts/run.sh).
    node) ensure_packages; ensure_python "$extras"; ensure_dockerd; ensure_image ;;
    *) say "usage: bootstrap.sh [all|node|packages|python|services|image|postgres] [extras]"; return 2 ;;
  esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  bootstrap "$@"
fi
