package ocspresp

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestStatuses(t *testing.T) {
	f := newFixture(t, Options{Validity: 2 * time.Hour})
	revokedAt := f.clock.Now().Add(-36 * time.Hour)
	cases := []struct {
		name   string
		status Status
		want   int
	}{
		{"good", Status{State: Good}, ocsp.Good},
		{"revoked", Status{State: Revoked, RevokedAt: revokedAt, Reason: ocsp.KeyCompromise}, ocsp.Revoked},
		{"unknown", Status{State: Unknown}, ocsp.Unknown},
	}
	for _, c := range cases {
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			t.Run(c.name+"/"+h.String(), func(t *testing.T) {
				leaf := f.leaf(t, c.name, c.status)
				der := body(t, post(t, f.resp, f.request(t, leaf, h)))
				// Checks the signature and that the embedded responder
				// certificate is signed by the issuer.
				r, err := ocsp.ParseResponseForCert(der, leaf, f.issuer.Cert)
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != c.want || r.IssuerHash != h || r.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
					t.Fatalf("status %d hash %v serial %v; want %d %v %v", r.Status, r.IssuerHash, r.SerialNumber, c.want, h, leaf.SerialNumber)
				}
				now := f.clock.Now()
				if !r.ThisUpdate.Equal(now) || !r.NextUpdate.Equal(now.Add(2*time.Hour)) || !r.ProducedAt.Equal(now) {
					t.Errorf("thisUpdate %v nextUpdate %v producedAt %v; want %v + 2h", r.ThisUpdate, r.NextUpdate, r.ProducedAt, now)
				}
				if c.status.State == Revoked && (!r.RevokedAt.Equal(revokedAt) || r.RevocationReason != ocsp.KeyCompromise) {
					t.Errorf("revoked at %v reason %d; want %v %d", r.RevokedAt, r.RevocationReason, revokedAt, ocsp.KeyCompromise)
				}
				checkDelegated(t, r.Certificate, f)
			})
		}
	}
}

// checkDelegated asserts the embedded certificate is the delegated
// responder, with its profile, chaining to the root through the issuer.
func checkDelegated(t *testing.T, c *x509.Certificate, f *fixture) {
	t.Helper()
	if c == nil || !c.Equal(f.delegated.Cert) {
		t.Fatalf("response does not embed the delegated responder certificate")
	}
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) ||
		!slices.ContainsFunc(c.Extensions, func(e pkix.Extension) bool { return e.Id.Equal(oidOCSPNoCheck) }) {
		t.Errorf("responder certificate lacks OCSPSigning or ocsp-nocheck")
	}
	inter := x509.NewCertPool()
	inter.AddCert(f.issuer.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: f.root.Pool(), Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}); err != nil {
		t.Errorf("responder certificate does not chain to the root: %v", err)
	}
}

func TestUnspecifiedReasonOmitted(t *testing.T) {
	f := newFixture(t, Options{})
	leaf := f.leaf(t, "r", Status{State: Revoked, RevokedAt: f.clock.Now().Add(-time.Minute)})
	der := body(t, post(t, f.resp, f.request(t, leaf, crypto.SHA1)))
	r, err := ocsp.ParseResponse(der, f.issuer.Cert)
	if err != nil || r.Status != ocsp.Revoked || r.RevocationReason != ocsp.Unspecified {
		t.Fatalf("got %+v, %v", r, err)
	}
	if bytes.Contains(der, []byte{0xa0, 0x03, 0x0a, 0x01}) {
		t.Errorf("reason encoded although unspecified")
	}
}

func TestNonceEchoed(t *testing.T) {
	f := newFixture(t, Options{})
	leaf := f.leaf(t, "n", Status{State: Good})
	for _, nonce := range [][]byte{wrappedNonce([]byte("0123456789abcdef")), []byte("raw nonce")} {
		der := encodeRequest(t, &Request{IDs: []CertID{f.certID(t, leaf, crypto.SHA256)}, Nonce: nonce}, encOpts{})
		rec := post(t, f.resp, der)
		resp := body(t, rec)
		if got := responseNonce(t, resp); !bytes.Equal(got, nonce) {
			t.Errorf("nonce %x echoed as %x", nonce, got)
		}
		if _, err := ocsp.ParseResponseForCert(resp, leaf, f.issuer.Cert); err != nil {
			t.Fatal(err)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q on a nonce response", cc)
		}
	}
	if _, hits, _ := f.resp.Stats(); hits != 0 {
		t.Errorf("nonce requests served from cache (%d hits)", hits)
	}
	plain := body(t, post(t, f.resp, f.request(t, leaf, crypto.SHA1)))
	if responseNonce(t, plain) != nil {
		t.Errorf("response without nonce request carries one")
	}
}

