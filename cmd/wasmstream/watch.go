package main

import (
	"context"
	"crypto/sha256"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/wasmstream/wasmstream/host"
	"github.com/wasmstream/wasmstream/runtime"
)

// watchInterval is how often run --watch looks at the module files.
const watchInterval = 250 * time.Millisecond

// watchModules polls the module file of every Wasm operator of p and, when
// one changes (its bytes, not only its time), hot-swaps it in with
// host.Swap. A file caught half-written fails to load and is tried again
// at the next change. It returns a func that stops watching.
func watchModules(ctx context.Context, p *runtime.Pipeline, e *host.Engine, canary int, log *slog.Logger) func() {
	type watched struct {
		operator, path string
		mod            time.Time
		size           int64
		sum            [32]byte
	}
	var ws []*watched
	for _, c := range p.Spec().Operators {
		oc, ok := c.Config.(*host.OperatorConfig)
		if !ok {
			continue
		}
		w := &watched{operator: c.Label, path: oc.Module}
		if fi, err := os.Stat(w.path); err == nil {
			w.mod, w.size = fi.ModTime(), fi.Size()
			w.sum, _ = fileSum(w.path)
		}
		ws = append(ws, w)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(watchInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			for _, w := range ws {
				fi, err := os.Stat(w.path)
				if err != nil || (fi.ModTime().Equal(w.mod) && fi.Size() == w.size) {
					continue
				}
				w.mod, w.size = fi.ModTime(), fi.Size()
				sum, err := fileSum(w.path)
				if err != nil || sum == w.sum {
					continue
				}
				log.Info("module changed; swapping it in", "operator", w.operator, "module", w.path)
				res, err := host.Swap(ctx, p, e, w.operator, w.path, runtime.SwapOptions{Canary: canary})
				if err != nil {
					log.Error("swap failed; the running module is kept", "operator", w.operator, "module", w.path, "err", err)
					if res.Operator == "" {
						continue // refused before the switch: try the next change
					}
				} else {
					log.Info("module swapped", "operator", w.operator, "module", w.path, "pause", res.Pause, "checkpoint", res.Checkpoint)
				}
				w.sum = sum
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

func fileSum(path string) ([32]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, host.MaxModuleSize+1)); err != nil {
		return [32]byte{}, err
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s, nil
}
