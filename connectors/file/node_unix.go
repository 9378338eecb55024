//go:build unix

package file

import (
	"os"
	"syscall"
)

// node identifies a file on its file system: a file replaced under the same
// path (a rotation) has another one.
type node struct{ dev, ino uint64 }

// nodeOf returns fi's device and inode, or zero when they are unknown.
func nodeOf(fi os.FileInfo) node {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return node{}
	}
	return node{dev: uint64(st.Dev), ino: uint64(st.Ino)}
}