func TestMultipleCertIDs(t *testing.T) {
	f := newFixture(t, Options{})
	good := f.leaf(t, "g", Status{State: Good})
	revoked := f.leaf(t, "r", Status{State: Revoked, RevokedAt: f.clock.Now().Add(-time.Hour), Reason: ocsp.Superseded})
	other := newFixture(t, Options{})
	foreign := other.leaf(t, "x", Status{State: Good})
	f.src.set(foreign.SerialNumber, Status{State: Good}) // must not be consulted
	ids := []CertID{f.certID(t, good, crypto.SHA1), f.certID(t, revoked, crypto.SHA256), other.certID(t, foreign, crypto.SHA1)}
	resp := body(t, post(t, f.resp, encodeRequest(t, &Request{IDs: ids}, encOpts{})))
	if n := len(parseBasic(t, resp).TBS.Responses); n != 3 {
		t.Fatalf("%d SingleResponses, want 3", n)
	}
	for cert, want := range map[*x509.Certificate]int{good: ocsp.Good, revoked: ocsp.Revoked, foreign: ocsp.Unknown} {
		r, err := ocsp.ParseResponseForCert(resp, cert, f.issuer.Cert)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != want {
			t.Errorf("%s: status %d, want %d", cert.Subject.CommonName, r.Status, want)
		}
	}
	only := encodeRequest(t, &Request{IDs: ids[2:]}, encOpts{})
	if got := body(t, post(t, f.resp, only)); !bytes.Equal(got, ocsp.UnauthorizedErrorResponse) {
		t.Errorf("foreign-only request answered %x, want unauthorized", got)
	}
}

func TestGET(t *testing.T) {
	f := newFixture(t, Options{Validity: time.Hour})
	leaf := f.leaf(t, "get", Status{State: Good})
	id := f.certID(t, leaf, crypto.SHA1)
	// Find a serial whose request encodes with '+', '/' and '=' padding.
	var enc string
	for i := 0; ; i++ {
		id.Serial = new(big.Int).Add(leaf.SerialNumber, big.NewInt(int64(i)))
		enc = base64.StdEncoding.EncodeToString(encodeRequest(t, &Request{IDs: []CertID{id}}, encOpts{}))
		if strings.ContainsAny(enc, "+") && strings.Contains(enc, "/") && strings.HasSuffix(enc, "=") {
			break
		}
	}
	f.src.set(id.Serial, Status{State: Good})
	escaped := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(enc)
	for name, path := range map[string]string{
		"raw":             "/" + enc,
		"percent-encoded": "/" + escaped,
		"no padding":      "/" + strings.TrimRight(enc, "="),
		"double-encoded":  "/" + strings.ReplaceAll(escaped, "%", "%25"),
		"url-safe":        "/" + strings.NewReplacer("+", "-", "/", "_").Replace(enc),
	} {
		t.Run(name, func(t *testing.T) {
			for _, h := range []struct {
				prefix string
				h      http.Handler
			}{{"", f.resp}, {"/ca/ocsp", http.StripPrefix("/ca/ocsp", f.resp)}} {
				rec := httptest.NewRecorder()
				h.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, h.prefix+path, nil))
				r, err := ocsp.ParseResponse(body(t, rec), f.issuer.Cert)
				if err != nil {
					t.Fatalf("prefix %q: %v", h.prefix, err)
				}
				if r.Status != ocsp.Good || r.SerialNumber.Cmp(id.Serial) != 0 {
					t.Fatalf("status %d for %v", r.Status, r.SerialNumber)
				}
				checkCacheHeaders(t, rec.Header(), r, f.clock.Now())
			}
		})
	}
}

// checkCacheHeaders asserts the RFC 5019 headers of a cacheable response.
func checkCacheHeaders(t *testing.T, h http.Header, r *ocsp.Response, now time.Time) {
	t.Helper()
	cc := h.Get("Cache-Control")
	if !strings.HasPrefix(cc, "max-age=") || !strings.HasSuffix(cc, ", public, no-transform, must-revalidate") {
		t.Errorf("Cache-Control %q", cc)
	}
	if want := r.ThisUpdate.Add(30*time.Minute).Sub(now) / time.Second; cc != "" && !strings.HasPrefix(cc, "max-age="+itoa(int64(want))+",") {
		t.Errorf("Cache-Control %q, want max-age=%d", cc, want)
	}
	if lm := h.Get("Last-Modified"); lm != r.ThisUpdate.Format(http.TimeFormat) {
		t.Errorf("Last-Modified %q, want thisUpdate %v", lm, r.ThisUpdate)
	}
	if ex := h.Get("Expires"); ex != r.NextUpdate.Format(http.TimeFormat) {
		t.Errorf("Expires %q, want nextUpdate %v", ex, r.NextUpdate)
	}
}

