#!/usr/bin/env bash
# Local stack without Docker: a real ClickHouse (Debian's clickhouse-server) and a real
# single-node Apache Kafka in KRaft mode (broker jars from Maven Central, run on the
# machine's Java 17), both on 127.0.0.1 only, all state under one stack directory.
#
#   scripts/stack.sh install   install apt packages and fetch the Kafka jars (idempotent)
#   scripts/stack.sh up        start ClickHouse + Kafka, wait until ready, create topics
#   scripts/stack.sh down      stop what this stack dir started (and its proxy, if any)
#   scripts/stack.sh status    show what is running
#
# Environment (defaults):
#   LOGPIPE_STACK_DIR=<repo>/.stack/dev     all data, configs, logs and pid files
#   LOGPIPE_CH_ENGINE=26                    ClickHouse engine: 26 (26.9 from PyPI chdb-core) or 18
#                                           (Debian's 18.16); see scripts/clickhouse/engine.bash
#   LOGPIPE_CH_PORT=9000                    ClickHouse native protocol
#   LOGPIPE_CH_HTTP_PORT=8123               ClickHouse HTTP
#   LOGPIPE_CH_INTERSERVER_PORT=9009        ClickHouse interserver HTTP
#   LOGPIPE_KAFKA_PORT=9092                 Kafka client listener
#   LOGPIPE_KAFKA_CONTROLLER_PORT=9093      Kafka KRaft controller listener
#   LOGPIPE_TOPIC_PARTITIONS=6              partitions of the topics below (and num.partitions)
#   LOGPIPE_TOPICS="logpipe.logs logpipe.feedback logpipe.logs.dlq"
#   LOGPIPE_KAFKA_HEAP_OPTS="-Xms512m -Xmx512m"
#   LOGPIPE_STACK_TIMEOUT=120               seconds to wait for each server to be ready
#   LOGPIPE_STACK_SERVICES="clickhouse kafka"  which servers this stack runs (one of them for fault tests)
#
# Two stacks coexist as long as their LOGPIPE_STACK_DIR and ports differ, e.g. tests use
#   LOGPIPE_STACK_DIR=<repo>/.stack/test LOGPIPE_CH_PORT=19000 LOGPIPE_CH_HTTP_PORT=18123
#   LOGPIPE_CH_INTERSERVER_PORT=19009 LOGPIPE_KAFKA_PORT=19092 LOGPIPE_KAFKA_CONTROLLER_PORT=19093
#
# Data survives down/up; remove the stack dir to start from scratch.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)

