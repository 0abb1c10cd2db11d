# Sourced by scripts/test.sh and scripts/bench.sh: the test stacks of the two
# ClickHouse engines. Kafka and ClickHouse 18.16 run from .stack/test (ports 19xxx),
# ClickHouse 26.9 from .stack/test26 (ports 19xxx + 100); both shifted by
# LOGPIPE_TEST_PORT_OFFSET. Expects REPO.

TEST_PORT_OFFSET=${LOGPIPE_TEST_PORT_OFFSET:-0}
TEST_KAFKA_STACK=$REPO/.stack/test
export LOGPIPE_KAFKA_PORT=$((19092 + TEST_PORT_OFFSET)) LOGPIPE_KAFKA_CONTROLLER_PORT=$((19093 + TEST_PORT_OFFSET))
export LOGPIPE_TEST_KAFKA_BROKERS=127.0.0.1:$LOGPIPE_KAFKA_PORT

# test_engine_env ENGINE: point scripts/stack.sh and the tests at that engine's
# test ClickHouse (exports LOGPIPE_CH_ENGINE, LOGPIPE_STACK_DIR, the ports).
test_engine_env() {
  local shift
  case $1 in
    18) shift=0 LOGPIPE_STACK_DIR=$REPO/.stack/test ;;
    26) shift=100 LOGPIPE_STACK_DIR=$REPO/.stack/test26 ;;
    *) echo "unknown ClickHouse engine $1 (18 or 26)" >&2; return 1 ;;
  esac
  export LOGPIPE_CH_ENGINE=$1 LOGPIPE_STACK_DIR
  export LOGPIPE_CH_PORT=$((19000 + shift + TEST_PORT_OFFSET))
  export LOGPIPE_CH_HTTP_PORT=$((18123 + shift + TEST_PORT_OFFSET))
  export LOGPIPE_CH_INTERSERVER_PORT=$((19009 + shift + TEST_PORT_OFFSET))
  export LOGPIPE_TEST_CLICKHOUSE_ADDR=127.0.0.1:$LOGPIPE_CH_PORT
  export LOGPIPE_TEST_CLICKHOUSE_PORT=$LOGPIPE_CH_PORT
}

# test_stack_up SERVICE [ENGINE]: start Kafka (SERVICE kafka) or the ClickHouse of
# ENGINE unless it already runs; print the stack dir to stop later when this started it.
test_stack_up() {
  local dir
  if [[ $1 == kafka ]]; then
    dir=$TEST_KAFKA_STACK
  else
    test_engine_env "$2" || return 1
    dir=$LOGPIPE_STACK_DIR
  fi
  if ! LOGPIPE_STACK_DIR=$dir LOGPIPE_STACK_SERVICES=$1 "$REPO/scripts/stack.sh" status >/dev/null 2>&1; then
    LOGPIPE_STACK_DIR=$dir LOGPIPE_STACK_SERVICES=$1 "$REPO/scripts/stack.sh" up >&2 || return 1
    echo "$dir"
  else
    LOGPIPE_STACK_DIR=$dir LOGPIPE_STACK_SERVICES=$1 "$REPO/scripts/stack.sh" up >&2 || return 1
  fi
}
