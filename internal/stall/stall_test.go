package stall

import (
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	const d = 16 * time.Second
	now := time.Now()
	for _, tc := range []struct {
		name      string
		cur, end  time.Time
		move      bool
		wantEnd   bool // the result is end
		wantAbout time.Duration
	}{
		{"none set", time.Time{}, time.Time{}, true, false, d},
		{"set a moment ago", now.Add(d - 100*time.Millisecond), time.Time{}, false, false, d},
		{"set more than d/16 ago", now.Add(d - 2*time.Second), time.Time{}, true, false, d},
		{"in the past", now.Add(-time.Second), time.Time{}, true, false, d},
		{"later than now+d", now.Add(2 * d), time.Time{}, true, false, d},
		{"end comes first", time.Time{}, now.Add(time.Second), true, true, 0},
		{"end already set", now.Add(time.Second), now.Add(time.Second), false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, move := Deadline(tc.cur, tc.end, d)
			if move != tc.move {
				t.Errorf("move %v, want %v", move, tc.move)
			}
			if tc.wantEnd {
				if !got.Equal(tc.end) {
					t.Errorf("deadline %v, want the end %v", got, tc.end)
				}
				return
			}
			if off := got.Sub(now) - tc.wantAbout; off < 0 || off > time.Second {
				t.Errorf("deadline %v from now, want about %v", got.Sub(now), tc.wantAbout)
			}
		})
	}
}

func TestWaitDeadline(t *testing.T) {
	const d = time.Second
	var start time.Time
	if got := WaitDeadline(time.Time{}, &start, 0); !got.IsZero() || !start.IsZero() {
		t.Fatalf("no stall timeout: %v (start %v)", got, start)
	}
	first := WaitDeadline(time.Time{}, &start, d)
	if start.IsZero() || !first.Equal(start) || time.Until(first) > d {
		t.Fatalf("first round: %v, start %v", first, start)
	}
	time.Sleep(10 * time.Millisecond)
	if again := WaitDeadline(time.Time{}, &start, d); !again.Equal(first) {
		t.Errorf("a later round of the same wait moved the deadline: %v -> %v", first, again)
	}
	soon := time.Now().Add(time.Millisecond)
	if got := WaitDeadline(soon, &start, d); !got.Equal(soon) {
		t.Errorf("an earlier own deadline was not kept: %v", got)
	}
	late := time.Now().Add(time.Hour)
	if got := WaitDeadline(late, &start, d); !got.Equal(start) {
		t.Errorf("the stall did not bound a later own deadline: %v", got)
	}
}