STACK_DIR=${LOGPIPE_STACK_DIR:-$REPO/.stack/dev}
CH_PORT=${LOGPIPE_CH_PORT:-9000}
CH_HTTP_PORT=${LOGPIPE_CH_HTTP_PORT:-8123}
CH_INTERSERVER_PORT=${LOGPIPE_CH_INTERSERVER_PORT:-9009}
KAFKA_PORT=${LOGPIPE_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${LOGPIPE_KAFKA_CONTROLLER_PORT:-9093}
TOPIC_PARTITIONS=${LOGPIPE_TOPIC_PARTITIONS:-6}
TOPICS=${LOGPIPE_TOPICS:-logpipe.logs logpipe.feedback logpipe.logs.dlq}
KAFKA_HEAP_OPTS=${LOGPIPE_KAFKA_HEAP_OPTS:--Xms512m -Xmx512m}
TIMEOUT=${LOGPIPE_STACK_TIMEOUT:-120}
# Which servers this stack runs: "clickhouse kafka" (default), or one of them
# (fault tests run a Kafka of their own that they can stop and start).
SERVICES=${LOGPIPE_STACK_SERVICES:-clickhouse kafka}
want() { [[ " $SERVICES " == *" $1 "* ]]; }

# A relative stack dir is taken relative to the caller's cwd; make it absolute so the
# generated configs and the process command lines (used to recognise our pids) are stable.
mkdir -p "$STACK_DIR"
STACK_DIR=$(cd "$STACK_DIR" && pwd)

KAFKA_POM=$SCRIPT_DIR/kafka/pom.xml
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")
KAFKA_LIBS=$REPO/.cache/kafka/libs

CH_DIR=$STACK_DIR/clickhouse
CH_CONF=$CH_DIR/config.xml
CH_PID=$STACK_DIR/clickhouse.pid
CH_OUT=$STACK_DIR/clickhouse.log
CH_SERVER_LOG=$CH_DIR/log/clickhouse-server.log
CH_ERR_LOG=$CH_DIR/log/clickhouse-server.err.log

KAFKA_DIR=$STACK_DIR/kafka
KAFKA_DATA=$KAFKA_DIR/data
KAFKA_CONF=$KAFKA_DIR/server.properties
KAFKA_CLUSTER_ID_FILE=$STACK_DIR/kafka-cluster.id
KAFKA_PID=$STACK_DIR/kafka.pid
KAFKA_LOG=$STACK_DIR/kafka.log   # log4j2 (scripts/kafka/log4j2.xml)
KAFKA_OUT=$STACK_DIR/kafka.out   # the JVM's own stdout/stderr

NGINX_PID=$STACK_DIR/nginx/nginx.pid # written by scripts/proxy.sh

log() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=clickhouse/engine.bash
source "$SCRIPT_DIR/clickhouse/engine.bash"

now_ms() { date +%s%3N; }

# ---------------------------------------------------------------- helpers

# render TEMPLATE OUT KEY=VALUE...: replace each @KEY@ in TEMPLATE, write OUT atomically.
render() {
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

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_of PIDFILE MARKER: print the pid if it is alive and its command line contains
# MARKER (the config path, unique to this stack dir), so a recycled pid is never ours.
pid_of() {
  local file=$1 marker=$2 pid
  [[ -f $file ]] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [[ -n $pid ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$marker" || return 1
  echo "$pid"
}

ch_pid() { pid_of "$CH_PID" "$CH_CONF"; }
kafka_pid() { pid_of "$KAFKA_PID" "$KAFKA_CONF"; }

who_listens() { ss -ltnpH "sport = :$1" 2>/dev/null | sed 's/^/    /' || true; }

check_ports_free() { # NAME PORT...
  local name=$1 p
  shift
  for p in "$@"; do
    if port_open "$p"; then
      die "$name: port $p on 127.0.0.1 is already in use by something that is not this stack ($STACK_DIR):
$(who_listens "$p")
  stop it, or choose other ports (LOGPIPE_*_PORT)"
    fi
  done
}

show_logs() {
  local f
  for f in "$@"; do
    [[ -s $f ]] || continue
    printf -- '----- tail of %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
}

# Start a detached process in its own session (so it outlives this script and the
# caller's process group); record its pid.
# The child writes its own pid before exec, so the pid file is right even if setsid forks.
spawn() { # PIDFILE OUTFILE CMD...
  local pidfile=$1 out=$2 i
  shift 2
  rm -f "$pidfile"
  setsid nohup bash -c 'echo $$ >"$0.tmp" && mv -f "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$out" 2>&1 &
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  die "could not start $1 (no pid file $pidfile; see $out)"
}

ch_client() { clickhouse-client --host 127.0.0.1 --port "$CH_PORT" "$@"; }

ch_ready() { ch_client -q 'SELECT 1' >/dev/null 2>&1; }

kafka_metadata() { timeout 10 kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 5 2>/dev/null; }

kafka_ready() { kafka_metadata | grep -q '^ *1 brokers:'; }

kafka_java() { # MAIN ARGS... : run a Kafka tool in a short-lived JVM
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
    -cp "$KAFKA_LIBS/*" "$@"
}

# wait_ready NAME PIDFN READYFN LOGS...: poll until READYFN succeeds; fail fast if the
# process exits; fail after $TIMEOUT seconds. Prints the log tails on failure.
wait_ready() {
  local name=$1 pidfn=$2 readyfn=$3 deadline
  shift 3
  deadline=$((SECONDS + TIMEOUT))
  while ! "$readyfn"; do
    if ! "$pidfn" >/dev/null; then
      show_logs "$@"
      die "$name exited during startup (logs above)"
    fi
    if ((SECONDS >= deadline)); then
      show_logs "$@"
      die "$name not ready after ${TIMEOUT}s (logs above; pid $("$pidfn"), still running)"
    fi
    sleep 0.3
  done
}

require_installed() {
  local c
  ch_engine_require
  for c in kcat java; do
    command -v "$c" >/dev/null || die "$c not found: run scripts/stack.sh install"
  done
  libs_ok || die "Kafka $KAFKA_VERSION jars missing in $KAFKA_LIBS: run scripts/stack.sh install"
}

# ---------------------------------------------------------------- install

APT_PACKAGES=(clickhouse-server clickhouse-client kcat nginx-light openjdk-17-jdk-headless maven chromium)

pkg_present() { # PACKAGE: installed, or (for the tools) the command is there anyway
  case $1 in
    nginx-light) command -v nginx >/dev/null && return 0 ;;
    openjdk-17-jdk-headless) command -v java >/dev/null && return 0 ;;
    maven) command -v mvn >/dev/null && return 0 ;;
    chromium) command -v chromium >/dev/null && return 0 ;;
  esac
  [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

wait_for_apt() {
  local waited=0
  while pgrep -x 'apt|apt-get|dpkg|unattended-upgr' >/dev/null; do
    ((waited == 0)) && log "another apt/dpkg is running; waiting for it to finish"
    ((waited >= 900)) && die "apt/dpkg still busy after 15 minutes"
    sleep 3
    waited=$((waited + 3))
  done
}

install_packages() {
  local missing=() p sudo=()
  for p in "${APT_PACKAGES[@]}"; do
    pkg_present "$p" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "apt packages present"
    return
  fi
  ((EUID == 0)) || sudo=(sudo)
  log "installing: ${missing[*]}"
  wait_for_apt
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  wait_for_apt
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The Debian package may start (and enable) a system clickhouse-server on the default
# ports 9000/8123/9009 from /etc/clickhouse-server. Our own instance needs those ports by
# default, so stop and disable that system service here (install only; `up` never does
# this). Only the system instance is touched: it is recognised by its /etc config path.
stop_system_clickhouse() {
  local pids
  pids=$(pgrep -f '/etc/clickhouse-server/config.xml' || true)
  if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    if systemctl is-enabled --quiet clickhouse-server 2>/dev/null || systemctl is-active --quiet clickhouse-server 2>/dev/null; then
      log "stopping and disabling the system clickhouse-server service (it would hold port 9000)"
      systemctl disable --now clickhouse-server >/dev/null 2>&1 || true
    fi
  elif [[ -n $pids ]]; then
    log "stopping the system clickhouse-server service (it would hold port 9000)"
    service clickhouse-server stop >/dev/null 2>&1 || true
    update-rc.d clickhouse-server disable >/dev/null 2>&1 || true
  fi
  pids=$(pgrep -f '/etc/clickhouse-server/config.xml' || true)
  if [[ -n $pids ]]; then
    log "system clickhouse-server still running (pids $pids); sending TERM"
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
  fi
}

libs_stamp() { sha256sum "$KAFKA_POM" | cut -d' ' -f1; }

libs_ok() {
  [[ -f $KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar && -f $KAFKA_LIBS/kafka-tools-$KAFKA_VERSION.jar &&
    -f $KAFKA_LIBS/.pom.sha256 && $(<"$KAFKA_LIBS/.pom.sha256") == "$(libs_stamp)" ]]
}

fetch_kafka() {
  if libs_ok; then
    log "Kafka $KAFKA_VERSION jars present in ${KAFKA_LIBS#"$REPO"/}"
    return
  fi
  log "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into ${KAFKA_LIBS#"$REPO"/}"
  local tmp=$KAFKA_LIBS.tmp.$$
  rm -rf "$tmp"
  mkdir -p "$(dirname "$KAFKA_LIBS")"
  # (Debian's mvn prints bare ANSI resets even with -q -B: strip them.)
  if ! mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$tmp" 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' >&2; then
    rm -rf "$tmp"
    die "mvn could not fetch the Kafka jars"
  fi
  libs_stamp >"$tmp/.pom.sha256"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  log "Kafka jars: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) files, $(du -sh "$KAFKA_LIBS" | cut -f1)"
}

# The compatibility tests run the official Python SDK and the API fuzzer from a
# virtualenv (.cache/sdk-venv, made by scripts/sdkcheck/venv.sh from pinned
# requirements), which needs Debian's python3-venv.
install_python_tools() {
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    APT_PACKAGES=(python3 python3-venv)
    install_packages
  fi
  log "Python SDK and fuzzer in $("$REPO/scripts/sdkcheck/venv.sh")"
}

cmd_install() {
  install_packages
  stop_system_clickhouse
  fetch_kafka
  install_chdb
  install_python_tools
}

# ---------------------------------------------------------------- up

start_clickhouse() {
  if [[ $CH_ENGINE == 26 ]]; then
    start_chdb
    return
  fi
  rm -f "$CH_PID"
  mkdir -p "$CH_DIR"/{data,tmp,log,user_files,format_schemas}
  local vars=(CH_DIR="$CH_DIR" CH_PORT="$CH_PORT" CH_HTTP_PORT="$CH_HTTP_PORT"
    CH_INTERSERVER_PORT="$CH_INTERSERVER_PORT")
  render "$SCRIPT_DIR/clickhouse/config.xml.tmpl" "$CH_CONF" "${vars[@]}"
  render "$SCRIPT_DIR/clickhouse/users.xml.tmpl" "$CH_DIR/users.xml" "${vars[@]}"
  # Leftover tmp files of a killed server are safe to drop.
  rm -rf "${CH_DIR:?}/tmp/"*
  log "starting ClickHouse on 127.0.0.1:$CH_PORT (http $CH_HTTP_PORT)"
  # cwd = CH_DIR: the server writes its preprocessed config next to config.xml.
  (cd "$CH_DIR" && spawn "$CH_PID" "$CH_OUT" clickhouse-server --config-file="$CH_CONF")
}

# new_kafka_cluster_id prints a Kafka cluster id: a base64url UUID (22 chars), as
# `kafka-storage random-uuid` prints. Like Kafka's own, it never starts with '-',
# which kafka-storage's argument parser would take for an option (1 run in 64).
new_kafka_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id == -* ]] || break
  done
  printf '%s' "$id"
}

