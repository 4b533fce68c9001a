package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestStalledClientsAreCutOff: with the listener's stall timeouts low, a
// client that stops sending its request body gets 408 on each proxy path
// (buffered, streamed, chunked through ReverseProxy), and one that stops
// reading a large response loses its connection, while the gateway goes
// on serving others.
func TestStalledClientsAreCutOff(t *testing.T) {
	t.Parallel()
	cfg := strings.Replace(baseConfig, "      client_auth: {{CLIENT_AUTH}}\n",
		"      client_auth: {{CLIENT_AUTH}}\n    limits: {body_stall_timeout: 300ms, send_stall_timeout: 300ms}\n", 1)
	e := newEnv(t, cfg, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice"})
	dial := func(t *testing.T) net.Conn {
		conf := e.p.tlsClientConfig(alice.leaf, "localhost")
		conf.NextProtos = []string{"http/1.1"}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.g.Addr("public"), conf)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return c
	}

	for _, tc := range []struct{ name, framing, body string }{
		{"buffered body", "Content-Length: 100", "0123456789"},
		{"streamed body", "Content-Length: 1000000", "0123456789"},
		{"chunked body", "Transfer-Encoding: chunked", "a\r\n0123456789\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t)
			fmt.Fprintf(c, "POST /api/any/stall HTTP/1.1\r\nHost: localhost\r\n%s\r\n\r\n%s", tc.framing, tc.body)
			start := time.Now()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no response to a stalled body: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "request_body_timeout") {
				t.Fatalf("status %d, body %s; want 408 request_body_timeout", resp.StatusCode, b)
			}
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("answered after %v", el)
			}
		})
	}
	// One access log line with the reason for each of the three paths.
	deadline := time.Now().Add(tenSeconds)
	for {
		n := 0
		for _, m := range e.g.stdout.JSON() {
			if m["status"] == float64(http.StatusRequestTimeout) && m["reason"] == "request_body_timeout" {
				n++
			}
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d access log lines with status 408 and reason request_body_timeout, want 3:\n%s", n, e.g.stdout)
		}
		time.Sleep(50 * time.Millisecond)
	}

	t.Run("response not read", func(t *testing.T) {
		c := dial(t)
		c.(*tls.Conn).NetConn().(*net.TCPConn).SetReadBuffer(64 << 10)
		const size = 256 << 20
		fmt.Fprintf(c, "GET /api/any/big?size=%d HTTP/1.1\r\nHost: localhost\r\n\r\n", size)
		time.Sleep(2 * time.Second) // the gateway's writes stall meanwhile
		n, err := io.Copy(io.Discard, c)
		if n >= size {
			t.Fatalf("read %d bytes (%v): the stalled connection was kept", n, err)
		}
		r := e.curl(&alice, "/api/any/after", "--http1.1")
		expect(t, "after a stalled client", r, 200)
	})
}
