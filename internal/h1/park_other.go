//go:build !linux

package h1

// parker is Linux-only (epoll); elsewhere an idle connection keeps its
// goroutine.
type parker struct{}

func (p *parker) park(*conn) bool   { return false }
func (p *parker) unpark(*conn) bool { return false }
func (p *parker) close()            {}
