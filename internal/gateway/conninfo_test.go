package gateway

import (
	"net"
	"strconv"
	"testing"
)

// TestConnSet: entries are found until deleted, and the map is rebuilt
// (smaller) after a burst without losing the connections still open.
func TestConnSet(t *testing.T) {
	var s connSet
	conns := make([]net.Conn, 4096)
	for i := range conns {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		conns[i] = a
		s.store(a, &connInfo{listener: strconv.Itoa(i)})
	}
	for i, c := range conns[:len(conns)-10] {
		s.delete(c)
		if i == len(conns)/2 && s.peak != len(conns) {
			t.Fatalf("rebuilt at half its peak (peak %d)", s.peak)
		}
	}
	if s.peak > 1024 {
		t.Fatalf("peak %d after deleting all but 10 of %d: not rebuilt", s.peak, len(conns))
	}
	for i, c := range conns[len(conns)-10:] {
		if ci := s.load(c); ci == nil || ci.listener != strconv.Itoa(len(conns)-10+i) {
			t.Fatalf("connection %d lost in the rebuild: %+v", i, ci)
		}
	}
	if len(s.snapshot()) != 10 || s.load(conns[0]) != nil {
		t.Fatal("snapshot or a deleted entry wrong after the rebuild")
	}
}
