package h1

import (
	"strings"
	"testing"
)

// TestSmuggling sends classic request-smuggling payloads, each followed by
// a request to /smuggled. Whatever the first message is, the bytes meant
// to be hidden in it must never be served as a request of their own: the
// head is refused, or the body fails and the connection is closed.
func TestSmuggling(t *testing.T) {
	rec := &recorder{}
	ts := startServer(t, &Server{Handler: rec, ErrorLog: discardLogger()}, nil)
	const pre = "POST / HTTP/1.1\r\nHost: a\r\n"
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	tests := []struct {
		name string
		raw  string
		// status of the first response; 200 means the head was accepted
		// and body must be what the handler read (or bodyErr set).
		status  int
		body    string
		bodyErr bool
	}{
		// CL.TE and TE.CL.
		{"CL.TE", pre + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 400, "", false},
		{"TE.CL", pre + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n", 400, "", false},
		{"TE.CL identity", pre + "Transfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc", 400, "", false},

		// TE.TE obfuscations.
		{"TE xchunked", pre + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE chunkedx", pre + "Transfer-Encoding: chunkedx\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE space before colon", pre + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE newline before colon", pre + "Transfer-Encoding\r\n: chunked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE leading space line", pre + " Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE folded value", pre + "Transfer-Encoding:\r\n\tchunked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE duplicated", pre + "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE duplicated same", pre + "Transfer-Encoding: chunked\r\nTransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE chunked identity", pre + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE identity chunked", pre + "Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", 501, "", false},
		{"TE quoted", pre + "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE params", pre + "Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE NUL", pre + "Transfer-Encoding: chunked\x00\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE CR", pre + "Transfer-Encoding: chu\rnked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE vtab", pre + "Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE form feed", pre + "Transfer-Encoding: \x0cchunked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE non-ascii", pre + "Transfer-Encoding: ch\xc5\xabnked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE bare LF separated", pre + "X: y\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "", false},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "", false},
		// Legitimate spellings are all the same "chunked".
		{"TE tab OWS", pre + "Transfer-Encoding:\tchunked\t\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, "abc", false},
		{"TE case", pre + "transfer-encoding: cHuNkEd\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, "abc", false},

		// Content-Length.
		{"CL differing", pre + "Content-Length: 3\r\nContent-Length: 40\r\n\r\nabc", 400, "", false},
		{"CL list", pre + "Content-Length: 3, 40\r\n\r\nabc", 400, "", false},
		{"CL plus", pre + "Content-Length: +3\r\n\r\nabc", 400, "", false},
		{"CL NUL", pre + "Content-Length: 3\x00\r\n\r\nabc", 400, "", false},
		{"CL hex", pre + "Content-Length: 0x3\r\n\r\nabc", 400, "", false},
		{"CL exponent", pre + "Content-Length: 3e0\r\n\r\nabc", 400, "", false},
		{"CL overflow wrap", pre + "Content-Length: 18446744073709551619\r\n\r\nabc", 400, "", false},
		{"CL space before colon", pre + "Content-Length : 3\r\n\r\nabc", 400, "", false},
		{"CL leading zeros", pre + "Content-Length: 0003\r\n\r\nabc", 200, "abc", false},

		// Chunk framing.
		{"chunk bare LF", pre + "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 200, "", true},
		{"chunk data no CRLF", pre + "Transfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 200, "", true},
		{"chunk data LF only", pre + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 200, "", true},
		{"chunk size garbage", pre + "Transfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n", 200, "", true},
		{"chunk size space", pre + "Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 200, "", true},
		{"chunk size 0x", pre + "Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", 200, "", true},
		{"chunk size negative", pre + "Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", 200, "", true},
		{"chunk size overflow", pre + "Transfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n", 200, "", true},
		{"chunk ext bare CR", pre + "Transfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n", 200, "", true},
		{"chunk ext bare LF", pre + "Transfer-Encoding: chunked\r\n\r\n3;a\nb\r\nabc\r\n0\r\n\r\n", 200, "", true},
		{"chunk ext too long", pre + "Transfer-Encoding: chunked\r\n\r\n3;a=" + strings.Repeat("b", 5000) + "\r\nabc\r\n0\r\n\r\n", 200, "", true},
		{"last chunk bare LF", pre + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\n\r\n", 200, "", true},
		{"trailer bare LF", pre + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: y\n\r\n", 200, "", true},
		{"trailer obs-fold", pre + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX: y\r\n z\r\n\r\n", 200, "", true},
		{"end without CRLF", pre + "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nGET /x HTTP/1.1\r\n\r\n", 200, "", true},

		// Line endings and header syntax.
		{"head ends LF LF", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "", false},
		{"head CR only", "GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "", false},
		{"NUL in method", "G\x00ET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "", false},
		{"NUL after head", "GET / HTTP/1.1\r\nHost: a\r\n\x00\r\n\r\n", 400, "", false},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec.reset()
			got := exchange(t, ts.addr, tc.raw+smuggled)
			if st := statusOf(got); st != tc.status {
				t.Fatalf("status %d, want %d: %q", st, tc.status, got)
			}
			snaps := rec.all()
			if tc.status == 200 && !tc.bodyErr {
				// A well-formed message: the next request is legitimate.
				if len(snaps) != 2 || snaps[0].RequestURI != "/" || snaps[1].RequestURI != "/smuggled" {
					t.Fatalf("requests %+v", snaps)
				}
				if s := snaps[0]; s.Body != tc.body || s.BodyErr != "" {
					t.Errorf("body %q (%s), want %q", s.Body, s.BodyErr, tc.body)
				}
				return
			}
			for _, s := range snaps {
				if s.RequestURI != "/" {
					t.Fatalf("served a smuggled request: %+v", s)
				}
			}
			if tc.status != 200 {
				if len(snaps) != 0 {
					t.Fatalf("handler called: %+v", snaps)
				}
				return
			}
			if len(snaps) != 1 {
				t.Fatalf("%d requests served, want 1", len(snaps))
			}
			if s := snaps[0]; s.BodyErr == "" {
				t.Fatalf("body read %q without error", s.Body)
			}
			if n := strings.Count(got, "HTTP/1.1 "); n != 1 || !strings.Contains(got, "Connection: close") {
				t.Errorf("after a body error: %q", got)
			}
		})
	}
}
