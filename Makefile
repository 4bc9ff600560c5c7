# telegraf-nflog. `make test` runs every test, kernel tests included (root
# needed; under CI=true a missing prerequisite fails instead of skipping).

GO        ?= go
FUZZTIME  ?= 60s
SMOKEFUZZ ?= 5s
BIN       := bin/telegraf-nflog
PKGS      := ./...
# Debian packages the kernel tests, the end-to-end tests (influxdb, prometheus;
# make, curl and git for the README's install commands they run), the rules
# tests (prometheus: promtool) and the demo use.
APT_PKGS  := iptables nftables iproute2 util-linux tcpdump libcap2-bin bash procps influxdb prometheus make curl git
TOOLS     := iptables ip6tables nft ip setpriv tcpdump setcap bash sysctl influxd prometheus promtool make curl git

.PHONY: all build test unit deps lint fuzz fuzz-smoke soak bench flood microbench demo clean telegraf telegraf-stock

all: build

build:
	$(GO) build -o $(BIN) ./cmd/telegraf-nflog

## telegraf: Telegraf v1.37.2 with inputs.nflog compiled in -> bin/telegraf (scripts/build-telegraf.sh).
telegraf:
	bash scripts/build-telegraf.sh

## telegraf-stock: stock Telegraf v1.37.2 with the plugins the execd path needs -> bin/telegraf-stock.
telegraf-stock:
	bash scripts/build-telegraf.sh --stock

## deps: install the tools the kernel tests need when any is missing (Debian).
deps:
	@missing=""; for t in $(TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing test tools (missing:$$missing)"; \
		if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install $(APT_PKGS)" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PKGS) >/dev/null; \
	fi

## test: lint and every test under the race detector. Each fuzz target's seeds and
## committed corpus (testdata/fuzz) run as plain tests; random fuzzing is left to
## `make fuzz`, so that CI stays deterministic.
test: deps lint
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

## unit: the tests that need no root (kernel tests skip outside CI).
unit:
	$(GO) test -short -count=1 $(PKGS)

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

## microbench: go test -bench micro-benchmarks (decode, Loop, Next, metric building).
microbench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

clean:
	rm -rf bin build

## demo: namespace + NFLOG rule + traffic -> metrics on stdout (root); replays a capture otherwise.
demo:
	bash scripts/demo.sh
