package servertest

import (
	"testing"
	"time"
)

// Stall timeouts for the servers' stall-limit tests: Stall where the
// client stops, SteadyStall where it keeps moving with pauses well below
// it (a loaded CI machine may delay either side).
const (
	Stall       = 200 * time.Millisecond
	SteadyStall = time.Second
)

// Moved is what a test handler moved (bytes) and the error it got.
type Moved struct {
	N   int64
	Err error
}

// Await returns what a test handler reports on done, failing the test if
// nothing comes within 10s: what says what the handler was doing.
func Await(t testing.TB, done <-chan Moved, what string) Moved {
	t.Helper()
	select {
	case m := <-done:
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still blocked after 10s", what)
		return Moved{}
	}
}
