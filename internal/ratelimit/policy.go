package ratelimit

import (
	"errors"
	"fmt"
	"time"
)

// Bounds enforced by Policy.Validate.
const (
	// MaxRequests bounds Policy.Requests. With Per at least a second it
	// keeps the emission interval at least a nanosecond; no per-client limit
	// of a gateway comes anywhere near it.
	MaxRequests = 1_000_000_000
	// MaxBurst bounds Policy.Burst for the same reason.
	MaxBurst = 1_000_000_000
	// MinPer is the shortest window. The RateLimit-Policy "w" parameter is a
	// whole number of seconds (draft-ietf-httpapi-ratelimit-headers-11
	// §3.1.3: sub-second precision is not supported), so windows are whole
	// seconds; a faster rate is written as more requests per second.
	MinPer = time.Second
	// MaxPer is the longest window. Local keeps its state in memory, loses it
	// on restart and on eviction, and reports Reset to clients: longer
	// windows are quotas (billing, daily caps) that need durable shared
	// storage, not a protection limiter. The draft (§8.5) also warns that
	// large windows invite bursts.
	MaxPer = 24 * time.Hour
	// MaxFill bounds the time an empty bucket takes to fill up again,
	// Burst·Per/Requests. Beyond a month the bucket is a quota, not a rate
	// limit; the bound also keeps all arithmetic far from int64 overflow.
	MaxFill = 30 * 24 * time.Hour
)

// ErrInvalidPolicy is wrapped by every error Policy.Validate returns.
var ErrInvalidPolicy = errors.New("ratelimit: invalid policy")

// Policy allows on average Requests per Per, with up to Burst at once.
//
// Burst 0 means Burst = Requests: a client that has been idle for Per may
// spend the whole window's allowance at once. A smaller Burst smooths the
// traffic (Requests 100, Per 1m, Burst 20: at most 20 back to back, then
// one every 600ms).
type Policy struct {
	// Name identifies the policy in the RateLimit and RateLimit-Policy
	// headers. It is free text; SetHeaders sanitizes it.
	Name     string
	Requests int
	Per      time.Duration
	Burst    int
}

// Validate reports every problem with p, each wrapping ErrInvalidPolicy
// (combined with errors.Join), or nil. See the Max* and MinPer constants for
// the bounds and why they are what they are.
func (p Policy) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidPolicy}, args...)...))
	}
	if p.Requests < 1 || p.Requests > MaxRequests {
		bad("requests must be between 1 and %d, got %d", MaxRequests, p.Requests)
	}
	switch {
	case p.Per < MinPer || p.Per > MaxPer:
		bad("per must be between %v and %v, got %v", MinPer, MaxPer, p.Per)
	case p.Per%time.Second != 0:
		bad("per must be a whole number of seconds, got %v", p.Per)
	}
	if p.Burst < 0 || p.Burst > MaxBurst {
		bad("burst must be between 0 (same as requests) and %d, got %d", MaxBurst, p.Burst)
	}
	if len(errs) == 0 {
		// burst·interval ≤ MaxFill, written so that it cannot overflow.
		if b, iv := p.burst(), p.interval(); iv > MaxFill/time.Duration(b) {
			bad("burst %d takes %v to refill at %d per %v, more than %v",
				b, time.Duration(b)*iv, p.Requests, p.Per, MaxFill)
		}
	}
	return errors.Join(errs...)
}

// burst is the bucket capacity: Burst, or Requests when Burst is 0.
func (p Policy) burst() int {
	if p.Burst == 0 {
		return p.Requests
	}
	return p.Burst
}

// interval is the emission interval Per/Requests, rounded up to a whole
// nanosecond so that rounding never admits more than the policy says.
// Only meaningful for a valid policy.
func (p Policy) interval() time.Duration {
	r := time.Duration(p.Requests)
	return (p.Per + r - 1) / r
}
