package proxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// FuzzAppendRequestHead feeds the upstream request serialiser requests
// that net/http's server could hand it (valid header names and values, any
// path and query) and checks that the result is exactly one well-formed
// request whose headers never include client-sent identity, forwarding or
// hop-by-hop headers.
func FuzzAppendRequestHead(f *testing.F) {
	f.Add("GET", "/a/b", "q=1", "X-Test", "v", "api.example.com")
	f.Add("POST", "/a b", "x=%0d%0a", "Client-Cert", ":Zm9v:", "h")
	f.Add("DELETE", "/\x7f", "", "X_Forwarded_For", "6.6.6.6", "h:1")
	f.Add("GET", "/", "a\r\nInjected: 1", "Connection", "X-Test", "h")
	f.Fuzz(func(t *testing.T, method, path, query, name, value, host string) {
		if !validToken(method) || !validToken(name) || !validValue(value) || !validValue(host) || host == "" {
			return // net/http's server rejects these before a handler runs
		}
		target, _ := url.Parse("http://upstream.internal:8080/base")
		h := &routeHandler{opts: RouteOptions{Upstream: &Upstream{Name: "u", Target: target}, Format: identity.FormatNone}}
		r := &http.Request{Method: method, URL: &url.URL{Path: "/" + strings.TrimPrefix(path, "/"), RawQuery: query},
			Header: http.Header{http.CanonicalHeaderKey(name): {value}}, Host: host, RemoteAddr: "192.0.2.1:1234"}
		head := h.appendRequestHead(nil, r)
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("serialised request does not parse: %v\n%q", err, head)
		}
		if req.Method != method || req.Host != "upstream.internal:8080" {
			t.Fatalf("method/host changed: %q %q\n%q", req.Method, req.Host, head)
		}
		for k := range req.Header {
			if identity.IsProtectedHeader(k) {
				t.Fatalf("identity header %q reached the upstream\n%q", k, head)
			}
		}
		if got := req.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "192.0.2.1" {
			t.Fatalf("X-Forwarded-For %v\n%q", got, head)
		}
		if n := bytes.Count(head, []byte("\r\n\r\n")); n != 1 {
			t.Fatalf("%d header terminators: request smuggled\n%q", n, head)
		}
	})
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
