//go:build !unix

package proxy

import "net"

// idlePeek is unused here: the socket cannot be peeked at.
type idlePeek struct{}

func newIdlePeek(net.Conn) *idlePeek { return nil }

// idleConnUsable cannot peek at the socket here; the retry on a closed idle
// connection still applies.
func (pc *fastConn) idleConnUsable() bool { return true }