func TestDecodeGETPath(t *testing.T) {
	der, _ := base64.StdEncoding.DecodeString("MP//+/++vgA=")
	for _, p := range []string{"/MP//+/++vgA=", "MP//+/++vgA", "//MP%2F%2F%2B%2F%2B%2BvgA%3D",
		"/MP__-_--vgA", "/MP// /  vgA="} {
		got, err := decodeGETPath(p, 100)
		if err != nil || !bytes.Equal(got, der) {
			t.Errorf("%q: %x, %v", p, got, err)
		}
	}
	if _, err := decodeGETPath("/"+strings.Repeat("A", 200), 100); err == nil || !strings.Contains(err.Error(), "exceeds the 100-byte limit") {
		t.Errorf("oversized path: %v", err)
	}
}

func TestGETMalformed(t *testing.T) {
	f := newFixture(t, Options{})
	for _, path := range []string{"/", "/!!!notbase64", "/" + base64.StdEncoding.EncodeToString([]byte("not DER")),
		"/" + strings.Repeat("A", 40000)} {
		rec := httptest.NewRecorder()
		f.resp.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if got := body(t, rec); !bytes.Equal(got, ocsp.MalformedRequestErrorResponse) {
			t.Errorf("GET %.30s: %x, want malformedRequest", path, got)
		}
	}
}

func TestCache(t *testing.T) {
	f := newFixture(t, Options{Validity: time.Hour})
	leaf := f.leaf(t, "c", Status{State: Good})
	req := f.request(t, leaf, crypto.SHA1)
	first := body(t, post(t, f.resp, req))
	f.clock.Add(29 * time.Minute)
	if again := body(t, post(t, f.resp, req)); !bytes.Equal(again, first) {
		t.Fatal("second request within validity/2 was re-signed")
	}
	if _, hits, _ := f.resp.Stats(); hits != 1 {
		t.Fatalf("%d cache hits, want 1", hits)
	}
	// Status change: fresh response at once.
	f.src.set(leaf.SerialNumber, Status{State: Revoked, RevokedAt: f.clock.Now(), Reason: ocsp.CessationOfOperation})
	r, err := ocsp.ParseResponse(body(t, post(t, f.resp, req)), f.issuer.Cert)
	if err != nil || r.Status != ocsp.Revoked || r.RevocationReason != ocsp.CessationOfOperation {
		t.Fatalf("after revocation: %+v, %v", r, err)
	}
	revokedDER := body(t, post(t, f.resp, req))
	// Past half the validity: re-signed with a later thisUpdate.
	f.clock.Add(31 * time.Minute)
	later := body(t, post(t, f.resp, req))
	if bytes.Equal(later, revokedDER) {
		t.Fatal("response reused past validity/2")
	}
	if r, _ := ocsp.ParseResponse(later, f.issuer.Cert); !r.ThisUpdate.Equal(f.clock.Now()) {
		t.Errorf("thisUpdate %v, want %v", r.ThisUpdate, f.clock.Now())
	}
	// The other hash algorithm is another cache entry.
	if r, err := ocsp.ParseResponse(body(t, post(t, f.resp, f.request(t, leaf, crypto.SHA256))), f.issuer.Cert); err != nil || r.IssuerHash != crypto.SHA256 {
		t.Errorf("SHA-256 request: %+v, %v", r, err)
	}
	if requests, hits, errs := f.resp.Stats(); requests != 6 || hits != 2 || errs != 0 {
		t.Errorf("stats %d/%d/%d, want 6/2/0", requests, hits, errs)
	}
}

func TestCacheBounded(t *testing.T) {
	f := newFixture(t, Options{CacheSize: 3})
	for i := range 10 {
		leaf := f.leaf(t, "b"+itoa(int64(i)), Status{State: Good})
		body(t, post(t, f.resp, f.request(t, leaf, crypto.SHA1)))
	}
	if n := f.resp.cache.len(); n != 3 {
		t.Errorf("cache holds %d entries, want 3", n)
	}
	g := newFixture(t, Options{CacheSize: -1})
	leaf := g.leaf(t, "nocache", Status{State: Good})
	body(t, post(t, g.resp, g.request(t, leaf, crypto.SHA1)))
	body(t, post(t, g.resp, g.request(t, leaf, crypto.SHA1)))
	if _, hits, _ := g.resp.Stats(); hits != 0 {
		t.Errorf("disabled cache hit %d times", hits)
	}
}

