package stats_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/stats"
)

func Example() {
	now := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	s := stats.New(stats.Options{Now: func() time.Time { return now }})

	// In the gateway, once per request:
	s.Record("legacy-orders", "CN=billing,O=Example", 200, 40*time.Millisecond, 0, 512)
	s.Record("legacy-orders", "CN=billing,O=Example", 200, 40*time.Millisecond, 0, 512)
	s.Record("legacy-orders", "", 401, 80*time.Microsecond, 0, 0)

	// Who still calls the deprecated route?
	r := s.Snapshot(stats.Query{Window: time.Hour, Route: "legacy-orders"})
	for _, id := range r.Routes[0].Identities {
		fmt.Printf("%s: %d requests, %d errors\n", id.Identity, id.Requests, id.Errors.S4xx+id.Errors.S5xx)
	}
	b, _ := json.Marshal(r)
	fmt.Println(string(b))
	// Output:
	// CN=billing,O=Example: 2 requests, 0 errors
	// (anonymous): 1 requests, 1 errors
	// {"window":"1h0m0s","from":"2026-03-01T11:00:00Z","to":"2026-03-01T12:00:30Z","routes":[{"route":"legacy-orders","requests":3,"errors":{"4xx":1,"5xx":0},"status":{"2xx":2,"3xx":0,"4xx":1,"5xx":0},"latency_ms":{"p50":39.735512,"p95":39.735512,"p99":39.735512},"bytes_in":0,"bytes_out":1024,"identities":[{"identity":"CN=billing,O=Example","requests":2,"errors":{"4xx":0,"5xx":0},"status":{"2xx":2,"3xx":0,"4xx":0,"5xx":0},"latency_ms":{"p50":39.735512,"p95":39.735512,"p99":39.735512},"bytes_in":0,"bytes_out":1024},{"identity":"(anonymous)","requests":1,"errors":{"4xx":1,"5xx":0},"status":{"2xx":0,"3xx":0,"4xx":1,"5xx":0},"latency_ms":{"p50":0.077608,"p95":0.077608,"p99":0.077608},"bytes_in":0,"bytes_out":0}],"identities_truncated":false}]}
}