start_kafka() {
  rm -f "$KAFKA_PID"
  mkdir -p "$KAFKA_DATA"
  render "$SCRIPT_DIR/kafka/server.properties.tmpl" "$KAFKA_CONF" \
    KAFKA_PORT="$KAFKA_PORT" KAFKA_CONTROLLER_PORT="$KAFKA_CONTROLLER_PORT" \
    KAFKA_DATA_DIR="$KAFKA_DATA" TOPIC_PARTITIONS="$TOPIC_PARTITIONS"
  if [[ ! -f $KAFKA_DATA/meta.properties ]]; then
    [[ -s $KAFKA_CLUSTER_ID_FILE ]] || new_kafka_cluster_id >"$KAFKA_CLUSTER_ID_FILE"
    log "formatting Kafka storage (cluster id $(<"$KAFKA_CLUSTER_ID_FILE"))"
    if ! kafka_java kafka.tools.StorageTool format -t "$(<"$KAFKA_CLUSTER_ID_FILE")" \
      -c "$KAFKA_CONF" >>"$KAFKA_OUT" 2>&1; then
      show_logs "$KAFKA_OUT"
      die "kafka-storage format failed"
    fi
  fi
  log "starting Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
  # shellcheck disable=SC2086
  spawn "$KAFKA_PID" "$KAFKA_OUT" java $KAFKA_HEAP_OPTS \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dkafka.logs.dir="$STACK_DIR" -Dlog4j2.configurationFile="$SCRIPT_DIR/kafka/log4j2.xml" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF"
}

