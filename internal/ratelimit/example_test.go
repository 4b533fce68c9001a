package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ratelimit"
)

func Example() {
	// rate_limit: {requests: 2, per: 1s, burst: 2, key: identity}
	policy := ratelimit.Policy{Name: "orders", Requests: 2, Per: time.Second, Burst: 2}
	local, err := ratelimit.NewLocal(policy, 100_000)
	if err != nil {
		panic(err)
	}
	var limiter ratelimit.Limiter = local

	// The gateway passes time.Now(); a fixed clock keeps the output stable.
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	serve := func(key string, at time.Time) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		d := limiter.Allow(key, at)
		ratelimit.SetHeaders(rec.Header(), policy, d)
		if !d.Allowed {
			rec.WriteHeader(http.StatusTooManyRequests)
			return rec
		}
		rec.WriteHeader(http.StatusOK) // in the gateway: proxy the request
		return rec
	}

	client := "spiffe://example.org/billing"
	for i, at := range []time.Time{now, now, now, now.Add(500 * time.Millisecond)} {
		rec := serve(client, at)
		fmt.Printf("%d: %d RateLimit: %s", i+1, rec.Code, rec.Header().Get("RateLimit"))
		if ra := rec.Header().Get("Retry-After"); ra != "" {
			fmt.Printf(" Retry-After: %s", ra)
		}
		fmt.Println()
	}
	fmt.Println("RateLimit-Policy:", serve("another client", now).Header().Get("RateLimit-Policy"))
	fmt.Println("keys held:", local.Len())
	// Output:
	// 1: 200 RateLimit: "orders";r=1;t=1
	// 2: 200 RateLimit: "orders";r=0;t=1
	// 3: 429 RateLimit: "orders";r=0;t=1 Retry-After: 1
	// 4: 200 RateLimit: "orders";r=0;t=1
	// RateLimit-Policy: "orders";q=2;w=1
	// keys held: 2
}

func ExampleSetHeaders() {
	p := ratelimit.Policy{Name: "api", Requests: 100, Per: time.Minute, Burst: 20}
	h := http.Header{}
	ratelimit.SetHeaders(h, p, ratelimit.Decision{
		Allowed: false, Limit: 20, Remaining: 0,
		Reset: 12 * time.Second, RetryAfter: 600 * time.Millisecond,
	})
	for _, k := range []string{"RateLimit-Policy", "RateLimit", "Retry-After"} {
		fmt.Printf("%s: %s\n", k, h.Get(k))
	}
	// Output:
	// RateLimit-Policy: "api";q=100;w=60
	// RateLimit: "api";r=0;t=1
	// Retry-After: 1
}
