# cuecard: `make run` sets up, builds and starts; `make test` checks everything.

SHELL := /bin/bash
GO ?= go
BIN := bin/cuecard
DATA ?= ./data
ADDR ?= 127.0.0.1:8080
FUZZTIME ?= 5s

# Debian packages the build and the tests need.
DEB_PACKAGES := gcc pkg-config libpocketsphinx-dev pocketsphinx-en-us libsphinxbase-dev \
	libopus-dev libsoxr-dev flite sox

.PHONY: all deps build run demo test fuzz bench eval vet fmt-check clean

all: build

# deps installs only what is missing, with apt-get (as root, or through sudo).
deps:
	@command -v $(GO) >/dev/null || { echo "cuecard needs Go 1.26 or later on PATH (https://go.dev/dl/)"; exit 1; }
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

build: deps
	$(GO) build -o $(BIN) ./cmd/cuecard

run: build
	./$(BIN) analyze --transcript examples/demo-call.jsonl

test: deps fmt-check vet
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

fmt-check:
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi

vet:
	$(GO) vet ./...

# fuzz runs every fuzz target briefly (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/dev/null; \
		done; \
	done

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...

# eval scores the coach on labelled calls (EVAL_DIR, by default the shared set).
EVAL_DIR ?= ../shared/eval/calls
eval: build
	./$(BIN) eval $(EVAL_DIR)

clean:
	rm -rf bin
