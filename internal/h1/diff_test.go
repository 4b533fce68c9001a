package h1

import (
	"bufio"
	"crypto/tls"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// validCorpus are requests both servers accept; the handler must see the
// same request from each. (Not here because they differ on purpose:
// "OPTIONS *", which net/http answers itself and we pass to the handler,
// and empty lines before a request line, which net/http accepts only
// after a POST.)
var validCorpus = []string{
	"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
	"GET /index.html?a=1&b=2&b=3 HTTP/1.1\r\nHost: example.com:8443\r\nUser-Agent: curl/8\r\nAccept: */*\r\nAccept: text/html\r\n\r\n",
	"GET /p HTTP/1.1\r\nhost: a.example\r\nx-lower: v\r\nX-UPPER: V\r\nx-MiXeD-cAsE: m\r\n\r\n",
	"GET /p HTTP/1.1\r\nHost: a\r\nX-Space:   lots of   space   \r\nX-Tab:\tt\t\r\nX-Empty:\r\n\r\n",
	"GET /a%20b/%2F/c?x=%41 HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /!$&'()*+,;=:@-._~ HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /\"<>[]\\^`{|} HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET //double//slash HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /a/../b/./c HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /q? HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /q?a?b HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET /q?? HTTP/1.1\r\nHost: a\r\n\r\n",
	"GET http://origin.example/path?q=1 HTTP/1.1\r\nHost: origin.example\r\n\r\n",
	"GET https://origin.example:444 HTTP/1.1\r\nHost: other.example\r\n\r\n",
	"GET http://[::1]:80/x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
	"CONNECT backend.example:443 HTTP/1.1\r\nHost: backend.example:443\r\n\r\n",
	"DELETE /r/1 HTTP/1.1\r\nHost: 10.0.0.1:9000\r\n\r\n",
	"PATCH /r HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
	"POST /form HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0003\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n1a;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 123\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Undeclared: 1\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nTrailer: X-Ignored\r\nContent-Length: 1\r\n\r\nz",
	"PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody",
	"GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\nCache-Control: max-age=0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: a\r\n\r\n",
	"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
	"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
	"GET / HTTP/1.1\r\nHost: a\r\nX-Obs-Text: caf\xc3\xa9 \xff\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer x.y.z\r\nX-Forwarded-For: 1.2.3.4\r\nForwarded: for=1.2.3.4\r\n\r\n",
	"get /lower HTTP/1.1\r\nHost: a\r\n\r\n",
}

// TestDifferentialRequests serves validCorpus with both servers and
// compares what the handler saw.
func TestDifferentialRequests(t *testing.T) {
	ours, theirs := &recorder{}, &recorder{}
	ts := startServer(t, &Server{Handler: ours}, nil)
	nh := startNetHTTP(t, theirs)
	for _, raw := range validCorpus {
		// A follow-up request checks that both framed the first alike.
		full := raw + "GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
		ours.reset()
		theirs.reset()
		a := exchange(t, ts.addr, full)
		b := exchange(t, nh, full)
		sa, sb := ours.all(), theirs.all()
		if !reflect.DeepEqual(sa, sb) {
			t.Errorf("request %q:\nours:    %+v\nnet/http: %+v", raw, sa, sb)
		}
		if statusOf(a) != statusOf(b) {
			t.Errorf("request %q: status %d, net/http %d", raw, statusOf(a), statusOf(b))
		}
	}
}

// TestDifferentialTLS checks the TLS-related request fields.
func TestDifferentialTLS(t *testing.T) {
	conf, clientConf := testTLS(t)
	var got *tls.ConnectionState
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.TLS
	})}
	ts := startServer(t, srv, conf)
	c, err := tls.Dial("tcp", ts.addr, clientConf)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got == nil || !got.HandshakeComplete || len(got.PeerCertificates) != 1 || got.PeerCertificates[0].Subject.CommonName != "client" {
		t.Fatalf("r.TLS = %+v", got)
	}
}

