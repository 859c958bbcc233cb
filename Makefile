SHELL := /bin/bash
# docker_logs: a Fluent Bit input plugin for Docker container logs.
# Go's default place on a fresh machine.
export PATH := $(PATH):/usr/local/go/bin
GO        ?= go
CC        ?= gcc
BUILD     := build
PLUGIN    := $(BUILD)/in_docker_logs.so
HOST      := $(BUILD)/fbhost
CONF      ?= conf/fluent-bit.conf
E2E_FLAGS ?=

.PHONY: all build host run setup test vet unit alerts e2e e2e-current image-test fuzz bench soak clean

all: build host

build: $(PLUGIN)

$(PLUGIN): $(shell find plugin capture -name '*.go' -o -name '*.h') go.mod go.sum
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-shared -o $@ ./plugin

host: $(HOST)

$(HOST): test/host/fbhost.c
	$(CC) -O2 -Wall -Wextra -o $@ $< -ldl -lpthread -lmsgpackc

# Runs the plugin against the local Docker engine: in Fluent Bit when it is
# installed, otherwise in the project's host, printing records. As root it
# starts the project's engine when none answers, and a demo container
# (DEMO=off skips it, DEMO=on starts it without root).
DEMO ?=
run:
	@test/scripts/setup.sh run
	@$(MAKE) --no-print-directory build host
	@if [ "$(DEMO)" = on ] || { [ "$(DEMO)" != off ] && [ "$$(id -u)" = 0 ]; }; then test/scripts/demo.sh start; fi
	@if command -v fluent-bit >/dev/null 2>&1; then \
		echo "Running fluent-bit -c $(CONF) (Ctrl-C stops it)"; \
		exec fluent-bit -c $(CONF); \
	else \
		echo "fluent-bit not found: running the plugin in $(HOST) (Ctrl-C stops it)"; \
		exec $(HOST) -e $(PLUGIN) -i docker_logs -p rotate_interval=5m; \
	fi

# Installs what the tests need (as root) and starts an engine if none answers.
setup:
	test/scripts/setup.sh test

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l capture plugin test)" || { gofmt -l capture plugin test; exit 1; }

unit:
	$(GO) test -race -count=1 ./capture/... ./plugin/ ./test/logger/... ./test/

image-test:
	test/scripts/test-image.sh

# End-to-end tests against the real engine, in the real Fluent Bit when
# fluent-bit is on PATH (in the project's host otherwise): the whole suite on
# Debian's Engine 20.10, then on the current engine (test/scripts/
# modern-dockerd.sh builds and starts it) every test of positions, rotation,
# replays, resumes and restarts, and the delivery tests.
CURRENT_ENGINE ?= /tmp/docker_logs-modern
E2E_CURRENT_RUN ?= Source|Rotation|Restart|Resume|History|Window|Replay|StartedWhile|Stopped|EveryLineOnce|LongLines|Pause|MemBuf|Silent|Checkpoint|HighRate|TTY|Details|Unreadable
E2E_GREP := grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|_test.go'
e2e: build host image-test
	$(GO) test -count=1 -timeout 25m -v $(E2E_FLAGS) ./test/e2e/... 2>&1 | tee $(BUILD)/e2e.log | $(E2E_GREP); exit $${PIPESTATUS[0]}

e2e-current: build host
	test/scripts/modern-dockerd.sh $(CURRENT_ENGINE)
	DOCKER_HOST=unix://$(CURRENT_ENGINE)/docker.sock test/scripts/test-image.sh
	DOCKER_HOST=unix://$(CURRENT_ENGINE)/docker.sock $(GO) test -count=1 -timeout 25m -v -run '$(E2E_CURRENT_RUN)' $(E2E_FLAGS) ./test/e2e/... 2>&1 | tee $(BUILD)/e2e-current.log | $(E2E_GREP); exit $${PIPESTATUS[0]}

