# The README's two commands: `make serve` builds and starts Hangar on the embedded
# default (SQLite + a chunk directory in ./hangar-data); `make test` runs every test.
GO ?= go

.PHONY: build serve test deps fuzz bench testimage

build:
	$(GO) build -o bin/hangar ./cmd/hangar
	CGO_ENABLED=0 $(GO) build -o bin/hangar-agent ./cmd/hangar-agent

serve: build
	@scripts/deps.sh run
	./bin/hangar serve --data-dir ./hangar-data

deps:
	@scripts/deps.sh test

# The tiny test guest (Debian kernel, busybox, hangar-agent; BIOS and UEFI boot).
testimage: build
	images/testimage/build.sh --agent bin/hangar-agent --out images/testimage/out/testimage.raw

# Every test (unit, end-to-end with real QEMU, qemu-img as judge), then every fuzz
# target for FUZZTIME each.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

FUZZTIME ?= 5s

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

bench: build
	$(GO) run ./bench/catalog
