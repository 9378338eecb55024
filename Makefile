# wasmstream: the two commands are `make example` and `make test`.
GO ?= go

.PHONY: example test wasm build check bench
.DELETE_ON_ERROR:

# Builds the Go guest examples and runs the uppercase pipeline: a file source,
# a Wasm operator written in Go, and stdout.
example: build
	$(GO) run ./internal/guestbuild/buildall -lang go
	./wasmstream run examples/wasm/uppercase/pipeline.yaml

build:
	$(GO) build -o wasmstream ./cmd/wasmstream

# Builds every example guest from source, in every language whose toolchain
# is installed (scripts/toolchains/*.sh install them).
wasm:
	$(GO) run ./internal/guestbuild/buildall

# Everything CI runs: installs what is missing, then vet, tests (all of them
# again under the race detector), a short fuzz pass and the example end to end.
test:
	./scripts/test.sh

check:
	./scripts/test.sh check
