#!/usr/bin/env bash
# The local stack's single base URL: a real nginx (Debian's package) on loopback in front
# of the logpipe services, routed by path only, as the Kubernetes Ingress does:
#   = /v1/logs -> ingest, /v1/feedback... -> ingest, everything else -> query.
#
#   scripts/proxy.sh up     generate the config, start nginx (or reload it if running)
#   scripts/proxy.sh down   stop this stack dir's nginx (nothing else)
#
# Environment (defaults):
#   LOGPIPE_STACK_DIR=<repo>/.stack/dev       config, pid file, logs, temp paths under ./nginx
#   LOGPIPE_PROXY_PORT=8000                   listens on 127.0.0.1:$LOGPIPE_PROXY_PORT
#   LOGPIPE_INGEST_ADDR=127.0.0.1:8080        ingest service (host:port)
#   LOGPIPE_QUERY_ADDR=127.0.0.1:8081         query service (host:port)
#
# Works as root without touching /etc/nginx: the config is generated from
# scripts/nginx/logpipe.conf.tmpl and nginx is run with -p/-c/-e pointing into the stack dir.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)

STACK_DIR=${LOGPIPE_STACK_DIR:-$REPO/.stack/dev}
PROXY_PORT=${LOGPIPE_PROXY_PORT:-8000}
INGEST_ADDR=${LOGPIPE_INGEST_ADDR:-127.0.0.1:8080}
QUERY_ADDR=${LOGPIPE_QUERY_ADDR:-127.0.0.1:8081}

mkdir -p "$STACK_DIR"
STACK_DIR=$(cd "$STACK_DIR" && pwd)
NGINX_DIR=$STACK_DIR/nginx
CONF=$NGINX_DIR/logpipe.conf
PID_FILE=$NGINX_DIR/nginx.pid
ERROR_LOG=$NGINX_DIR/error.log

log() { printf '[proxy %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[proxy] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The master's pid, if alive and really our nginx (its command line names our config).
nginx_pid() {
  local pid
  [[ -f $PID_FILE ]] || return 1
  pid=$(tr -dc '0-9' <"$PID_FILE")
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONF" || return 1
  echo "$pid"
}

render() { # TEMPLATE OUT KEY=VALUE...
  local tmpl=$1 out=$2 s kv k v
  shift 2
  s=$(<"$tmpl")
  for kv in "$@"; do
    k=${kv%%=*}
    v=${kv#*=}
    s=${s//"@$k@"/"$v"}
  done
  if [[ $s =~ @[A-Z_]+@ ]]; then
    die "unfilled placeholder ${BASH_REMATCH[0]} in $tmpl"
  fi
  printf '%s\n' "$s" >"$out.tmp"
  mv -f "$out.tmp" "$out"
}

nginx_cmd() { nginx -e "$ERROR_LOG" -p "$NGINX_DIR/" -c "$CONF" "$@"; }

cmd_up() {
  command -v nginx >/dev/null || die "nginx not found: run scripts/stack.sh install"
  local user_directive="" pid i
  # As root, nginx's workers would otherwise switch to "nobody", who may not be able to
  # reach temp paths under the stack dir; this is a loopback-only dev proxy.
  ((EUID == 0)) && user_directive="user root;"
  mkdir -p "$NGINX_DIR"/tmp/{client_body,proxy,fastcgi,uwsgi,scgi}
  render "$SCRIPT_DIR/nginx/logpipe.conf.tmpl" "$CONF" \
    USER_DIRECTIVE="$user_directive" NGINX_DIR="$NGINX_DIR" PROXY_PORT="$PROXY_PORT" \
    INGEST_ADDR="$INGEST_ADDR" QUERY_ADDR="$QUERY_ADDR"
  if ! nginx_cmd -t -q; then
    die "generated nginx config $CONF is invalid"
  fi
  if pid=$(nginx_pid); then
    log "nginx already running (pid $pid): reloading config"
    nginx_cmd -s reload
  else
    rm -f "$PID_FILE"
    if port_open "$PROXY_PORT"; then
      die "port $PROXY_PORT on 127.0.0.1 is already in use:
$(ss -ltnpH "sport = :$PROXY_PORT" 2>/dev/null || true)
  choose another with LOGPIPE_PROXY_PORT"
    fi
    # nginx daemonizes itself; its master writes the pid file.
    nginx_cmd
  fi
  for ((i = 0; i < 100; i++)); do
    if pid=$(nginx_pid) && port_open "$PROXY_PORT"; then
      log "nginx up (pid $pid): http://127.0.0.1:$PROXY_PORT -> ingest $INGEST_ADDR (= /v1/logs, /v1/feedback), query $QUERY_ADDR (rest)"
      return 0
    fi
    sleep 0.1
  done
  tail -n 20 "$ERROR_LOG" >&2 || true
  die "nginx did not come up on 127.0.0.1:$PROXY_PORT"
}

cmd_down() {
  local pid i
  if ! pid=$(nginx_pid); then
    log "nginx not running from $NGINX_DIR"
    rm -f "$PID_FILE"
    return 0
  fi
  log "stopping nginx (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "nginx (pid $pid) did not stop in 20s: KILL"
    # Its workers are in the master's process group.
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
    ;;
esac
