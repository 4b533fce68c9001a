// Package ratelimit limits the request rate of each client of a route with a
// token bucket per client key, and writes the 429 answer's headers.
//
// # Model
//
// A Policy allows on average Requests per Per, with up to Burst at once: a
// client's bucket holds Burst tokens, each request takes one, and tokens come
// back one every Per/Requests (the emission interval). A client that has
// been idle long enough finds its bucket full again.
//
// The bucket is stored in the GCRA form ("generic cell rate algorithm",
// virtual scheduling): one int64 per key, the theoretical arrival time (TAT),
// the instant at which the bucket will be full again. With T the emission
// interval and τ = Burst·T, a request at now is admitted when
// max(TAT, now) + T − now ≤ τ, and then TAT becomes max(TAT, now) + T. All
// arithmetic is in integer nanoseconds, so the limiter is exact (no float
// drift) and cheap. T is Per/Requests rounded up to a whole nanosecond, so
// rounding can only make the limiter stricter, and then by less than a
// nanosecond per request.
//
// # Bounded memory
//
// Local, the in-memory Limiter, holds at most maxKeys keys, spread over up
// to 64 shards, each with its own lock and its own least-recently-used list.
// When a shard is full, a new key evicts an old one: among the 8 least
// recently used keys of the shard, the first whose bucket is already full
// again (forgetting it loses nothing), or failing that the one whose bucket
// is closest to full. Evicting a key forgets its bucket, so if that client
// comes back it starts with a full bucket: that is the price of the bound.
// Under normal load only idle keys are evicted and the price is zero; when
// more distinct keys are active than maxKeys, an evicted client can get up to
// one extra burst per eviction. Size maxKeys for the number of clients you
// expect to be active within one refill time (Burst·Per/Requests).
//
// Every Allow, refused or not, counts as a use for the LRU order, so a
// client that keeps hammering while refused stays held, empty bucket and all.
//
// Keys up to 64 bytes are stored as they are; longer keys are stored as a
// 128-bit keyed hash (two independent hash/maphash seeds chosen at
// start-up), so each key costs a bounded amount of memory whatever the
// caller passes. A long key shares a bucket with another key only if their
// hashes collide, which happens with probability about n²/2¹²⁹ for n keys,
// and an attacker cannot aim for a collision without knowing the seeds.
//
// Allow for a key already held does not allocate; a new key allocates once
// (its copy of the key string). Local is safe for concurrent use.
//
// # Time
//
// Callers pass now, normally time.Now(): then Local measures time on the
// monotonic clock and wall-clock steps do not matter. If now goes backwards
// anyway (fake clocks, mixed sources, goroutines racing to the lock), the
// step never adds tokens to a bucket. A step back shorter than the bucket's
// fill time just makes it look emptier; a longer one makes it empty as of
// the new now, and it refills from there at the normal rate, so that a
// client is not locked out for the length of the step. (A later step
// forward refills buckets, as any forward step does: Local cannot tell it
// from time passing.) Times more than about 73 years from the limiter's
// creation are clamped, which keeps every computation far from int64
// overflow.
//
// # Headers
//
// SetHeaders writes the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers-11 (23 May 2026), which are
// Structured Field Lists (RFC 9651) of a quoted policy name with
// parameters, and Retry-After (RFC 9110 §10.2.3) on a refusal:
//
//	RateLimit-Policy: "api";q=100;w=60
//	RateLimit: "api";r=0;t=1
//	Retry-After: 1
//
// # Limiter
//
// The Limiter interface is what the gateway depends on; Local is the
// single-process implementation, and a shared one (Redis) can implement the
// same interface for clusters.
package ratelimit
