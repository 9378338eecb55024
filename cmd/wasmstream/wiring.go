package main

import (
	"context"
	"log/slog"

	"github.com/wasmstream/wasmstream/connectors/asyncio"
	"github.com/wasmstream/wasmstream/connectors/collection"
	"github.com/wasmstream/wasmstream/connectors/file"
	"github.com/wasmstream/wasmstream/connectors/generator"
	"github.com/wasmstream/wasmstream/connectors/kafka"
	"github.com/wasmstream/wasmstream/connectors/socket"
	"github.com/wasmstream/wasmstream/connectors/stdio"
	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime"
)

// newRegistry returns a registry holding every built-in component, with
// Wasm operators run by a new engine the caller must close.
func newRegistry(ctx context.Context, logger *slog.Logger) (*runtime.Registry, *host.Engine, error) {
	engine, err := host.NewEngine(ctx, host.WithLogger(logger))
	if err != nil {
		return nil, nil, err
	}
	reg := runtime.NewRegistry()
	host.Register(reg, engine)
	file.Register(reg)
	stdio.Register(reg)
	socket.Register(reg)
	collection.Register(reg)
	generator.Register(reg)
	kafka.Register(reg)
	asyncio.Register(reg)
	return reg, engine, nil
}
