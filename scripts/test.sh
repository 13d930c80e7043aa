#!/bin/sh
# The whole suite: type-check, then every test file, listed explicitly (Node 20's test runner
# silently runs nothing when given a directory or a quoted glob of .ts files).
set -eu
cd "$(dirname "$0")/.."
npx tsc --noEmit -p .
files=$(find test -name '*.test.ts' | sort)
if [ -z "$files" ]; then
  echo "no test files found under test/" >&2
  exit 1
fi
# shellcheck disable=SC2086
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 "$@" $files
