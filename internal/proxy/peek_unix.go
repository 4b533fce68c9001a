//go:build unix

package proxy

import (
	"crypto/tls"
	"net"
	"syscall"
)

// idleConnUsable reports whether a pooled connection can carry another
// request: nothing has arrived on it while it was idle. Any byte there is
// either the upstream closing (FIN, TLS close_notify, an alert) or an
// unsolicited response that must never be handed to the next client, so
// the connection is unusable. It costs one non-blocking recv(MSG_PEEK).
func idleConnUsable(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	usable := false
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// EAGAIN: nothing pending, the connection is clean. Success means
		// pending data or EOF; any other error, a broken connection.
		usable = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
		return true // never wait for readability
	})
	return err == nil && usable
}
