//go:build linux

package socket

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"
)

// receipts reports whether unacked can tell when the peer has the bytes.
const receipts = true

// tcpClose is the kernel's TCP_CLOSE state: the connection was reset or
// closed, and nothing unacknowledged will be acknowledged any more.
const tcpClose = 7

// unacked returns how many bytes written to conn the peer's TCP stack has
// not acknowledged yet (SIOCOUTQ: sent or unsent), and whether the
// connection is over (reset or closed), so the rest never will be.
func unacked(conn net.Conn) (n int, over bool, err error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, false, fmt.Errorf("%T has no file descriptor", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, false, err
	}
	var ioErr error
	cerr := raw.Control(func(fd uintptr) {
		var q int32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&q))); e != 0 {
			ioErr = fmt.Errorf("reading the unacknowledged byte count: %w", e)
			return
		}
		n = int(q)
		var info syscall.TCPInfo
		size := uint32(unsafe.Sizeof(info))
		if _, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&size)), 0); e != 0 {
			ioErr = fmt.Errorf("reading the connection state: %w", e)
			return
		}
		over = info.State == tcpClose
	})
	if cerr != nil {
		return 0, false, cerr
	}
	return n, over, ioErr
}