func TestErrorResponses(t *testing.T) {
	f := newFixture(t, Options{})
	other := newFixture(t, Options{})
	foreign := other.request(t, other.leaf(t, "x", Status{State: Good}), crypto.SHA1)
	own := f.request(t, f.leaf(t, "own", Status{State: Good}), crypto.SHA1)
	if got := body(t, post(t, f.resp, []byte("garbage"))); !bytes.Equal(got, ocsp.MalformedRequestErrorResponse) {
		t.Errorf("garbage: %x", got)
	}
	rec := post(t, f.resp, foreign)
	if got := body(t, rec); !bytes.Equal(got, ocsp.UnauthorizedErrorResponse) {
		t.Errorf("foreign issuer: %x", got)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("error response Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
	if _, err := ocsp.ParseResponse(body(t, post(t, f.resp, foreign)), nil); err != (ocsp.ResponseError{Status: ocsp.Unauthorized}) {
		t.Errorf("x/crypto reads %v", err)
	}
	nosigner := New(f.issuer.Cert, f.src, Options{Logger: quietLogger})
	if got := body(t, post(t, nosigner, own)); !bytes.Equal(got, ocsp.TryLaterErrorResponse) {
		t.Errorf("no signer: %x", got)
	}
	panicky := New(f.issuer.Cert, SourceFunc(func(*big.Int) Status { panic("boom") }), Options{Logger: quietLogger})
	panicky.SetSigner(f.delegated)
	if got := body(t, post(t, panicky, own)); !bytes.Equal(got, ocsp.InternalErrorErrorResponse) {
		t.Errorf("panicking source: %x", got)
	}
	if requests, _, errs := f.resp.Stats(); requests != 3 || errs != 3 {
		t.Errorf("stats %d requests %d errors, want 3 3", requests, errs)
	}
}

func TestHTTPErrors(t *testing.T) {
	f := newFixture(t, Options{MaxBody: 100})
	own := f.request(t, f.leaf(t, "own", Status{State: Good}), crypto.SHA1)
	serve := func(req *http.Request) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		f.resp.ServeHTTP(rec, req)
		return rec
	}
	rec := serve(httptest.NewRequest(http.MethodPut, "/", bytes.NewReader(own)))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("PUT: %d, Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	big := bytes.Repeat([]byte{0x30}, 101)
	if rec := serve(httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(big))); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", rec.Code)
	}
	chunked := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(big))
	chunked.ContentLength = -1
	if rec := serve(chunked); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("large body without Content-Length: %d", rec.Code)
	}
	wrongType := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(own))
	wrongType.Header.Set("Content-Type", "text/plain")
	if rec := serve(wrongType); rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d", rec.Code)
	}
	noType := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(own))
	if _, err := ocsp.ParseResponse(body(t, serve(noType)), f.issuer.Cert); err != nil {
		t.Errorf("POST without Content-Type: %v", err)
	}
	head := serve(httptest.NewRequest(http.MethodHead, "/"+base64.StdEncoding.EncodeToString(own), nil))
	if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Length") == "0" {
		t.Errorf("HEAD: %d, %d body bytes, Content-Length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}
	if _, _, errs := f.resp.Stats(); errs != 4 {
		t.Errorf("%d errors counted, want 4", errs)
	}
}

func TestSignerSwap(t *testing.T) {
	f := newFixture(t, Options{})
	leaf := f.leaf(t, "s", Status{State: Good})
	req := f.request(t, leaf, crypto.SHA1)
	body(t, post(t, f.resp, req)) // cached under the first signer
	renewed := newDelegated(t, f.issuer, delegatedOpts{CN: "renewed responder"})
	f.resp.SetSigner(renewed)
	r, err := ocsp.ParseResponseForCert(body(t, post(t, f.resp, req)), leaf, f.issuer.Cert)
	if err != nil || !r.Certificate.Equal(renewed.Cert) {
		t.Fatalf("after swap: %v, certificate %v", err, r.Certificate.Subject)
	}
	// The issuer signing for itself embeds no certificate.
	f.resp.SetSigner(Signer{Cert: f.issuer.Cert, Key: f.issuer.Key})
	r, err = ocsp.ParseResponseForCert(body(t, post(t, f.resp, req)), leaf, f.issuer.Cert)
	if err != nil || r.Certificate != nil {
		t.Fatalf("issuer-signed: %v, certificate %v", err, r.Certificate)
	}
	// A key that does not match clears the signer.
	f.resp.SetSigner(Signer{Cert: renewed.Cert, Key: f.delegated.Key})
	if got := body(t, post(t, f.resp, req)); !bytes.Equal(got, ocsp.TryLaterErrorResponse) {
		t.Errorf("mismatched signer: %x", got)
	}
}

