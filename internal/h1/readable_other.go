//go:build !unix

package h1

// waitReadable cannot wait on the socket without reading here: the
// one-byte read that follows waits instead.
func (c *conn) waitReadable() bool { return true }
