// Package stall computes the deadlines of stall timeouts: limits on how
// long one read or write may make no progress, as opposed to a limit on a
// whole request or response. nginx's client_body_timeout and send_timeout
// are timeouts of this kind.
package stall

import "time"

// Deadline returns the deadline for a read or write starting now under
// the stall timeout d, never past end (zero: none), and whether the
// deadline currently set, cur (zero: none), must move to it. A deadline
// set less than d/16 ago is kept, so it may end up to d/16 early: on a
// busy connection that saves moving a runtime timer for every read or
// write.
func Deadline(cur, end time.Time, d time.Duration) (time.Time, bool) {
	want := time.Now().Add(d)
	if !end.IsZero() && end.Before(want) {
		want = end
	}
	return want, cur.IsZero() || cur.After(want) || cur.Before(want.Add(-d/16))
}

// WaitDeadline returns the deadline of a wait for data or window that
// may last d (none when d <= 0) from its first round, and not past dl
// (zero: none). *start holds when the wait's stall ends: zero before the
// first round, which sets it.
func WaitDeadline(dl time.Time, start *time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return dl
	}
	if start.IsZero() {
		*start = time.Now().Add(d)
	}
	if dl.IsZero() || start.Before(dl) {
		return *start
	}
	return dl
}