// testTLS returns an mTLS server config and a matching client config.
func testTLS(t testing.TB) (server, client *tls.Config) {
	ca := testpki.NewRootCA(t, "h1 test CA")
	srvLeaf := ca.Issue(t, testpki.Options{CN: "server", DNS: []string{"localhost"}})
	cliLeaf := ca.Issue(t, testpki.Options{CN: "client", EKU: nil})
	server = &tls.Config{
		Certificates: []tls.Certificate{srvLeaf.TLSCertificate()},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cliLeaf.TLSCertificate()},
		RootCAs:      ca.Pool(),
		ServerName:   "localhost",
		NextProtos:   []string{"http/1.1"},
	}
	return server, client
}

// responseCase is a handler behaviour whose response both servers must
// frame alike.
type responseCase struct {
	name    string
	request string
	handler http.HandlerFunc
}

var responseCases = []responseCase{
	{"small body", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello")
	}},
	{"empty body", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {}},
	{"large body", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		for i := 0; i < 100; i++ {
			io.WriteString(w, strings.Repeat("x", 999))
		}
	}},
	{"large single write", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(make([]byte, 100000))
	}},
	{"explicit content-length", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "10000")
		w.Write(make([]byte, 10000))
	}},
	{"flush", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		io.WriteString(w, "b")
	}},
	{"204", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X", "y")
		w.WriteHeader(204)
	}},
	{"304", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Etag", `"x"`)
		w.WriteHeader(304)
	}},
	{"head with body", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello")
	}},
	{"head without body", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
	}},
	{"head explicit length", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "1234")
	}},
	{"declared trailer", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "data")
		w.Header().Set("X-Sum", "42")
	}},
	{"trailer prefix", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "data")
		w.(http.Flusher).Flush()
		w.Header().Set(http.TrailerPrefix+"X-Late", "1")
	}},
	{"header after writeheader ignored", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(201)
		w.Header().Set("X-Late", "1")
		io.WriteString(w, "x")
	}},
	{"handler connection close", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Connection", "close")
		io.WriteString(w, "x")
	}},
	{"client connection close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "x")
	}},
	{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "x")
	}},
	{"http/1.0 streamed", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "x")
		w.(http.Flusher).Flush()
		io.WriteString(w, "y")
	}},
	{"http/1.0 plain", "GET / HTTP/1.0\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "x")
	}},
	{"early hints", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</s.css>; rel=preload")
		w.WriteHeader(103)
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "x")
	}},
	{"newline in value", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header()["X-Split"] = []string{"a\r\nInjected: yes"}
		w.Header()["Bad Name"] = []string{"v"}
	}},
	{"short body", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "abc")
	}},
	{"unread small body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "x")
	}},
	{"date suppressed", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil
		w.Header().Set("Content-Type", "text/plain")
	}},
}

// TestDifferentialResponses compares how both servers frame the same
// handler behaviour (status, fields except Date, body, trailers, close).
func TestDifferentialResponses(t *testing.T) {
	for _, tc := range responseCases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, &Server{Handler: tc.handler, ErrorLog: discardLogger()}, nil)
			nh := startNetHTTP(t, tc.handler)
			method := strings.Fields(tc.request)[0]
			full := tc.request + "GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
			a := readResponses(t, exchange(t, ts.addr, full), method)
			b := readResponses(t, exchange(t, nh, full), method)
			if len(a) != len(b) {
				t.Fatalf("%d responses, net/http %d", len(a), len(b))
			}
			for i := range a {
				compareResponses(t, a[i], b[i])
			}
		})
	}
}

func compareResponses(t *testing.T, a, b *http.Response) {
	t.Helper()
	norm := func(r *http.Response) map[string]any {
		h := r.Header.Clone()
		if h.Get("Date") != "" {
			if _, err := time.Parse(http.TimeFormat, h.Get("Date")); err != nil {
				t.Errorf("bad Date %q", h.Get("Date"))
			}
			h.Set("Date", "<date>")
		}
		return map[string]any{
			"status": r.Status, "proto": r.Proto, "header": h, "body": bodyString(r),
			"trailer": r.Trailer, "cl": r.ContentLength, "te": r.TransferEncoding, "close": r.Close,
		}
	}
	na, nb := norm(a), norm(b)
	if !reflect.DeepEqual(na, nb) {
		t.Errorf("\nours:     %v\nnet/http: %v", na, nb)
	}
}
