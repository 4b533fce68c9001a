package e2e

import (
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// headerDump renders h without the named fields, sorted, for comparison.
func headerDump(h http.Header, skip ...string) string {
	var lines []string
	for k, vs := range h {
		if contains(skip, k) {
			continue
		}
		lines = append(lines, k+": "+strings.Join(vs, " | "))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// TestBodylessAndBodyPathsAgree is a differential test of the two ways the
// gateway proxies: HTTP/1.1 requests without a body take a hand-written
// fast path, requests with one go through httputil.ReverseProxy. For the same request
// shape both must send the upstream the same request line and headers
// (hop-by-hop fields removed, TE: trailers kept, repeated fields in order,
// escaped paths and queries intact), and give the client the same response
// headers (the upstream's hop-by-hop fields removed).
func TestBodylessAndBodyPathsAgree(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})
	cases := []struct {
		name, path string
		headers    []string
	}{
		{"plain", "/api/any/plain", nil},
		{"query", "/api/any/q?a=1&b=two%20words&c=%2F&d=a+b&e=%26", nil},
		{"escaped path", "/api/any/a%2Fb/c%20d/%C3%A9", nil},
		{"connection-listed header", "/api/any/conn", []string{"Connection: keep-alive, X-Drop-Me", "X-Drop-Me: 1", "Keep-Alive: timeout=99"}},
		{"te trailers", "/api/any/te", []string{"TE: trailers"}},
		{"repeated field", "/api/any/multi", []string{"X-Multi: a", "X-Multi: b", "Accept: text/plain"}},
		{"upstream hop-by-hop response", "/api/any/hop", []string{"X-Test-Hop: 1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			type view struct {
				uri, reqHeaders, respHeaders string
			}
			views := map[string]view{}
			for _, method := range []string{"GET", "POST"} {
				args := []string{"--http1.1", "--path-as-is"}
				if method == "POST" {
					args = append(args, "--data-binary", "body")
				}
				for _, h := range tc.headers {
					args = append(args, "-H", h)
				}
				e.up.Reset()
				r := e.curl(&alice, tc.path, args...)
				expect(t, method, r, 200)
				seen := e.up.Last()
				if seen == nil || seen.Method != method {
					t.Fatalf("%s: upstream saw %+v", method, seen)
				}
				if seen.RequestURI != tc.path {
					t.Errorf("%s: upstream request-target %q, want %q", method, seen.RequestURI, tc.path)
				}
				for _, hop := range []string{"X-Drop-Me", "Connection", "Keep-Alive"} {
					if v := seen.Header.Values(hop); len(v) > 0 {
						t.Errorf("%s: hop-by-hop %s reached the upstream: %q", method, hop, v)
					}
				}
				for _, hop := range []string{"X-Hop-Secret", "Keep-Alive"} {
					if v := r.header.Values(hop); len(v) > 0 {
						t.Errorf("%s: upstream hop-by-hop %s reached the client: %q", method, hop, v)
					}
				}
				views[method] = view{
					uri:         seen.RequestURI,
					reqHeaders:  headerDump(seen.Header, "Content-Length", "Content-Type"),
					respHeaders: headerDump(r.header, "Date", "Content-Length"),
				}
			}
			g, p := views["GET"], views["POST"]
			if g.uri != p.uri {
				t.Errorf("request-target differs: GET %q, POST %q", g.uri, p.uri)
			}
			if g.reqHeaders != p.reqHeaders {
				t.Errorf("upstream request headers differ:\nGET (fast path):\n%s\n\nPOST (ReverseProxy):\n%s", g.reqHeaders, p.reqHeaders)
			}
			if g.respHeaders != p.respHeaders {
				t.Errorf("client response headers differ:\nGET (fast path):\n%s\n\nPOST (ReverseProxy):\n%s", g.respHeaders, p.respHeaders)
			}
		})
	}
}

// TestResponseShapesThroughBothPaths: statuses without a body (204, 304),
// error statuses with one, large fixed-length and streamed bodies with
// trailers reach the client intact on both proxy paths (GET: fast path;
// POST with a body: ReverseProxy), and HEAD keeps the upstream connection
// usable for the requests that follow.
func TestResponseShapesThroughBothPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice"})
	cases := []struct {
		query   string
		status  int
		size    int
		trailer string
	}{
		{"?status=204", 204, 0, ""},
		{"?status=304", 304, 0, ""},
		{"?status=404&size=5", 404, 5, ""},
		{"?size=300000", 200, 300000, ""},
		{"?size=300000&chunked=1&trailer=1", 200, 300000, "size-300000"},
	}
	for _, tc := range cases {
		for _, method := range []string{"GET", "POST", "HEAD"} {
			args := []string{"--http1.1", "-X", method}
			switch method {
			case "POST":
				args = append(args, "--data-binary", "x")
			case "HEAD":
				args = []string{"--http1.1", "--head"}
			}
			r := e.curl(&alice, "/api/any/shape"+tc.query, args...)
			what := method + " " + tc.query
			expect(t, what, r, tc.status)
			if method == "HEAD" {
				continue // curl writes the head to the body file
			}
			if len(r.body) != tc.size || strings.Trim(r.body, "x") != "" {
				t.Errorf("%s: body of %d bytes, want %d", what, len(r.body), tc.size)
			}
			if got := r.trailer.Get("X-Checksum"); got != tc.trailer {
				t.Errorf("%s: trailer X-Checksum %q, want %q", what, got, tc.trailer)
			}
		}
	}
}

// TestRegressionEarlyHintsDroppedOnFastPath — regression test (protocol; minor) for a gateway bug found by this suite and fixed. RFC 9110 §15.2: "A proxy MUST forward 1xx
// responses unless the proxy itself requested [them]". The ReverseProxy
// path forwards an upstream's 103 Early Hints; the body-less fast path
// drops it (internal/proxy/fast.go flushAndRead: "1xx informational (103
// Early Hints, …): skip to the final answer"), so the same resource behaves
// differently for GET and POST.
func TestRegressionEarlyHintsDroppedOnFastPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice"})
	for _, method := range []string{"POST", "GET"} {
		args := []string{"--http1.1", "-X", method}
		if method == "POST" {
			args = append(args, "--data-binary", "x")
		}
		r := e.curl(&alice, "/api/any/hints?early=1&size=2", args...)
		expect(t, method, r, 200)
		if len(r.informational) != 1 || r.informational[0] != 103 {
			t.Errorf("%s: the client received 1xx responses %v, want [103] as the upstream sent", method, r.informational)
		}
	}
}
