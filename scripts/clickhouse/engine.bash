# Sourced by scripts/stack.sh: which ClickHouse the stack runs (LOGPIPE_CH_ENGINE).
#
#   18  Debian's clickhouse-server 18.16 (apt), data in $STACK_DIR/clickhouse
#   26  ClickHouse 26.9, the engine of the PyPI package chdb-core (pinned in
#       chdb-requirements.txt) in a virtualenv under .cache/chdb-venv, served by
#       chdb-server.py; data in $STACK_DIR/clickhouse26
#
# Both listen on the same LOGPIPE_CH_PORT / LOGPIPE_CH_HTTP_PORT and keep the pid in
# $STACK_DIR/clickhouse.pid; each engine has its own data dir (their on-disk formats
# differ), so switching the engine of a stack dir starts from that engine's own data.
# Expects from stack.sh: STACK_DIR, SCRIPT_DIR, REPO, CH_PORT, CH_HTTP_PORT, CH_PID,
# CH_OUT, log, die, render, spawn, install_packages.

CH_ENGINE=${LOGPIPE_CH_ENGINE:-26}
CHDB_VENV=$REPO/.cache/chdb-venv
CHDB_REQUIREMENTS=$SCRIPT_DIR/clickhouse/chdb-requirements.txt

case $CH_ENGINE in
  18) ;;
  26)
    CH_DIR=$STACK_DIR/clickhouse26
    CH_CONF=$CH_DIR/config.xml
    # clickhouse-local writes no server log of its own; what it prints goes to $CH_OUT.
    CH_SERVER_LOG=$CH_OUT
    CH_ERR_LOG=$CH_OUT
    ;;
  *) die "LOGPIPE_CH_ENGINE=$CH_ENGINE: use 18 (Debian's clickhouse-server 18.16) or 26 (ClickHouse 26.9 from chdb-core)" ;;
esac

# The ClickHouse of either engine started from this stack dir (each one's command line
# names its config under $STACK_DIR), so `down` stops it whatever the setting.
ch_any_pid() { pid_of "$CH_PID" "$STACK_DIR/clickhouse"; }

chdb_stamp() { sha256sum "$CHDB_REQUIREMENTS" | cut -d' ' -f1; }

chdb_ok() {
  [[ -x $CHDB_VENV/bin/python && -f $CHDB_VENV/.requirements.sha256 &&
    $(<"$CHDB_VENV/.requirements.sha256") == "$(chdb_stamp)" ]]
}

# install_chdb: the virtualenv with the pinned chdb-core, from PyPI through pip.
# Only the engine is installed (--no-deps): the launcher needs neither pandas nor pyarrow.
install_chdb() {
  if chdb_ok; then
    log "ClickHouse 26 engine present in ${CHDB_VENV#"$REPO"/} ($(sed -n 's/^\([a-z-]*==[0-9.]*\).*/\1/p' "$CHDB_REQUIREMENTS"))"
    return
  fi
  if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    local APT_PACKAGES=(python3 python3-venv)
    install_packages
  fi
  log "creating ${CHDB_VENV#"$REPO"/} with $(grep -v '^#' "$CHDB_REQUIREMENTS" | tr '\n' ' ')from PyPI"
  # The stamp is written last: an interrupted install is redone from scratch.
  rm -rf "$CHDB_VENV"
  mkdir -p "$(dirname "$CHDB_VENV")"
  python3 -m venv "$CHDB_VENV" || die "python3 -m venv $CHDB_VENV failed"
  if ! "$CHDB_VENV/bin/pip" install -q --disable-pip-version-check --no-deps -r "$CHDB_REQUIREMENTS" >&2; then
    die "pip could not install the ClickHouse 26 engine (chdb-core)"
  fi
  chdb_stamp >"$CHDB_VENV/.requirements.sha256"
  log "ClickHouse 26 engine: $(du -sh "$CHDB_VENV" | cut -f1) in ${CHDB_VENV#"$REPO"/}"
}

ch_engine_require() {
  local c
  case $CH_ENGINE in
    18) for c in clickhouse-server clickhouse-client; do
          command -v "$c" >/dev/null || die "$c not found: run scripts/stack.sh install"
        done ;;
    26) command -v clickhouse-client >/dev/null || die "clickhouse-client not found: run scripts/stack.sh install"
        chdb_ok || die "ClickHouse 26 engine missing in $CHDB_VENV: run scripts/stack.sh install" ;;
  esac
}

start_chdb() {
  rm -f "$CH_PID"
  mkdir -p "$CH_DIR"/{data,tmp,user_files,format_schemas}
  local vars=(CH_DIR="$CH_DIR" CH_PORT="$CH_PORT" CH_HTTP_PORT="$CH_HTTP_PORT")
  render "$SCRIPT_DIR/clickhouse/chdb-config.xml.tmpl" "$CH_CONF" "${vars[@]}"
  render "$SCRIPT_DIR/clickhouse/users.xml.tmpl" "$CH_DIR/users.xml" "${vars[@]}"
  rm -rf "${CH_DIR:?}/tmp/"*
  log "starting ClickHouse 26 (chdb-core) on 127.0.0.1:$CH_PORT (http $CH_HTTP_PORT)"
  # cwd = CH_DIR: clickhouse-local reads config.xml from its working directory.
  (cd "$CH_DIR" && spawn "$CH_PID" "$CH_OUT" "$CHDB_VENV/bin/python" -u \
    "$SCRIPT_DIR/clickhouse/chdb-server.py" --config "$CH_CONF" --data "$CH_DIR/data/")
}
