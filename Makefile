# wotkit: `make test` is what CI runs; it installs what the tests need.
GO ?= go

.PHONY: test vet deps-test build fuzz

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

test: deps-test vet
	$(GO) test -race -count=1 ./...

# fuzz runs each fuzz target for FUZZTIME (seed corpora run in `make test`).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./broker -run '^$$' -fuzz '^FuzzGuardLiveBroker$$' -fuzztime $(FUZZTIME)
	$(GO) test ./hooks -run '^$$' -fuzz '^FuzzFilterAllowed$$' -fuzztime $(FUZZTIME)
	$(GO) test ./storage -run '^$$' -fuzz '^FuzzScanReading$$' -fuzztime $(FUZZTIME)
	$(GO) test ./oauthweb -run '^$$' -fuzz '^FuzzAuthorizeRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./oauthweb -run '^$$' -fuzz '^FuzzTokenEndpoint$$' -fuzztime $(FUZZTIME)
	$(GO) test ./oauthweb -run '^$$' -fuzz '^FuzzAPICredentials$$' -fuzztime $(FUZZTIME)
