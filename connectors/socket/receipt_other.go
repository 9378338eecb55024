//go:build !linux

package socket

import "net"

// receipts reports whether unacked can tell when the peer has the bytes:
// not on this system, so a Write is done once the kernel took the bytes.
const receipts = false

// unacked is not available on this system.
func unacked(net.Conn) (n int, over bool, err error) { return 0, false, nil }
