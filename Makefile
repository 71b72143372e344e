# cuecard: `make run` sets up, builds and starts; `make test` checks everything.

SHELL := /bin/bash
GO ?= go
BIN := bin/cuecard
DATA ?= ./data
ADDR ?= 127.0.0.1:8080
FUZZTIME ?= 5s

# Debian packages the build and the tests need.
DEB_PACKAGES := gcc pkg-config libpocketsphinx-dev pocketsphinx-en-us libsphinxbase-dev \
	libopus-dev libopusfile-dev libsoxr-dev flite sox
# ...and what only the tests need (the browser for the UI's end-to-end tests).
TEST_PACKAGES := chromium fonts-liberation

.PHONY: all deps test-deps apt-install build run demo test fuzz bench eval eval-audio vet lint fmt-check clean

all: build

# deps installs only what is missing, with apt-get (as root, or through sudo).
deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(DEB_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(DEB_PACKAGES) $(TEST_PACKAGES)"

apt-install:
	@command -v $(GO) >/dev/null || { echo "cuecard needs Go 1.26 or later on PATH (https://go.dev/dl/)"; exit 1; }
	@missing=$$(for p in $(PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

build: deps
	$(GO) build -o $(BIN) ./cmd/cuecard

# run serves on the embedded default set-up; the demo call is synthesized
# once into $(DATA)/demo so it can be streamed into the server.
run: build $(DATA)/demo/rep.wav
	@echo "To play the demo call into the server, in another terminal:"
	@echo "  ./$(BIN) stream --rep $(DATA)/demo/rep.wav --prospect $(DATA)/demo/prospect.wav --server http://$(ADDR)"
	./$(BIN) serve --addr $(ADDR) --data $(DATA)

$(DATA)/demo/rep.wav: examples/demo-call.jsonl | build
	./$(BIN) synth examples/demo-call.jsonl --out $(DATA)/demo

# demo analyzes the demo call offline, from its transcript and its audio.
demo: build $(DATA)/demo/rep.wav
	./$(BIN) analyze --transcript examples/demo-call.jsonl | grep -v '"talk"'
	./$(BIN) analyze --rep $(DATA)/demo/rep.wav --prospect $(DATA)/demo/prospect.wav | grep -v '"talk"'

test: test-deps fmt-check vet lint
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

fmt-check:
	@bad=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi

vet:
	$(GO) vet ./...

# lint runs golangci-lint (.golangci.yml), installed from the Go module
# proxy into bin/tools at a pinned version.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := bin/tools/golangci-lint
$(GOLANGCI_LINT):
	GOBIN=$(CURDIR)/bin/tools $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(GOLANGCI_LINT)
	@$(GOLANGCI_LINT) version | grep -q '$(patsubst v%,%,$(GOLANGCI_LINT_VERSION))' || \
		GOBIN=$(CURDIR)/bin/tools $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	$(GOLANGCI_LINT) run ./...

# fuzz runs every fuzz target briefly (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/tmp/cuecard-fuzz.log 2>&1 || \
				{ grep -v '^fuzz: elapsed' /tmp/cuecard-fuzz.log; exit 1; }; \
		done; \
	done

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...

# eval scores the coach on labelled calls (EVAL_DIR, by default the shared
# set), from their transcripts; eval-audio on synthesized audio of them.
EVAL_DIR ?= ../shared/eval/calls
eval: build
	./$(BIN) eval $(EVAL_DIR)

eval-audio: build
	./$(BIN) eval --audio --audio-dir $(DATA)/eval-audio $(EVAL_DIR)

clean:
	rm -rf bin
