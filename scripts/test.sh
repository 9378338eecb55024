#!/usr/bin/env bash
# The whole wasmstream test suite, from a fresh clone: installs what it needs
# (Debian packages), builds every guest from source, then runs vet, the unit
# and integration tests (then all again under -race), a short fuzz pass over
# the ABI decoders and the example pipeline end to end.
#
#   scripts/test.sh          everything
#   scripts/test.sh check    formatting, vet and go mod tidy only
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

. scripts/lib/apt.sh
. scripts/lib/servers.sh

check() {
  step "gofmt"
  bad=$(gofmt -l $(git ls-files '*.go'))
  if [ -n "$bad" ]; then echo "gofmt would change:"; echo "$bad"; exit 1; fi
  step "go vet"
  go vet ./...
  GOOS=wasip1 GOARCH=wasm go vet ./abi ./guest-sdk/go/...
  step "go mod tidy"
  cp go.mod /tmp/wasmstream.go.mod.bak; cp go.sum /tmp/wasmstream.go.sum.bak
  go mod tidy
  if ! git diff --quiet -- go.mod go.sum; then
    git diff -- go.mod go.sum
    cp /tmp/wasmstream.go.mod.bak go.mod; cp /tmp/wasmstream.go.sum.bak go.sum
    echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1
  fi
}

apt_ensure scripts/test.sh wabt
# kcat (librdkafka): the Kafka tests produce and read with a client we did not write.
apt_ensure scripts/test.sh kcat
# Chromium: the dashboard test loads the page headless (internal/serve).
apt_ensure scripts/test.sh chromium
check
[ "${1:-}" = check ] && exit 0

step "guest toolchains"
for tc in scripts/toolchains/*.sh; do
  [ -e "$tc" ] || continue
  bash "$tc"
done
# Every toolchain is installed now: a guest that cannot build is a failure.
export WASMSTREAM_REQUIRE_TOOLCHAINS=1

step "servers (Redis, PostgreSQL, MariaDB: the async I/O targets' tests use them)"
servers_ensure

step "building guests and the CLI"
make -s wasm build
if ! ./wasmstream components | diff -q - docs/reference.md >/dev/null; then
  echo "docs/reference.md is stale: run ./wasmstream components > docs/reference.md"; exit 1
fi

step "unit and integration tests"
go test -count=1 ./...

step "guest SDK native tests"
for t in guest-sdk/*/test; do
  [ -x "$t" ] || continue
  echo "-- $t"
  (cd "$(dirname "$t")" && ./test)
done

step "race detector on the whole suite"
go test -count=1 -race ./...

step "fuzzing the ABI decoders (short pass; the seed corpus also runs in every go test)"
go test -run '^$' -fuzz '^FuzzFrameReader$' -fuzztime 15s ./abi
go test -run '^$' -fuzz '^FuzzDecodeValue$' -fuzztime 5s ./abi
go test -run '^$' -fuzz '^FuzzInstrument$' -fuzztime 10s ./host

step "example pipeline end to end"
out=$(./wasmstream run --quiet examples/wasm/uppercase/pipeline.yaml --data-dir "$(mktemp -d)")
want=$(tr '[:lower:]' '[:upper:]' < examples/wasm/uppercase/input.txt)
if [ "$(printf '%s\n' "$out" | sort)" != "$(printf '%s\n' "$want" | sort)" ]; then
  echo "example output differs from the upper-cased input"; diff <(printf '%s\n' "$want" | sort) <(printf '%s\n' "$out" | sort) || true; exit 1
fi
echo "example: $(printf '%s\n' "$out" | wc -l) lines upper-cased"
step "all tests passed"
