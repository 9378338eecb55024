# wasmstream: the two commands are `make example` and `make test`.
GO ?= go
WASM_EXAMPLES := uppercase router
WASM_FILES := $(foreach e,$(WASM_EXAMPLES),examples/wasm/$(e)/$(e).wasm) examples/wasm/conformance/go/conformance.wasm

.PHONY: example test wasm build check bench
.DELETE_ON_ERROR:

# Builds the Go guest examples and runs the uppercase pipeline: a file source,
# a Wasm operator written in Go, and stdout.
example: wasm build
	./wasmstream run examples/wasm/uppercase/pipeline.yaml

build:
	$(GO) build -o wasmstream ./cmd/wasmstream

wasm: $(WASM_FILES)

examples/wasm/%.wasm: FORCE
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $@ ./$(dir $@)

FORCE:

# Everything CI runs: installs what is missing, then vet, tests (race on the
# engine), a short fuzz pass and the example end to end.
test:
	./scripts/test.sh

check:
	./scripts/test.sh check
