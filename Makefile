# logpipe — the log pipeline behind an LLM gateway's Logs product.
# `make up` starts everything; `make test` runs every test. See README.md.

SHELL := /bin/bash
MODULES := schemas services/lib services/ingest services/consumer services/query scripts/loadgen charts/test scripts/e2e scripts/chaos
BIN := .cache/bin

WORKSPACE ?= demo
ROLE ?= admin
PLAN ?= production
ORG ?= org-$(WORKSPACE)
# PROFILE=cluster: `make up` / `make down` / `make key` use the cluster profile
# (scripts/cluster.sh: ZooKeeper, 3 Kafka nodes, ClickHouse 2 shards x 2 replicas).
PROFILE ?= single
export PROFILE
KEYS_DIR := $(if $(filter cluster,$(PROFILE)),.stack/cluster,.stack/dev)

.PHONY: up down test test-cluster key build deps stack-up stack-down fmt

## up: start ClickHouse, Kafka, the three services and the one-base-URL proxy; send a demo burst; stay up until Ctrl-C
up: build
	scripts/up.sh

## down: stop everything `make up` started (and only that)
down:
	scripts/down.sh

## test: every test, unit and integration, against real ClickHouse and Kafka started on test ports
test:
	scripts/test.sh

## test-cluster: the end-to-end, SDK and fault tests against the cluster profile (scripts/test-cluster.sh)
test-cluster:
	scripts/test-cluster.sh

## key: print a new API key for the local stack (WORKSPACE=w ROLE=admin|member PLAN=developer|production|enterprise)
key: build
	@$(BIN)/logpipectl key -keys-file $(KEYS_DIR)/keys.json -org $(ORG) -workspace $(WORKSPACE) -role $(ROLE) -plan $(PLAN)

## build: build the binaries into .cache/bin
build:
	@mkdir -p $(BIN)
	go build -o $(BIN)/ ./services/lib/cmd/logpipectl ./services/ingest ./services/consumer ./services/query ./scripts/loadgen

## deps: download Go modules (and the SDKs and fuzzer used by compatibility tests)
deps:
	@for m in $(MODULES); do (cd $$m && go mod download); done
	cd scripts/sdkcheck && npm install --no-audit --no-fund
	scripts/sdkcheck/venv.sh >/dev/null

fmt:
	gofmt -w $(MODULES)

.PHONY: chaos
## chaos: the end-to-end audit under faults (its own ClickHouse, Kafka and services; kills and pauses them while load runs); prints lost and doubled (both must be 0)
chaos:
	go run ./scripts/chaos $(CHAOS_ARGS)

.PHONY: bench
## bench: every benchmark, printed as ratios against the performance targets (BENCH=name for one)
bench:
	scripts/bench.sh
