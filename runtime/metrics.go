package runtime

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the batch latency
// histogram in OperatorStats.Latency: 100µs to 10s, roughly ×2.5 apart.
var LatencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Histogram is a snapshot of a latency histogram over LatencyBuckets.
type Histogram struct {
	// Counts holds, per bucket of LatencyBuckets, the observations not
	// above its bound and above the previous one (not cumulative); the
	// last element counts those above every bound.
	Counts []uint64
	// Count is the number of observations and Sum their total in seconds.
	Count uint64
	Sum   float64
}

// latency is a lock-free histogram over LatencyBuckets.
type latency struct {
	buckets [17]atomic.Uint64 // len(LatencyBuckets)+1
	sumNs   atomic.Int64
}

func (l *latency) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && s > LatencyBuckets[i] {
		i++
	}
	l.buckets[i].Add(1)
	l.sumNs.Add(int64(d))
}

func (l *latency) snapshot() Histogram {
	h := Histogram{Counts: make([]uint64, len(l.buckets))}
	for i := range l.buckets {
		h.Counts[i] = l.buckets[i].Load()
		h.Count += h.Counts[i]
	}
	h.Sum = time.Duration(l.sumNs.Load()).Seconds()
	return h
}

// recordBytes is the size of recs as Stats counts it: keys and values.
func recordBytes(recs []Record) int64 {
	var n int64
	for i := range recs {
		n += int64(len(recs[i].Key) + len(recs[i].Value))
	}
	return n
}

// unsentBytes is recordBytes of the records of recs that sent does not
// mark as written (all of them when sent is nil).
func unsentBytes(recs []Record, sent []bool) int64 {
	if sent == nil {
		return recordBytes(recs)
	}
	var n int64
	for i := range recs {
		if i < len(sent) && sent[i] {
			continue
		}
		n += int64(len(recs[i].Key) + len(recs[i].Value))
	}
	return n
}

// stateBytes is what the state store holds in memory and on disk, or 0 while it
// is not open (or the pipeline keeps no state).
func (p *Pipeline) stateBytes() (cache, disk int64) {
	if p.storeReady == nil {
		return 0, 0
	}
	select {
	case <-p.storeReady:
	default:
		return 0, 0
	}
	if p.store == nil {
		return 0, 0
	}
	st := p.store.Stats()
	return st.DirtyBytes + st.CleanBytes, st.DiskBytes
}
