package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

var simpleResponseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 404\r\nContent-Length: 3\r\nX-A: 1\r\nx-a:  2 \r\n\r\nabcEXTRA",
	"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\nContent-Length: 2\r\n\r\nno",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nA: b\r\n c\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	"HTTP/1.1 200 OK\r\nA: \x80\xff\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 007\r\n\r\n1234567",
	"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\nH: 8\r\nA: 9\r\nI: 10\r\nContent-Length: 2\r\n\r\nok",
}

// checkSimpleResponse: whenever readSimpleResponse takes a response, it
// must read it exactly as http.ReadResponse does (status, header, length,
// body, what follows); when it declines, it must not consume anything.
func checkSimpleResponse(t *testing.T, input []byte, method string) {
	req := &http.Request{Method: method}
	br := bufio.NewReaderSize(bytes.NewReader(input), 16<<10)
	_, _ = br.Peek(1)
	before := br.Buffered()
	sr, n, ok := readSimpleResponse(br, req)
	if !ok {
		if br.Buffered() != before {
			t.Fatalf("declined but consumed %d bytes of %q", before-br.Buffered(), input)
		}
		return
	}
	got := &sr.resp
	want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(input)), req)
	if err != nil {
		t.Fatalf("fast path took %q, net/http refuses it: %v", input, err)
	}
	if got.Status != want.Status || got.StatusCode != want.StatusCode || got.Proto != want.Proto ||
		got.ProtoMajor != want.ProtoMajor || got.ProtoMinor != want.ProtoMinor ||
		got.ContentLength != want.ContentLength || n != want.ContentLength || got.Close != want.Close ||
		len(want.TransferEncoding) != 0 || len(want.Trailer) != 0 {
		t.Fatalf("%q:\nfast     %q %d %s len=%d close=%v\nnet/http %q %d %s len=%d close=%v te=%v trailer=%v", input,
			got.Status, got.StatusCode, got.Proto, got.ContentLength, got.Close,
			want.Status, want.StatusCode, want.Proto, want.ContentLength, want.Close, want.TransferEncoding, want.Trailer)
	}
	if !reflect.DeepEqual(got.Header, want.Header) {
		t.Fatalf("%q: header\nfast     %q\nnet/http %q", input, got.Header, want.Header)
	}
	if (want.Body == http.NoBody) != (n == 0) {
		t.Fatalf("%q: net/http body %T, fast length %d", input, want.Body, n)
	}
	gotBody, gotErr := io.ReadAll(&lengthBody{br: br, n: n})
	wantBody, wantErr := io.ReadAll(want.Body)
	if !bytes.Equal(gotBody, wantBody) || (gotErr == nil) != (wantErr == nil) ||
		(wantErr != nil && !errors.Is(gotErr, io.ErrUnexpectedEOF)) {
		t.Fatalf("%q: body fast %q (%v), net/http %q (%v)", input, gotBody, gotErr, wantBody, wantErr)
	}
}

func TestReadSimpleResponse(t *testing.T) {
	for _, s := range simpleResponseSeeds {
		for _, m := range []string{"GET", "HEAD", "DELETE"} {
			checkSimpleResponse(t, []byte(s), m)
		}
	}
	// The common answer takes the fast path.
	br := bufio.NewReader(strings.NewReader(simpleResponseSeeds[0]))
	br.Peek(1)
	sr, n, ok := readSimpleResponse(br, &http.Request{Method: "GET"})
	if !ok || n != 5 || sr.resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("ok=%v n=%d resp=%+v", ok, n, sr)
	}
	// Everything that needs net/http's rules goes there.
	for _, s := range simpleResponseSeeds[4:12] {
		br := bufio.NewReader(strings.NewReader(s))
		br.Peek(1)
		if _, _, ok := readSimpleResponse(br, &http.Request{Method: "GET"}); ok {
			t.Errorf("fast path took %q", s)
		}
	}
}

func TestReadSimpleResponseAllocs(t *testing.T) {
	in := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nDate: Mon, 23 Nov 2026 10:00:00 GMT\r\n\r\n{}"
	r := strings.NewReader(in)
	br := bufio.NewReader(r)
	req := &http.Request{Method: "GET"}
	allocs := testing.AllocsPerRun(200, func() {
		r.Reset(in)
		br.Reset(r)
		br.Peek(1)
		if _, _, ok := readSimpleResponse(br, req); !ok {
			t.Fatal("not simple")
		}
	})
	// head string, header map (header and group), the response with its
	// body reader and values
	if allocs > 4 {
		t.Errorf("%.0f allocations, want <= 4", allocs)
	}
}

func FuzzReadSimpleResponse(f *testing.F) {
	for _, s := range simpleResponseSeeds {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, input []byte, head bool) {
		m := "GET"
		if head {
			m = "HEAD"
		}
		checkSimpleResponse(t, input, m)
	})
}