func TestSignerSwapConcurrent(t *testing.T) {
	f := newFixture(t, Options{})
	leaf := f.leaf(t, "s", Status{State: Good})
	req := f.request(t, leaf, crypto.SHA1)
	signers := []Signer{f.delegated, newDelegated(t, f.issuer, delegatedOpts{}), {Cert: f.issuer.Cert, Key: f.issuer.Key}}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				if g == 0 {
					f.resp.SetSigner(signers[i%len(signers)])
				}
				if _, err := ocsp.ParseResponseForCert(body(t, post(t, f.resp, req)), leaf, f.issuer.Cert); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestOtherKeyTypes(t *testing.T) {
	f := newFixture(t, Options{})
	leaf := f.leaf(t, "k", Status{State: Good})
	req := f.request(t, leaf, crypto.SHA1)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.resp.SetSigner(newDelegated(t, f.issuer, delegatedOpts{Key: rsaKey}))
	if _, err := ocsp.ParseResponseForCert(body(t, post(t, f.resp, req)), leaf, f.issuer.Cert); err != nil {
		t.Errorf("RSA: %v", err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	f.resp.SetSigner(newDelegated(t, f.issuer, delegatedOpts{Key: priv}))
	basic := parseBasic(t, body(t, post(t, f.resp, req)))
	if !ed25519.Verify(pub, basic.TBS.Raw, basic.Signature.RightAlign()) {
		t.Errorf("Ed25519 signature does not verify")
	}
}

func TestCheckSigner(t *testing.T) {
	f := newFixture(t, Options{})
	now := time.Now()
	if err := CheckSigner(f.issuer.Cert, f.delegated, now); err != nil {
		t.Errorf("delegated: %v", err)
	}
	if err := CheckSigner(f.issuer.Cert, Signer{Cert: f.issuer.Cert, Key: f.issuer.Key}, now); err != nil {
		t.Errorf("issuer itself: %v", err)
	}
	stranger := testpki.NewRootCA(t, "stranger")
	cases := map[string]struct {
		s    Signer
		want string
	}{
		"no EKU":        {newDelegated(t, f.issuer, delegatedOpts{NoEKU: true}), "lacks extended key usage OCSPSigning"},
		"no nocheck":    {newDelegated(t, f.issuer, delegatedOpts{NoNoCheck: true}), "lacks the id-pkix-ocsp-nocheck"},
		"wrong issuer":  {newDelegated(t, stranger, delegatedOpts{}), "is not signed by issuer"},
		"expired":       {newDelegated(t, f.issuer, delegatedOpts{NotAfter: now.Add(-time.Minute)}), "is valid from"},
		"key mismatch":  {Signer{Cert: f.delegated.Cert, Key: f.issuer.Key}, "key does not match"},
		"missing parts": {Signer{Cert: f.delegated.Cert}, "both required"},
	}
	for name, c := range cases {
		if err := CheckSigner(f.issuer.Cert, c.s, now); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

func itoa(n int64) string { return big.NewInt(n).String() }

func TestStatusEqual(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	rev := Status{State: Revoked, RevokedAt: at, Reason: 1}
	same := []Status{{State: Revoked, RevokedAt: at.Truncate(time.Second), Reason: 1}}
	differ := []Status{{State: Revoked, RevokedAt: at, Reason: 4}, {State: Revoked, RevokedAt: at.Add(time.Second), Reason: 1}, {State: Good}}
	for _, s := range same {
		if !rev.equal(s) {
			t.Errorf("%+v != %+v", rev, s)
		}
	}
	for _, s := range differ {
		if rev.equal(s) {
			t.Errorf("%+v == %+v", rev, s)
		}
	}
	if !(Status{State: Good, Reason: 3}).equal(Status{State: Good}) {
		t.Errorf("revocation fields compared for a good status")
	}
	if Unknown.String() != "unknown" || (Status{}).State != Unknown {
		t.Errorf("zero State is %v, want unknown", Status{}.State)
	}
}
