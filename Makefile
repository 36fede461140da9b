# wotkit: `make test` is what CI runs; it installs what the tests need.
GO ?= go
# Build and test with the newest Go 1.26 patch release, fetched through the module proxy when the
# machine's Go is older: it fixes the standard-library vulnerabilities the machine's go1.26.8 has
# (README: Vulnerability scan). Override with GOTOOLCHAIN=local to use the machine's Go.
GOTOOLCHAIN ?= go1.26.11
export GOTOOLCHAIN

.PHONY: test vet deps-test build fuzz vuln bench soak

build:
	$(GO) build -o bin/wotkit ./cmd/wotkit

# deps-test installs Debian's chromium for the browser tests when it is missing.
deps-test:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "make test: the browser tests need Debian's chromium; run as root or: sudo apt-get install chromium" >&2; exit 1; \
		fi; \
		echo "installing chromium (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

vet:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed: $$out" >&2; exit 1; fi
	$(GO) vet ./...

test: deps-test vet vuln
	$(GO) test -race -count=1 ./...

# vuln: govulncheck, offline, against a database built from the golang.org/x/vulndb module;
# fails on a reachable vulnerability (README: Vulnerability scan). 1.5-3 min cold, 20 s warm.
vuln:
	GO=$(GO) bash vuln/vulncheck.sh

# fuzz runs each fuzz target for FUZZTIME (seed corpora run in `make test`).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./broker -run '^$$' -fuzz '^FuzzGuardLiveBroker$$' -fuzztime $(FUZZTIME)
	$(GO) test ./hooks -run '^$$' -fuzz '^FuzzFilterAllowed$$' -fuzztime $(FUZZTIME)
	$(GO) test ./storage -run '^$$' -fuzz '^FuzzScanReading$$' -fuzztime $(FUZZTIME)
	$(GO) test ./oauthweb -run '^$$' -fuzz '^FuzzAuthorizeRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./oauthweb -run '^$$' -fuzz '^FuzzTokenEndpoint$$' -fuzztime $(FUZZTIME)
	$(GO) test ./oauthweb -run '^$$' -fuzz '^FuzzAPICredentials$$' -fuzztime $(FUZZTIME)

# soak: 10,000 connections to a wotkit serve process and sustained publishing for SOAKTIME, then
# checks that its goroutines and heap come back to where they started.
SOAKTIME ?= 60s
soak:
	WOTKIT_SOAK=$(SOAKTIME) $(GO) test ./cmd/wotkit -run '^TestSoak$$' -count=1 -v -timeout 30m

# bench builds wotkit and the load tool and runs every scenario against wotkit,
# bare mochi and (when Debian's mosquitto is installed) mosquitto, in turns,
# and prints the table (README: Performance). 4-4.5 minutes on 2 cores;
# BENCHFLAGS passes flags to `wotkit-bench suite` (e.g. --repeat 5, --keep).
bench: build
	$(GO) build -o bin/wotkit-bench ./cmd/wotkit-bench
	bin/wotkit-bench suite --wotkit bin/wotkit $(BENCHFLAGS)
