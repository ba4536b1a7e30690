//go:build linux

package vpcd

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// setQuickAck turns on TCP_QUICKACK for c if it is a socket. Linux clears
// the flag again by itself after some ACKs, which is why the caller sets
// it before every read. Connections without a file descriptor (net.Pipe
// in tests) are left alone.
func setQuickAck(c any) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("vpcd: raw socket: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	}); err != nil {
		return fmt.Errorf("vpcd: raw socket control: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("vpcd: setting TCP_QUICKACK: %w", serr)
	}
	return nil
}
