#!/usr/bin/env bash
# Builds the web console's WebAssembly build of diskfmt (cmd/diskfmt-wasm) and copies
# Go's wasm_exec.js beside it, into internal/console/wasm/, where go:embed takes them
# into bin/hangar. Both are build outputs (.gitignore): make build and the e2e tests
# run this before building hangar. Without them, hangar still builds and its upload
# page reads raw and fixed VHD files only.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=internal/console/wasm
# -s -w: no symbol table or DWARF, which the browser would download for nothing.
GOOS=js GOARCH=wasm "$GO" build -trimpath -ldflags='-s -w' -o "$out/diskfmt.wasm.tmp" ./cmd/diskfmt-wasm
mv "$out/diskfmt.wasm.tmp" "$out/diskfmt.wasm"
cp "$("$GO" env GOROOT)/lib/wasm/wasm_exec.js" "$out/wasm_exec.js"
