package ocspresp

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// BenchmarkResponder measures ServeHTTP end to end (parse, status lookup,
// sign or cache hit, write) on an in-memory recorder, with the default
// ECDSA P-256 delegated responder.
func BenchmarkResponder(b *testing.B) {
	f := newFixture(b, Options{})
	leaf := f.leaf(b, "bench", Status{State: Good})
	plain := f.request(b, leaf, crypto.SHA1)
	withNonce := encodeRequest(b, &Request{
		IDs:   []CertID{f.certID(b, leaf, crypto.SHA1)},
		Nonce: wrappedNonce([]byte("0123456789abcdef")),
	}, encOpts{})
	getPath := "/" + base64.StdEncoding.EncodeToString(plain)

	b.Run("cached/POST", func(b *testing.B) { benchPOST(b, f, plain) })
	b.Run("cached/GET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: getPath}, Header: http.Header{}}
			var w discardWriter
			f.resp.ServeHTTP(&w, req)
			if w.code != http.StatusOK {
				b.Fatal(w.code)
			}
		}
	})
	b.Run("nonce/POST", func(b *testing.B) { benchPOST(b, f, withNonce) })
	b.Run("cached/POST-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serveOnce(b, f, plain)
			}
		})
	})
	b.Run("nonce/POST-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serveOnce(b, f, withNonce)
			}
		})
	})
}

func benchPOST(b *testing.B, f *fixture, der []byte) {
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(b, f, der)
	}
}

// serveOnce POSTs der without httptest's request parsing, so that the
// figures are dominated by the responder.
func serveOnce(b *testing.B, f *fixture, der []byte) {
	req := &http.Request{
		Method:        http.MethodPost,
		URL:           &url.URL{Path: "/"},
		Header:        http.Header{"Content-Type": {contentTypeRequest}},
		Body:          io.NopCloser(bytes.NewReader(der)),
		ContentLength: int64(len(der)),
	}
	var w discardWriter
	f.resp.ServeHTTP(&w, req)
	if w.code != http.StatusOK || w.n < 100 {
		b.Errorf("HTTP %d, %d bytes", w.code, w.n)
	}
}

// discardWriter is a minimal http.ResponseWriter.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}
func (w *discardWriter) WriteHeader(code int) { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// BenchmarkParseRequest measures the parser alone on an openssl-shaped
// request (one CertID and a nonce).
func BenchmarkParseRequest(b *testing.B) {
	f := newFixture(b, Options{})
	der := encodeRequest(b, &Request{
		IDs:   []CertID{f.certID(b, f.leaf(b, "p", Status{}), crypto.SHA1)},
		Nonce: wrappedNonce([]byte("0123456789abcdef")),
	}, encOpts{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(der); err != nil {
			b.Fatal(err)
		}
	}
}
