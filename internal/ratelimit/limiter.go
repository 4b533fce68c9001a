package ratelimit

import "time"

// Decision is the outcome of one Allow call.
type Decision struct {
	Allowed bool
	// Limit is the bucket's capacity (the policy's effective Burst).
	Limit int
	// Remaining is the number of whole tokens left after this request.
	Remaining int
	// Reset is the time until the bucket is full again.
	Reset time.Duration
	// RetryAfter is, when refused, the time until one token is available;
	// 0 when allowed.
	RetryAfter time.Duration
}

// Limiter decides whether a client may make a request now.
//
// Implementations must be safe for concurrent use. Local is the in-memory
// implementation; a cluster-wide one can be added behind the same interface.
type Limiter interface {
	// Allow takes one token for key at now. A refused request takes
	// nothing.
	Allow(key string, now time.Time) Decision
}
