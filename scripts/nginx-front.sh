#!/usr/bin/env bash
# Run the shipped nginx front (docs/nginx/controlplane.conf) in the foreground, as it ships but
# for its local lines: the upstream's address, the listen address and the access log's path.
#
#   scripts/nginx-front.sh DIR UPSTREAM LISTEN     e.g. /tmp/front 127.0.0.1:8000 127.0.0.1:8080
#
# DIR gets the rendered file, a minimal nginx.conf around it, nginx's pid, logs and temporary
# files. nginx replaces this script's process (exec), so its pid is the one to stop.
# tests/integration/test_nginx_front.py and benchmarks/slowloris.py start it this way.
set -euo pipefail
dir="$1" upstream="$2" listen="$3"
shipped="$(dirname "${BASH_SOURCE[0]}")/../docs/nginx/controlplane.conf"

replace_once() {  # FILE OLD NEW: the line must be there exactly once, or the file has changed
  local count; count="$(grep -cxF -- "$2" "$1" || true)"
  [[ "$count" == 1 ]] || { echo "$1: expected the line '$2' once, found it $count times" >&2; exit 1; }
  local escaped_old escaped_new
  escaped_old="$(printf '%s' "$2" | sed 's/[]\/$*.^[]/\\&/g')"
  escaped_new="$(printf '%s' "$3" | sed 's/[\/&]/\\&/g')"
  sed -i "s/^${escaped_old}\$/${escaped_new}/" "$1"
}

mkdir -p "$dir"
cp "$shipped" "$dir/controlplane.conf"
replace_once "$dir/controlplane.conf" "    server 127.0.0.1:8000;" "    server $upstream;"
replace_once "$dir/controlplane.conf" "    listen 80;" "    listen $listen;"
replace_once "$dir/controlplane.conf" \
  "    access_log /var/log/nginx/controlplane.access.log controlplane;" \
  "    access_log $dir/access.log controlplane;"

# nginx's workers run as `user`; as root that would be nobody, who cannot enter DIR.
user=""
[[ "$(id -u)" == 0 ]] && user="user root;"
cat >"$dir/nginx.conf" <<CONF
$user
worker_processes 1;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
    access_log off;  # the server logs to its own file
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/controlplane.conf;
}
CONF
exec /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -g "daemon off; pid $dir/nginx.pid;"
