//go:build race

package serve_test

// raceEnabled: the race detector slows every goroutine several times.
const raceEnabled = true
