//go:build unix

package h1

import "syscall"

// waitReadable blocks until the socket under the connection has something
// to read (data, EOF or an error), without reading it, or until the read
// deadline. A handed-off idle wait calls it before the one-byte read: the
// call chain of a TLS read is deep enough to grow the new goroutine's
// stack to 4 KiB, this one fits in the initial 2 KiB, and ten thousand
// idle connections keep 20 MiB less.
//
// Before a hand-off the grace wait's TLS read found no complete record
// buffered (it would have returned data otherwise), so whatever comes next
// arrives on the socket. Readability is tested with a non-blocking
// recv(MSG_PEEK) every time the poller wakes the wait, the first time
// included: the poller is edge-triggered and forgets an edge that came
// before the wait started. It returns false on the deadline or an error;
// where the socket cannot be reached it returns true and the read that
// follows waits instead.
func (c *conn) waitReadable() bool {
	sc, ok := c.rawConn().(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return rerr != syscall.EAGAIN && rerr != syscall.EWOULDBLOCK && rerr != syscall.EINTR
	})
	return err == nil
}