# Topic name -> partition count, from broker metadata.
topic_partitions() {
  kafka_metadata | sed -n 's/^ *topic "\([^"]*\)" with \([0-9]*\) partitions:.*/\1 \2/p'
}

create_topics() {
  local existing t n missing=() pids=() i rc=0
  existing=$(topic_partitions)
  for t in $TOPICS; do
    n=$(awk -v t="$t" '$1 == t { print $2 }' <<<"$existing")
    if [[ -z $n ]]; then
      missing+=("$t")
    elif ((n < TOPIC_PARTITIONS)); then
      log "WARNING: topic $t exists with $n partitions (< $TOPIC_PARTITIONS); left as is"
    fi
  done
  ((${#missing[@]})) || return 0
  log "creating topics: ${missing[*]} ($TOPIC_PARTITIONS partitions, replication 1)"
  for t in "${missing[@]}"; do
    kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" \
      --create --if-not-exists --topic "$t" --partitions "$TOPIC_PARTITIONS" \
      --replication-factor 1 >"$STACK_DIR/topic-create.$t.out" 2>&1 &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      cat "$STACK_DIR/topic-create.${missing[$i]}.out" >&2
      log "creating topic ${missing[$i]} failed"
      rc=1
    fi
    rm -f "$STACK_DIR/topic-create.${missing[$i]}.out"
  done
  ((rc == 0)) || die "topic creation failed"
}

cmd_up() {
  require_installed
  local t0 pid ch_started=0 kafka_started=0
  t0=$(now_ms)
  # An instance already running from this stack dir is left alone. Ports are checked
  # before anything starts, so a conflict leaves nothing half-started.
  if ! want clickhouse; then
    :
  elif pid=$(ch_pid); then
    log "ClickHouse already running (pid $pid, port $CH_PORT)"
  elif pid=$(ch_any_pid); then
    die "the other ClickHouse engine runs from $STACK_DIR (pid $pid); scripts/stack.sh down first to switch to LOGPIPE_CH_ENGINE=$CH_ENGINE"
  else
    check_ports_free ClickHouse "$CH_PORT" "$CH_HTTP_PORT" "$CH_INTERSERVER_PORT"
    ch_started=1
  fi
  if ! want kafka; then
    :
  elif pid=$(kafka_pid); then
    log "Kafka already running (pid $pid, port $KAFKA_PORT)"
  else
    check_ports_free Kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
    kafka_started=1
  fi
  # Both start in parallel.
  if ((ch_started)); then start_clickhouse; fi
  if ((kafka_started)); then start_kafka; fi

  if want clickhouse; then
    wait_ready ClickHouse ch_pid ch_ready "$CH_OUT" "$CH_ERR_LOG" "$CH_SERVER_LOG"
    if ((ch_started)); then log "ClickHouse ready in $(($(now_ms) - t0)) ms"; fi
  fi
  if want kafka; then
    wait_ready Kafka kafka_pid kafka_ready "$KAFKA_OUT" "$KAFKA_LOG"
    if ((kafka_started)); then log "Kafka ready in $(($(now_ms) - t0)) ms"; fi
    create_topics
  fi
  log "stack up in $(($(now_ms) - t0)) ms: clickhouse 127.0.0.1:$CH_PORT (http $CH_HTTP_PORT), kafka 127.0.0.1:$KAFKA_PORT, dir $STACK_DIR"
}

# ---------------------------------------------------------------- down

# stop_pids NAME=PID...: TERM all, wait up to 20 s, then KILL what is left.
stop_all() {
  local entry pid name deadline left
  for entry in "$@"; do
    name=${entry%%=*}
    pid=${entry#*=}
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
  done
  deadline=$((SECONDS + 20))
  while :; do
    left=()
    for entry in "$@"; do
      kill -0 "${entry#*=}" 2>/dev/null && left+=("$entry")
    done
    ((${#left[@]})) || break
    if ((SECONDS >= deadline)); then
      for entry in "${left[@]}"; do
        log "${entry%%=*} (pid ${entry#*=}) did not stop in 20s: KILL"
        kill -KILL "${entry#*=}" 2>/dev/null || true
      done
      break
    fi
    sleep 0.2
  done
}

cmd_down() {
  local pid procs=()
  if [[ -f $NGINX_PID ]]; then
    LOGPIPE_STACK_DIR=$STACK_DIR "$SCRIPT_DIR/proxy.sh" down
  fi
  if pid=$(kafka_pid); then procs+=("Kafka=$pid"); fi
  if pid=$(ch_any_pid); then procs+=("ClickHouse=$pid"); fi
  if ((${#procs[@]})); then
    stop_all "${procs[@]}"
  else
    log "nothing running from $STACK_DIR"
  fi
  rm -f "$KAFKA_PID" "$CH_PID"
}

# ---------------------------------------------------------------- status

cmd_status() {
  local pid state rc=0
  echo "stack dir: $STACK_DIR"
  if pid=$(ch_pid); then
    ch_ready && state="ready" || state="not answering"
    echo "clickhouse: running pid $pid, 127.0.0.1:$CH_PORT (http $CH_HTTP_PORT), $state, engine $CH_ENGINE"
  else
    echo "clickhouse: stopped"
    if want clickhouse; then rc=3; fi
  fi
  if pid=$(kafka_pid); then
    kafka_ready && state="ready" || state="not answering"
    echo "kafka:      running pid $pid, 127.0.0.1:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT), $state, version $KAFKA_VERSION"
    if [[ $state == ready ]]; then
      topic_partitions | grep -v '^__' | sed 's/^\(.*\) \(.*\)$/  topic \1 (\2 partitions)/'
    fi
  else
    echo "kafka:      stopped"
    if want kafka; then rc=3; fi
  fi
  if pid=$(pid_of "$NGINX_PID" "$STACK_DIR/nginx/logpipe.conf"); then
    echo "proxy:      running pid $pid (scripts/proxy.sh)"
  fi
  return $rc
}

# Sourced (scripts/cluster.sh reuses the helpers above), it only defines them.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  case ${1:-} in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 2
      ;;
  esac
fi
