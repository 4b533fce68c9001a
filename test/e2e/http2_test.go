package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// hostsConfig has two virtual hosts on one listener that differ in their
// client-certificate requirement.
const hostsConfig = `listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
      cert: gateway.pem
      key: gateway.key
      client_ca: clients-ca.pem
      client_auth: request
upstreams:
  - name: orders
    url: {{UPSTREAM}}
    tls:
      cert: gw-client.pem
      key: gw-client.key
      ca: backend-ca.pem
      server_name: orders.internal
routes:
  - name: strict
    match: {host: strict.example.com, path_prefix: /}
    upstream: orders
    client_cert: required
    allow: [{cn: alice}]
  - name: open
    match: {host: open.example.com, path_prefix: /}
    upstream: orders
    client_cert: none
`

// TestHTTP2CrossHostWithCurl: curl opens an HTTP/2 connection for
// open.example.com (no certificate needed) and asks for strict.example.com
// on it; the gateway answers 421 and does not call the upstream.
func TestHTTP2CrossHostWithCurl(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hostsConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice"})
	port := e.g.Port()
	resolve := []string{"--http2", "--resolve", "open.example.com:" + port + ":127.0.0.1",
		"--resolve", "strict.example.com:" + port + ":127.0.0.1", "--cacert", e.p.path("server-ca.pem")}
	open := "https://open.example.com:" + port + "/x"
	strict := "https://strict.example.com:" + port + "/x"

	r := runCurl(t, append(resolve, open)...)
	expect(t, "open host", r, 200)
	if r.httpVersion != "2" {
		t.Fatalf("curl used HTTP/%s; the test needs HTTP/2", r.httpVersion)
	}
	e.up.Reset()
	for _, host := range []string{"strict.example.com", "strict.example.com:" + port, "STRICT.example.com."} {
		r = runCurl(t, append(resolve, "-H", "Host: "+host, open)...)
		prob := expectProblem(t, "Host "+host+" on an open.example.com connection", r, 421, "misdirected")
		if prob["route"] != "strict" {
			t.Errorf("421 names route %v, want strict", prob["route"])
		}
	}
	// The same over HTTP/1.1: a Host that differs from the SNI.
	r = runCurl(t, "--http1.1", "--resolve", "open.example.com:"+port+":127.0.0.1", "--cacert", e.p.path("server-ca.pem"),
		"-H", "Host: strict.example.com", open)
	expectProblem(t, "HTTP/1.1 Host strict.example.com with SNI open.example.com", r, 421, "misdirected")
	// Even a client whose certificate the strict host would accept must open
	// a connection for it.
	r = runCurl(t, append(resolve, "--cert", alice.cert, "--key", alice.key, "-H", "Host: strict.example.com", open)...)
	expectProblem(t, "alice on an open.example.com connection", r, 421, "misdirected")
	if e.up.Last() != nil {
		t.Errorf("upstream called for a misdirected request: %+v", e.up.Last())
	}
	// The right connection works.
	expect(t, "alice on strict", runCurl(t, append(resolve, "--cert", alice.cert, "--key", alice.key, strict)...), 200)
	expectProblem(t, "no cert on strict", runCurl(t, append(resolve, strict)...), 401, "client_cert_required")
}

// TestHTTP2ConnectionReuseAcrossHosts: a Go client sends requests for two
// hosts over one HTTP/2 connection (as browsers coalesce connections whose
// certificate covers both names). The connection was opened with SNI
// open.example.com; the request for strict.example.com gets 421, in both
// directions.
func TestHTTP2ConnectionReuseAcrossHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, hostsConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice"})
	addr, port := e.g.Addr("public"), e.g.Port()

	// oneConn opens exactly one HTTP/2 connection with the given SNI.
	oneConn := func(sni string, withCert bool) *http.ClientConn {
		t.Helper()
		var leaf *testpki.Leaf
		if withCert {
			leaf = alice.leaf
		}
		tr := &http.Transport{
			TLSClientConfig: e.p.tlsClientConfig(leaf, sni),
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			},
			Protocols: new(http.Protocols),
		}
		tr.Protocols.SetHTTP2(true)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cc, err := tr.NewClientConn(ctx, "https", sni+":"+port)
		if err != nil {
			t.Fatalf("HTTP/2 connection with SNI %s: %v", sni, err)
		}
		t.Cleanup(func() { _ = cc.Close() })
		return cc
	}
	get := func(cc *http.ClientConn, host string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+host+":"+port+"/x", nil)
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatalf("GET %s: %v", host, err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.ProtoMajor != 2 {
			t.Fatalf("GET %s used %s; the test needs HTTP/2", host, resp.Proto)
		}
		return resp.StatusCode
	}

	cc := oneConn("open.example.com", true)
	if s := get(cc, "open.example.com"); s != 200 {
		t.Fatalf("open.example.com on its own connection: %d, want 200", s)
	}
	if s := get(cc, "strict.example.com"); s != 421 {
		t.Errorf("strict.example.com on the open.example.com connection: %d, want 421", s)
	}
	if s := get(cc, "open.example.com"); s != 200 {
		t.Errorf("open.example.com after the 421: %d, want 200 (the connection stays usable)", s)
	}

	cc = oneConn("strict.example.com", true)
	if s := get(cc, "strict.example.com"); s != 200 {
		t.Fatalf("strict.example.com with alice on its own connection: %d, want 200", s)
	}
	if s := get(cc, "open.example.com"); s != 421 {
		t.Errorf("open.example.com on the strict.example.com connection: %d, want 421", s)
	}
}
