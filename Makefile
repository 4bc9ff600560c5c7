# telegraf-nflog. `make test` runs every test, kernel tests included (root
# needed; under CI=true a missing prerequisite fails instead of skipping).

GO        ?= go
FUZZTIME  ?= 60s
SMOKEFUZZ ?= 5s
BIN       := bin/telegraf-nflog
PKGS      := ./...
# Debian packages the kernel tests, the end-to-end tests (influxdb, prometheus;
# make, curl and git for the README's install commands they run), the rules
# tests (prometheus: promtool) and the systemd unit's check (systemd:
# systemd-analyze) use, and the tools that tell they are there.
APT_PKGS  := iptables nftables iproute2 util-linux tcpdump libcap2-bin bash procps influxdb prometheus systemd make curl git
TOOLS     := iptables ip6tables nft ip setpriv tcpdump setcap bash sysctl influxd prometheus promtool systemd-analyze make curl git
# What make demo needs: no database, no service.
DEMO_PKGS  := iptables iproute2 bash
DEMO_TOOLS := iptables ip6tables ip bash

.PHONY: help all build test unit deps deps-demo lint fuzz fuzz-smoke soak bench flood bench-pipeline microbench demo clean telegraf telegraf-stock

## all: the same as build (the default target).
all: build

## build: the execd binary, bin/telegraf-nflog.
build:
	$(GO) build -o $(BIN) ./cmd/telegraf-nflog

## telegraf: Telegraf v1.37.2 with inputs.nflog compiled in -> bin/telegraf
## (scripts/build-telegraf.sh).
telegraf:
	bash scripts/build-telegraf.sh

## telegraf-stock: stock Telegraf v1.37.2 with the plugins the execd path
## needs -> bin/telegraf-stock.
telegraf-stock:
	bash scripts/build-telegraf.sh --stock

## help: this list: each target with its "##" comment.
help:
	@awk '/^## [a-zA-Z0-9_-]+:/ { if (name) print line; name = $$2; sub(/:$$/, "", name); \
		line = sprintf("  %-12s %s", name, substr($$0, length($$2) + 5)); next } \
		/^## / && name { line = line " " substr($$0, 4); next } \
		{ if (name) print line; name = "" } END { if (name) print line }' $(firstword $(MAKEFILE_LIST))

## deps: install what make test needs when a tool is missing (Debian, root),
## with no service started (scripts/deps.sh).
deps:
	@bash scripts/deps.sh test "$(TOOLS)" "$(APT_PKGS)"

## deps-demo: install what make demo needs when a tool is missing.
deps-demo:
	@bash scripts/deps.sh demo "$(DEMO_TOOLS)" "$(DEMO_PKGS)"

## test: lint and every test under the race detector. Each fuzz target's seeds and
## committed corpus (testdata/fuzz) run as plain tests; random fuzzing is left to
## `make fuzz`, so that CI stays deterministic.
test: deps lint
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## unit: the tests that need no root (kernel tests skip outside CI).
unit:
	$(GO) test -short -count=1 $(PKGS)

## lint: gofmt -s, go vet and Telegraf's README linter.
lint:
	@out=$$(gofmt -s -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -s needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run github.com/influxdata/telegraf/tools/readme_linter@v1.37.2 plugins/inputs/nflog/README.md

# Fuzz targets as package:Target.
FUZZ_TARGETS := ./nflog:FuzzDecode ./nflog:FuzzConntrack ./nflog:FuzzDatagram ./nflog:FuzzCaptureFile \
                ./plugins/inputs/nflog:FuzzConfig ./plugins/inputs/nflog:FuzzMetricOutput \
                ./cmd/telegraf-nflog:FuzzLineProtocol

## fuzz-smoke: a short random run of each fuzz target (not part of make test).
fuzz-smoke:
	@for t in $(FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(SMOKEFUZZ) $${t%%:*}/ || exit 1; done

## fuzz: the long run; FUZZTIME=10m make fuzz.
fuzz:
	@for t in $(FUZZ_TARGETS); do $(GO) test -run '^$$' -fuzz "^$${t##*:}$$" -fuzztime $(FUZZTIME) $${t%%:*}/ || exit 1; done

SOAKTIME ?= 10m
## soak: long overload run (root): restarts and floods, accounting and memory checked every round.
soak:
	NFLOG_SOAK=$(SOAKTIME) $(GO) test -race -count=1 -timeout 0 -run '^TestIntegrationSoak$$' -v ./plugins/inputs/nflog/

## bench: the NFLOG flood benchmark (root): C baseline, library, tcpdump, execd;
## FLOODFLAGS="-runs 3 -json results.json". See bench/README.md.
bench: build
	$(GO) run ./bench/cmd/nflog-bench -execd $(BIN) $(FLOODFLAGS)

## flood: the same as bench.
flood: bench

## bench-pipeline: the pipeline benchmark (root): inputs.nflog in Telegraf, the
## execd binary -> Telegraf and ulogd2 -> Telegraf's tail, CPU of every process per
## packet, losses end to end, zero-loss rates; PIPEFLAGS="-runs 3". Builds
## bin/telegraf and bin/telegraf-stock as needed. See bench/README.md.
bench-pipeline: build
	$(GO) run ./bench/cmd/nflog-pipeline $(PIPEFLAGS)

## microbench: go test -bench micro-benchmarks (decode, Loop, Next, metric building).
microbench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## clean: remove bin/ and build/.
clean:
	rm -rf bin build

## demo: namespace + NFLOG rule + traffic -> metrics on stdout (root); replays a capture otherwise.
demo:
	bash scripts/demo.sh
