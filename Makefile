# The README's two commands: `make serve` builds and starts Hangar on the embedded
# default (SQLite + a chunk directory in ./hangar-data); `make test` runs every test.
GO ?= go
SHELL := /bin/bash

.PHONY: build serve test deps fuzz bench testimage appliance stockguest lint

# The browser's diskfmt (WebAssembly, embedded in hangar for the console's upload)
# is built first: scripts/build-wasm.sh.
build:
	GO=$(GO) scripts/build-wasm.sh
	$(GO) build -buildvcs=auto -o bin/hangar ./cmd/hangar
	CGO_ENABLED=0 $(GO) build -o bin/hangar-agent ./cmd/hangar-agent

serve: build
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory appliance || echo "the appliance did not build: offline generalize is unavailable until \`make appliance\` works" >&2
	./bin/hangar serve --data-dir ./hangar-data $(SERVE_FLAGS)

# More flags for make serve, e.g. SERVE_FLAGS="--listen 127.0.0.1:8080".
SERVE_FLAGS ?=

deps:
	@scripts/deps.sh test

# The appliance: a throwaway VM (kernel + initramfs from Debian packages, with
# hangar-agent) that does offline work on guest disks; bin/hangar finds it beside itself.
appliance: build
	images/appliance/build.sh --agent bin/hangar-agent --out bin/appliance

# The tiny test guest (Debian kernel, busybox, hangar-agent; BIOS and UEFI boot).
testimage: build
	images/testimage/build.sh --agent bin/hangar-agent --out images/testimage/out/testimage.raw

# The stock test guests (Debian's cloud-init, waagent, qemu-guest-agent; no code of
# ours): images/stockguest/out/{azure,waagent,nocloud}.raw. Skips the build when its
# inputs did not change (images/stockguest/README.md). Their tests:
#   HANGAR_STOCKGUEST=$(CURDIR)/images/stockguest/out go test ./images/stockguest/
stockguest: deps
	images/stockguest/build.sh --out images/stockguest/out

# Every test (unit, end-to-end with real QEMU, qemu-img as judge), the end-to-end
# suite once more on PostgreSQL + S3 (versitygw) without the VM suites (they boot
# guests, slow under TCG, and ran on the first pass), then every fuzz target for
# FUZZTIME each.
# A skipped test fails the run (scripts/noskip): here everything a test needs is
# installed, so a skip is a check that silently did not run.
test: deps lint appliance testimage stockguest
	$(GO) build -o bin/noskip ./scripts/noskip
	set -o pipefail; HANGAR_APPLIANCE=$(CURDIR)/bin/appliance HANGAR_TESTIMAGE=$(CURDIR)/images/testimage/out/testimage.raw \
		HANGAR_STOCKGUEST=$(CURDIR)/images/stockguest/out \
		$(GO) test -json -count=1 -timeout 60m ./... | bin/noskip
	set -o pipefail; HANGAR_E2E_SKIP_VMS=1 HANGAR_E2E_DB=postgres HANGAR_E2E_STORE=s3 \
		$(GO) test -json -count=1 -timeout 60m ./e2e | bin/noskip -allow HANGAR_E2E_SKIP_VMS
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

FUZZTIME ?= 5s

# gofmt, go vet and staticcheck must all be clean.
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: run gofmt -w on these"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# The benchmarks of docs/BENCHMARKS.md (minutes each; VM ones need make testimage,
# stockguest needs make stockguest).
bench: build testimage stockguest
	for b in catalog convert upload reupload hashing serverrss vm capture replicate generalize stockguest; do $(GO) run ./bench/$$b || exit 1; done
