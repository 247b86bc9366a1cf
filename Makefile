# The README's two commands: `make serve` builds and starts Hangar on the embedded
# default (SQLite + a chunk directory in ./hangar-data); `make test` runs every test.
GO ?= go

.PHONY: build serve test deps fuzz bench

build:
	$(GO) build -o bin/hangar ./cmd/hangar

serve: build
	./bin/hangar serve --data-dir ./hangar-data

deps:
	@scripts/deps.sh

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 ./...

bench: build
	$(GO) run ./bench/catalog
