#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for a short time each
# (FUZZTIME, default 5s). New crashers land in the package's testdata/fuzz and
# fail the run; commit them as regression seeds after fixing the bug.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r file; do
	pkg=./$(dirname "${file#./}")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
		echo "fuzz $pkg $target ($fuzztime)"
		# Minimizing a new input from a big seed can stall: keep it short.
		if ! out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s "$pkg" 2>&1); then
			echo "$out"
			exit 1
		fi
	done
done
echo "fuzz: all targets ran without a failure"
