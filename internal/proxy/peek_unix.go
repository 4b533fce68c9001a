//go:build unix

package proxy

import (
	"net"
	"syscall"
)

// idlePeek looks at a pooled connection's socket without reading it. It
// is made once per connection (the raw connection and the callback would
// otherwise be allocated on every request).
type idlePeek struct {
	rc     syscall.RawConn
	fn     func(fd uintptr)
	usable bool
	buf    [1]byte
}

// newIdlePeek peeks at raw, the TCP connection (under TLS, if any).
func newIdlePeek(raw net.Conn) *idlePeek {
	sc, ok := raw.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	p := &idlePeek{rc: rc}
	p.fn = p.peek
	return p
}

func (p *idlePeek) peek(fd uintptr) {
	_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	// EAGAIN: nothing pending, the connection is clean. Success means
	// pending data or EOF; any other error, a broken connection.
	p.usable = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
}

// idleConnUsable reports whether a pooled connection can carry another
// request: nothing has arrived on it while it was idle. Any byte there is
// either the upstream closing (FIN, TLS close_notify, an alert) or an
// unsolicited response that must never be handed to the next client, so
// the connection is unusable. It costs one non-blocking recv(MSG_PEEK).
func (pc *fastConn) idleConnUsable() bool {
	p := pc.peek
	if p == nil {
		return true
	}
	p.usable = false
	// Control, not Read: the connection may keep a read deadline from
	// its last response (see flushAndRead), which Read would report.
	err := p.rc.Control(p.fn)
	return err == nil && p.usable
}