# Podman's Docker-compatible API, on the service test/scripts/podman.sh
# starts (with the runc modern-dockerd.sh builds): the scenarios it must
# pass as Docker's engine does. make test runs the acceptance ones
# (E2E_PODMAN_CI, about 3 minutes); make e2e-podman all of them (about 5).
PODMAN_SOCKET ?= /tmp/docker_logs-podman.sock
E2E_PODMAN_CI := TestRotationEveryTwoSeconds|TestRestartWithCheckpoint|TestDaemonRestart|TestContainerChurn|TestPodmanOwnAPI
E2E_PODMAN_RUN ?= $(E2E_PODMAN_CI)|TestRotationKeepsEveryLine|TestRotationContinuityAndBounds|TestKillWithCheckpoint|TestContainerRestart|TestEveryLineOnceWithMetadata|TestExistingAndNewContainers|TestHealthFollowsDaemon|TestRenamedContainer
.PHONY: e2e-podman
e2e-podman: build host
	test/scripts/modern-dockerd.sh $(CURRENT_ENGINE)
	MODERN_DIR=$(CURRENT_ENGINE) test/scripts/podman.sh start $(PODMAN_SOCKET)
	DOCKER_HOST=unix://$(PODMAN_SOCKET) test/scripts/test-image.sh
	DOCKER_HOST=unix://$(PODMAN_SOCKET) $(GO) test -count=1 -timeout 25m -v -run '^($(E2E_PODMAN_RUN))$$' $(E2E_FLAGS) ./test/e2e/... 2>&1 | tee $(BUILD)/e2e-podman.log | $(E2E_GREP); exit $${PIPESTATUS[0]}

# The alert rules parse, and each fires and stays quiet as its test says.
alerts:
	promtool check rules conf/prometheus-alerts.yml
	promtool test rules conf/prometheus-alerts.test.yml

# The set-up first, then the tests in order.
test:
	test/scripts/setup.sh test
	$(MAKE) --no-print-directory vet build unit alerts e2e e2e-current bench-smoke
	$(MAKE) --no-print-directory e2e-podman E2E_PODMAN_RUN='$(E2E_PODMAN_CI)'

fuzz:
	$(GO) test ./capture/logstream -run '^$$' -fuzz FuzzReaderMux -fuzztime 30s
	$(GO) test ./capture/logstream -run '^$$' -fuzz FuzzReaderRaw -fuzztime 30s
	$(GO) test ./capture/discovery -run '^$$' -fuzz FuzzContainerIDFromProc -fuzztime 30s
	$(GO) test ./capture/logfile -run '^$$' -fuzz FuzzParse -fuzztime 30s

clean:
	rm -f $(BUILD)/*.so $(BUILD)/*.h $(HOST)

# The long soak against the real engine (SOAK_* variables override).
SOAK_CONTAINERS ?= 55
SOAK_DURATION   ?= 30m
SOAK_ROTATE     ?= 5m
SOAK_RATE       ?= 3
soak: build host image-test
	SOAK_CONTAINERS=$(SOAK_CONTAINERS) SOAK_DURATION=$(SOAK_DURATION) SOAK_ROTATE=$(SOAK_ROTATE) SOAK_RATE=$(SOAK_RATE) \
		$(GO) test -count=1 -timeout 0 -v -run '^TestSoak$$' ./test/e2e/

# The benchmark against the real engine (test/bench): throughput of the plugin
# beside raw logs API readers, CPU, memory per idle container, latency.
# BENCH_FLAGS adds flags (go run ./test/bench -h lists them).
BENCH_FLAGS ?=
.PHONY: bench bench-smoke
bench: build host image-test
	$(GO) run ./test/bench $(BENCH_FLAGS)
	@echo "the same drain on the current engine (dockerd's CPU per 1M lines served):"
	test/scripts/modern-dockerd.sh $(CURRENT_ENGINE)
	DOCKER_HOST=unix://$(CURRENT_ENGINE)/docker.sock test/scripts/test-image.sh
	DOCKER_HOST=unix://$(CURRENT_ENGINE)/docker.sock $(GO) run ./test/bench -scale-containers 0 -latency-duration 0 -reopen-sizes "" $(BENCH_FLAGS)
	@echo "resume cost on the real engine: dockerd's CPU while a 1M-line container is followed with 2 s rotations, a head read against a raw read, 20 containers restarted with db"
	@set -o pipefail; $(GO) test -count=1 -v -timeout 30m -run '^(TestLongHistory|TestRestartWithLongHistories)$$' ./test/e2e/ | grep -E 'dockerd used|read from its head|^(--- |ok|FAIL)'

# A tiny run that only proves the benchmark works.
bench-smoke: build host image-test
	$(GO) run ./test/bench -containers 1 -lines 2000 -rounds 1 -scale-containers 5 -scale-duration 3s -scale-churn 2s -latency-duration 3s -reopen-sizes 200 -reopen-rounds 1 $(BENCH_FLAGS)
