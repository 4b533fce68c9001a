package h1

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestParseRules sends raw requests and checks the status, and for
// accepted ones what the handler saw.
func TestParseRules(t *testing.T) {
	rec := &recorder{}
	srv := &Server{Handler: rec, MaxHeaderBytes: 4096, ErrorLog: discardLogger()}
	ts := startServer(t, srv, nil)

	const h = "Host: example.com\r\n"
	long := strings.Repeat("a", 9000)
	tests := []struct {
		name   string
		raw    string
		status int
		check  func(t *testing.T, s snapshot)
	}{
		// Accepted.
		{"simple", "GET / HTTP/1.1\r\n" + h + "\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "method", s.Method, "GET")
			want(t, "uri", s.RequestURI, "/")
			want(t, "host", s.Host, "example.com")
			want(t, "proto", s.Proto, "HTTP/1.1")
			want(t, "host header removed", len(s.Header["Host"]), 0)
			want(t, "close", s.Close, false)
		}},
		{"canonical names", "GET / HTTP/1.1\r\nhost: a\r\nx-foo-BAR: 1\r\nACCEPT: */*\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "X-Foo-Bar", s.Header.Get("X-Foo-Bar"), "1")
			want(t, "keys", sortedKeys(s.Header), "Accept,X-Foo-Bar")
			want(t, "host", s.Host, "a")
		}},
		{"OWS trimmed", "GET / HTTP/1.1\r\nHost:a\r\nX: \t v w \t\r\nY:\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "X", s.Header["X"], []string{"v w"})
			want(t, "Y", s.Header["Y"], []string{""})
		}},
		{"repeated fields keep order", "GET / HTTP/1.1\r\n" + h + "A: 1\r\nB: x\r\na: 2\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "A", s.Header["A"], []string{"1", "2"})
		}},
		{"obs-text value", "GET / HTTP/1.1\r\n" + h + "X: caf\xc3\xa9\r\n\r\n", 200, nil},
		{"query", "GET /p/a;b?x=1&y=%zz HTTP/1.1\r\n" + h + "\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "path", s.URLParts.Path, "/p/a;b")
			want(t, "query", s.URLParts.RawQuery, "x=1&y=%zz")
		}},
		{"escaped path", "GET /a%2Fb%20c HTTP/1.1\r\n" + h + "\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "path", s.URLParts.Path, "/a/b c")
			want(t, "rawpath", s.URLParts.RawPath, "/a%2Fb%20c")
		}},
		{"force query", "GET /a? HTTP/1.1\r\n" + h + "\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "forcequery", s.URLParts.ForceQuery, true)
			want(t, "url", s.URL, "/a?")
		}},
		{"absolute-form", "GET http://Origin.example:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "host", s.Host, "Origin.example:8080")
			want(t, "url host", s.URLParts.Host, "Origin.example:8080")
			want(t, "scheme", s.URLParts.Scheme, "http")
			want(t, "path", s.URLParts.Path, "/p")
			want(t, "uri", s.RequestURI, "http://Origin.example:8080/p?q")
		}},
		{"absolute-form https no path", "GET HTTPS://a.example HTTP/1.1\r\n" + h + "\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "host", s.Host, "a.example")
			want(t, "scheme", s.URLParts.Scheme, "https")
		}},
		{"asterisk", "OPTIONS * HTTP/1.1\r\n" + h + "\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "path", s.URLParts.Path, "*")
		}},
		{"connect", "CONNECT backend.example:443 HTTP/1.1\r\nHost: backend.example:443\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "host", s.Host, "backend.example:443")
			want(t, "url host", s.URLParts.Host, "backend.example:443")
			want(t, "path", s.URLParts.Path, "")
		}},
		{"connect ipv6", "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", 200, nil},
		{"http/1.0 without host", "GET / HTTP/1.0\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "proto", s.Proto, "HTTP/1.0")
			want(t, "close", s.Close, true)
			want(t, "host", s.Host, "")
		}},
		{"leading empty lines", "\r\n\r\nGET / HTTP/1.1\r\n" + h + "\r\n", 200, nil},
		{"content-length", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5\r\n\r\nhello", 200, func(t *testing.T, s snapshot) {
			want(t, "cl", s.ContentLength, int64(5))
			want(t, "body", s.Body, "hello")
			want(t, "cl header", s.Header.Get("Content-Length"), "5")
		}},
		{"content-length leading zeros", "POST / HTTP/1.1\r\n" + h + "Content-Length: 005\r\n\r\nhello", 200, func(t *testing.T, s snapshot) {
			want(t, "cl", s.ContentLength, int64(5))
			want(t, "body", s.Body, "hello")
		}},
		{"content-length duplicate same", "POST / HTTP/1.1\r\n" + h + "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 200, func(t *testing.T, s snapshot) {
			want(t, "cl header", s.Header["Content-Length"], []string{"3"})
		}},
		{"content-length zero", "POST / HTTP/1.1\r\n" + h + "Content-Length: 0\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "cl", s.ContentLength, int64(0))
		}},
		{"chunked", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "cl", s.ContentLength, int64(-1))
			want(t, "te", s.TransferEncoding, []string{"chunked"})
			want(t, "te header removed", len(s.Header["Transfer-Encoding"]), 0)
			want(t, "body", s.Body, "hello")
		}},
		{"chunked case-insensitive", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: ChUnKeD\r\n\r\n0\r\n\r\n", 200, nil},
		{"chunked ext and hex", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n00A;a=b;c=\"q\\\"x\" ; d\r\n0123456789\r\n0;z\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "body", s.Body, "0123456789")
		}},
		{"chunked trailers", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nTrailer: x-sum, Expires\r\n\r\n3\r\nabc\r\n0\r\nx-sum: 42\r\nContent-Length: 9\r\nExpires: never\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "body", s.Body, "abc")
			want(t, "trailer", s.Trailer, http.Header{"X-Sum": {"42"}, "Expires": {"never"}})
			want(t, "trailer header removed", len(s.Header["Trailer"]), 0)
		}},
		{"expect 100-continue http/1.0 ignored", "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", 200, nil},
		{"pragma implies cache-control", "GET / HTTP/1.1\r\n" + h + "Pragma: no-cache\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "cc", s.Header.Get("Cache-Control"), "no-cache")
		}},
		{"connection close", "GET / HTTP/1.1\r\n" + h + "Connection: Keep-Alive, CLOSE\r\n\r\n", 200, func(t *testing.T, s snapshot) {
			want(t, "close", s.Close, true)
		}},
		{"empty host 1.1", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 200, nil},
		{"lowercase method token", "get / HTTP/1.1\r\n" + h + "\r\n", 200, nil},

		// Request line.
		{"bare LF", "GET / HTTP/1.1\n" + h + "\r\n", 400, nil},
		{"bare LF in headers", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400, nil},
		{"bare CR in value", "GET / HTTP/1.1\r\n" + h + "X: a\rb\r\n\r\n", 400, nil},
		{"CR CR LF", "GET / HTTP/1.1\r\r\n" + h + "\r\n", 400, nil},
		{"NUL in value", "GET / HTTP/1.1\r\n" + h + "X: a\x00b\r\n\r\n", 400, nil},
		{"NUL in name", "GET / HTTP/1.1\r\n" + h + "X\x00: a\r\n\r\n", 400, nil},
		{"NUL in target", "GET /\x00 HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"DEL in value", "GET / HTTP/1.1\r\n" + h + "X: a\x7fb\r\n\r\n", 400, nil},
		{"vertical tab in value", "GET / HTTP/1.1\r\n" + h + "X: \x0bb\r\n\r\n", 400, nil},
		{"double space", "GET  / HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"tab separator", "GET\t/ HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"trailing space", "GET / HTTP/1.1 \r\n" + h + "\r\n", 400, nil},
		{"no version", "GET /\r\n" + h + "\r\n", 400, nil},
		{"empty method", " / HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"bad method char", "GE(T / HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"lowercase version", "GET / http/1.1\r\n" + h + "\r\n", 400, nil},
		{"version garbage", "GET / HTTP/1.1x\r\n" + h + "\r\n", 400, nil},
		{"version two digits", "GET / HTTP/11.1\r\n" + h + "\r\n", 400, nil},
		{"http/2", "GET / HTTP/2.0\r\n" + h + "\r\n", 505, nil},
		{"http/1.2", "GET / HTTP/1.2\r\n" + h + "\r\n", 505, nil},
		{"http/0.9", "GET / HTTP/0.9\r\n" + h + "\r\n", 505, nil},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, nil},
		{"fragment", "GET /a#b HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"non-ascii target", "GET /caf\xc3\xa9 HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"relative target", "GET a/b HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"asterisk with GET", "GET * HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"authority-form with GET", "GET example.com:80 HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"connect origin-form", "CONNECT /x HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"connect no port", "CONNECT example.com HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"connect bad port", "CONNECT example.com:99999 HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"connect absolute", "CONNECT http://example.com:80/ HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"absolute ftp", "GET ftp://example.com/ HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"absolute userinfo", "GET http://user@example.com/ HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"absolute empty host", "GET http:///p HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"bad escape", "GET /%zz HTTP/1.1\r\n" + h + "\r\n", 400, nil},
		{"long target", "GET /" + long + " HTTP/1.1\r\n" + h + "\r\n", 414, nil},
		{"too many empty lines", strings.Repeat("\r\n", 5) + "GET / HTTP/1.1\r\n" + h + "\r\n", 400, nil},

		// Header section.
		{"obs-fold", "GET / HTTP/1.1\r\n" + h + "X: a\r\n b\r\n\r\n", 400, nil},
		{"leading whitespace first field", "GET / HTTP/1.1\r\n " + h + "\r\n", 400, nil},
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, nil},
		{"tab before colon", "GET / HTTP/1.1\r\n" + h + "X\t: a\r\n\r\n", 400, nil},
		{"no colon", "GET / HTTP/1.1\r\n" + h + "X a\r\n\r\n", 400, nil},
		{"empty name", "GET / HTTP/1.1\r\n" + h + ": a\r\n\r\n", 400, nil},
		{"non-token name", "GET / HTTP/1.1\r\n" + h + "X(y): a\r\n\r\n", 400, nil},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400, nil},
		{"two hosts", "GET / HTTP/1.1\r\n" + h + h + "\r\n", 400, nil},
		{"two hosts 1.0", "GET / HTTP/1.0\r\n" + h + h + "\r\n", 400, nil},
		{"host case dup", "GET / HTTP/1.1\r\n" + h + "HOST: example.com\r\n\r\n", 400, nil},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, nil},
		{"connect missing host", "CONNECT a:1 HTTP/1.1\r\n\r\n", 400, nil},
		{"header too large", "GET / HTTP/1.1\r\n" + h + "X: " + strings.Repeat("b", 5000) + "\r\n\r\n", 431, nil},
		{"too many fields", "GET / HTTP/1.1\r\n" + h + strings.Repeat("X:\r\n", 600) + "\r\n", 431, nil},
		{"expect other", "GET / HTTP/1.1\r\n" + h + "Expect: 200-ok\r\n\r\n", 417, nil},
		{"expect list", "POST / HTTP/1.1\r\n" + h + "Expect: 100-continue, x\r\nContent-Length: 1\r\n\r\nx", 417, nil},

		// Content-Length.
		{"cl plus", "POST / HTTP/1.1\r\n" + h + "Content-Length: +5\r\n\r\nhello", 400, nil},
		{"cl minus", "POST / HTTP/1.1\r\n" + h + "Content-Length: -1\r\n\r\n", 400, nil},
		{"cl hex", "POST / HTTP/1.1\r\n" + h + "Content-Length: 0x5\r\n\r\nhello", 400, nil},
		{"cl space inside", "POST / HTTP/1.1\r\n" + h + "Content-Length: 1 2\r\n\r\n", 400, nil},
		{"cl list", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5, 5\r\n\r\nhello", 400, nil},
		{"cl empty", "POST / HTTP/1.1\r\n" + h + "Content-Length: \r\n\r\n", 400, nil},
		{"cl differing", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, nil},
		{"cl differing zeros", "POST / HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 05\r\n\r\nhello", 400, nil},
		{"cl overflow", "POST / HTTP/1.1\r\n" + h + "Content-Length: 9223372036854775808\r\n\r\n", 400, nil},

		// Transfer-Encoding.
		{"te and cl", "POST / HTTP/1.1\r\n" + h + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, nil},
		{"cl and te", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n", 400, nil},
		{"te http/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, nil},
		{"te twice", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, nil},
		{"te chunked chunked", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400, nil},
		{"te chunked identity", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, nil},
		{"te identity", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: identity\r\n\r\n", 400, nil},
		{"te xchunked", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400, nil},
		{"te quoted", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 400, nil},
		{"te trailing comma", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", 400, nil},
		{"te gzip chunked", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, nil},
		{"te gzip", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip\r\n\r\n", 400, nil},
		{"te space before colon", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, nil},
		{"te vtab", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400, nil},
		{"te folded", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400, nil},
		{"te underscore name", "POST / HTTP/1.1\r\n" + h + "Transfer_Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc", 200, func(t *testing.T, s snapshot) {
			// A different field: the body is framed by Content-Length.
			want(t, "body", s.Body, "abc")
			want(t, "te", len(s.TransferEncoding), 0)
		}},
		{"trailer declares content-length", "POST / HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n0\r\n\r\n", 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec.reset()
			got := exchange(t, ts.addr, tc.raw+"GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
			if st := statusOf(got); st != tc.status {
				t.Fatalf("status %d, want %d\nresponse: %q", st, tc.status, got)
			}
			snaps := rec.all()
			if tc.status != 200 {
				if len(snaps) != 0 {
					t.Fatalf("handler called for a refused request: %+v", snaps)
				}
				if !strings.Contains(got, "Connection: close") {
					t.Errorf("error response without Connection: close: %q", got)
				}
				if n := strings.Count(got, "HTTP/1.1 "); n != 1 {
					t.Errorf("%d responses after a refused request, want 1: %q", n, got)
				}
				return
			}
			if len(snaps) == 0 {
				t.Fatal("handler not called")
			}
			if !snaps[0].Close && (len(snaps) != 2 || snaps[1].RequestURI != "/next") {
				t.Errorf("follow-up request not served correctly: %d requests", len(snaps))
			}
			if tc.check != nil {
				tc.check(t, snaps[0])
			}
		})
	}
}

func want[T any](t *testing.T, what string, got, exp T) {
	t.Helper()
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s = %#v, want %#v", what, got, exp)
	}
}

func sortedKeys(h http.Header) string {
	var ks []string
	for k := range h {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return strings.Join(ks, ",")
}

// TestOriginFormMatchesURL checks the allocation-free origin-form parser
// against url.ParseRequestURI for every byte in every position.
func TestOriginFormMatchesURL(t *testing.T) {
	for c := 0x21; c < 0x7f; c++ {
		if c == '#' {
			continue
		}
		for _, tmpl := range []string{"/a%cb", "/%c", "/a?%c", "/a%c?b", "/%c%c", "//%c/x"} {
			target := strings.ReplaceAll(tmpl, "%c", string(rune(c)))
			var u url.URL
			ok := parseOriginForm(&u, target)
			ref, err := url.ParseRequestURI(target)
			if ok != (err == nil) {
				t.Errorf("%q: ok=%v, ParseRequestURI err=%v", target, ok, err)
				continue
			}
			if ok && !reflect.DeepEqual(u, *ref) {
				t.Errorf("%q: got %#v, want %#v", target, u, *ref)
			}
		}
	}
}

func TestChunkSizeLine(t *testing.T) {
	tests := []struct {
		line string
		n    int64
		ok   bool
	}{
		{"0", 0, true},
		{"a", 10, true},
		{"0000000000000010", 16, true},
		{"00000000000000010", 0, false},
		{"7fffffffffffffff", 1<<63 - 1, true},
		{"8000000000000000", 0, false},
		{"ffffffffffffffffff", 0, false},
		{"5;x", 5, true},
		{"5 ;x", 5, true},
		{"5; x = y", 5, true},
		{"5;x=\"a b\\\"c\"", 5, true},
		{"5;x;y=z", 5, true},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"0x5", 0, false},
		{" 5", 0, false},
		{"5 ", 0, false},
		{"5;", 0, false},
		{"5;=x", 0, false},
		{"5;x=", 0, false},
		{"5;x=\"unterminated", 0, false},
		{"5;x=a b", 0, false},
		{"5,6", 0, false},
		{"5;x=\x01", 0, false},
		{"g", 0, false},
	}
	for _, tc := range tests {
		n, ok := parseChunkSize([]byte(tc.line))
		if ok != tc.ok || ok && n != tc.n {
			t.Errorf("%q: got (%d, %v), want (%d, %v)", tc.line, n, ok, tc.n, tc.ok)
		}
	}
}

func TestParseContentLength(t *testing.T) {
	tests := []struct {
		s  string
		n  int64
		ok bool
	}{
		{"0", 0, true}, {"000", 0, true}, {"42", 42, true}, {"0042", 42, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"00000000000000000000009", 9, true},
		{"9223372036854775808", 0, false}, {"99999999999999999999", 0, false},
		{"", 0, false}, {"+1", 0, false}, {"-1", 0, false}, {"1.0", 0, false}, {"1e3", 0, false}, {" 1", 0, false},
	}
	for _, tc := range tests {
		n, ok := parseContentLength(tc.s)
		if ok != tc.ok || n != tc.n {
			t.Errorf("%q: got (%d, %v), want (%d, %v)", tc.s, n, ok, tc.n, tc.ok)
		}
	}
}
