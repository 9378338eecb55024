package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"

	extism "github.com/extism/go-sdk"

	"github.com/wasmstream/wasmstream/internal/guestbuild"
)

// ExtismPeer runs the uppercase map as an Extism plugin
// (bench/peers/extism/uppercase.c) through the Extism Go SDK, which also
// runs on wazero: the same work under another Wasm plugin runtime, for the
// harness to set beside wasmstream's rows.
type ExtismPeer struct {
	plugin *extism.Plugin
	value  []byte // one record's value, lowercase
	want   []byte // value upper-cased
	batch  []byte // PeerBatch values, each after its length as a little-endian u32
	wantB  []byte // batch with every value upper-cased
}

// PeerBatch is the number of values in one batched Extism call, the batch
// size of the end-to-end language rows.
const PeerBatch = FloorBatch

// NewExtismPeer builds the plugin under root/bench/peers/extism into dir and
// loads it. A missing C toolchain is reported as an error wrapping
// guestbuild.ErrNoToolchain.
func NewExtismPeer(ctx context.Context, root, dir string) (*ExtismPeer, error) {
	out := filepath.Join(dir, "extism-uppercase.wasm")
	if err := guestbuild.Build(filepath.Join(root, "bench", "peers", "extism"), out); err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	plugin, err := extism.NewPlugin(ctx, extism.Manifest{Wasm: []extism.Wasm{extism.WasmData{Data: wasm, Name: "main"}}}, extism.PluginConfig{}, nil)
	if err != nil {
		return nil, fmt.Errorf("loading the Extism plugin: %w", err)
	}
	p := &ExtismPeer{plugin: plugin, value: lowerValue()}
	p.want = bytes.ToUpper(p.value)
	for range PeerBatch {
		p.batch = binary.LittleEndian.AppendUint32(p.batch, ValueSize)
		p.batch = append(p.batch, p.value...)
		p.wantB = binary.LittleEndian.AppendUint32(p.wantB, ValueSize)
		p.wantB = append(p.wantB, p.want...)
	}
	return p, nil
}

// call runs one export of the plugin on input.
func (p *ExtismPeer) call(ctx context.Context, name string, input []byte) ([]byte, error) {
	rc, out, err := p.plugin.CallWithContext(ctx, name, input)
	if err != nil {
		return nil, fmt.Errorf("extism %s: %w", name, err)
	}
	if rc != 0 {
		return nil, fmt.Errorf("extism %s returned %d", name, rc)
	}
	return out, nil
}

// RunPerRecord makes one Extism call per record, n calls, and returns how
// many records came back upper-cased (every output is checked whole).
func (p *ExtismPeer) RunPerRecord(ctx context.Context, n int) (int64, error) {
	for i := range n {
		out, err := p.call(ctx, "upper", p.value)
		if err != nil {
			return int64(i), err
		}
		if !bytes.Equal(out, p.want) {
			return int64(i), fmt.Errorf("extism upper returned %q, want %q", out, p.want)
		}
	}
	return int64(n), nil
}

// RunBatched makes one Extism call per PeerBatch records (n/PeerBatch
// calls, rounded up) and returns how many records went through. The first
// output of the run is checked whole, every other one by its length and
// its first value.
func (p *ExtismPeer) RunBatched(ctx context.Context, n int) (int64, error) {
	var done int64
	for ; done < int64(n); done += PeerBatch {
		out, err := p.call(ctx, "upper_batch", p.batch)
		if err != nil {
			return done, err
		}
		if done == 0 && !bytes.Equal(out, p.wantB) {
			return done, fmt.Errorf("extism upper_batch returned a wrong batch (%d bytes, want %d)", len(out), len(p.wantB))
		}
		if len(out) != len(p.wantB) || !bytes.Equal(out[4:4+ValueSize], p.want) {
			return done, fmt.Errorf("extism upper_batch returned a wrong batch (%d bytes, want %d)", len(out), len(p.wantB))
		}
	}
	return done, nil
}

// Close releases the plugin.
func (p *ExtismPeer) Close(ctx context.Context) error { return p.plugin.Close(ctx) }
