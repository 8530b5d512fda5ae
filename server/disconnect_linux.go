package server

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// peerClosed asks the kernel, without blocking or reading, whether the
// peer has closed: POLLRDHUP is set once its FIN has arrived even when
// bytes it sent before are still unread, which is how a TLS client leaves
// (a close_notify alert, then FIN), and how a plain one leaves after
// pipelining a request. A half-closed client (shutdown of its write side
// only) counts as gone, as it did with the peek this replaced.
func peerClosed(raw syscall.RawConn) bool {
	var closed bool
	raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		n, err := unix.Poll(fds, 0)
		closed = err == nil && n > 0 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) != 0
	})
	return closed
}
