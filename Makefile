# The flexus autoscaler. `make demo` and `make test` are all a new user needs.
GO        ?= go
BIN       ?= flexus
PKG       := github.com/flexus-autoscaler/flexus
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
VPKG      := github.com/prometheus/common/version
LDFLAGS   := -s -w -X $(VPKG).Version=$(VERSION) -X $(VPKG).Revision=$(REVISION) \
             -X $(VPKG).Branch=$(BRANCH) -X $(VPKG).BuildUser=$(shell id -un)@$(shell hostname) \
             -X $(VPKG).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
# The full traces when they are next to the checkout, else the small copy the
# repository carries (testdata/traces/README.md names the source).
TRACES    ?= $(if $(wildcard ../shared/traces/*.csv),../shared/traces,testdata/traces)
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all deps build release test lint unit e2e bench demo backtest rules clean

all: build

deps:
	@scripts/install-deps.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/flexus

# Static binaries for each platform in dist/, named with the version, and
# their checksums; `sha256sum -c SHA256SUMS` in dist/ verifies a download.
PLATFORMS ?= linux/amd64 linux/arm64
DIST      ?= dist
release:
	@rm -rf $(DIST) && mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=$(DIST)/$(BIN)-$(VERSION)-$$os-$$arch; \
		echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/flexus; \
	done
	cd $(DIST) && sha256sum $(BIN)-* > SHA256SUMS

# The one test command: static checks, every unit and integration test (real
# redis-server, promtool, prometheus and alertmanager), then the closed loop.
test: deps lint unit e2e

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -count=1 -timeout 15m ./...

e2e: build
	$(GO) test -count=1 -timeout 15m -tags e2e -run 'E2E' ./e2e/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...

demo: deps build
	./$(BIN) demo

backtest: build
	@for f in $(TRACES)/*.csv; do ./$(BIN) backtest --trace "$$f" --policy all || exit 1; done

# The generated files: rule files (rules/gen) and dashboards (dashboards/gen).
rules:
	$(GO) run ./rules/gen
	$(GO) run ./dashboards/gen

clean:
	rm -f $(BIN)
	rm -rf $(DIST)
