#!/usr/bin/env python3
"""Runs current ClickHouse (the engine inside the PyPI package chdb-core) as a
loopback server for the local stack; scripts/stack.sh starts it with the
virtualenv's python when LOGPIPE_CH_ENGINE=26.

    chdb-server.py --config DIR/config.xml --data DIR/data/

The package's one-shot query call runs a full clickhouse-local, which reads
config.xml from its working directory (listen_host, tcp_port, http_port, ...)
and accepts SYSTEM START LISTEN TCP/HTTP. The listeners live only while that
call runs, so the call ends in a query that never returns. Errors inside the
call are printed, not raised: the caller checks readiness by connecting. The
process stops on SIGTERM (the default action; MergeTree data is safe against a
stop at any point); the data dir survives restarts.
"""
import argparse
import os
import sys

# Listen, then sleep one second per row of an endless row source. count()
# keeps the result at one row, so the call holds no growing output.
SERVE = (
    "SYSTEM START LISTEN TCP; "
    "SYSTEM START LISTEN HTTP; "
    "SELECT count() FROM system.numbers WHERE sleepEachRow(1) = 0 "
    "SETTINGS max_block_size = 1, max_execution_time = 0"
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="config.xml; its directory becomes the working directory")
    parser.add_argument("--data", required=True, help="data directory (created if missing)")
    args = parser.parse_args()

    config = os.path.abspath(args.config)
    data = os.path.abspath(args.data)
    if not os.path.isfile(config):
        sys.exit(f"chdb-server: no config file {config}")
    os.makedirs(data, exist_ok=True)

    import chdb  # the import loads the engine (it changes directory and back)
    from chdb import _chdb

    os.chdir(os.path.dirname(config))
    print(f"chdb-server: ClickHouse {chdb.engine_version} (chdb-core {chdb.__version__}), "
          f"config {config}, data {data}", flush=True)
    result = _chdb.query(SERVE, "CSV", path=data)
    # Only reached when the serving query failed (its error is in the result
    # or was printed by the engine) or the listeners could not start.
    message = result.error_message() if result.has_error() else "serving query ended"
    sys.exit(f"chdb-server: {message}")


if __name__ == "__main__":
    main()
