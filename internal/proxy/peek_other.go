//go:build !unix

package proxy

import "net"

// idleConnUsable cannot peek at the socket here; the retry on a closed idle
// connection still applies.
func idleConnUsable(net.Conn) bool { return true }
