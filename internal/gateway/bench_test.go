package gateway

import (
	"io"
	"net/http"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// BenchmarkProxyKeepalive measures the whole keep-alive request path in one
// process: client -> TLS -> route -> policy -> RFC 9440 headers -> upstream
// and back. Client and upstream share the CPU with the gateway, so use it for
// profiles and allocation counts, not for absolute rates (see bench/).
func BenchmarkProxyKeepalive(b *testing.B) {
	e := newBenchEnv(b)
	alice := e.clients.Issue(b, testpki.Options{CN: "alice"})
	c := e.benchClient(alice)
	url := e.url("/secure/x")
	b.ReportAllocs()
	b.SetParallelism(16) // enough requests in flight to be CPU-bound, not latency-bound
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

func (e *env) benchClient(leaf *testpki.Leaf) *http.Client {
	c := e.client(leaf, false, nil)
	c.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	return c
}
