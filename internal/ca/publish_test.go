package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
	"golang.org/x/crypto/ocsp"
)

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

// ocspStatus asks p for c's status by POST, by GET with the URL-encoded
// request (viaGET), or by GET with the raw base64 (viaRawGET), as clients
// that skip the URL encoding send it.
func ocspStatus(t *testing.T, p *Publisher, a *Authority, c *x509.Certificate, via int) *ocsp.Response {
	t.Helper()
	req, err := ocsp.CreateRequest(c, a.Intermediate(), &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	switch b64 := base64.StdEncoding.EncodeToString(req); via {
	case viaGET:
		p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ca/ocsp/"+url.PathEscape(b64), nil))
	case viaRawGET:
		p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ca/ocsp/"+b64, nil))
	default:
		r := httptest.NewRequest(http.MethodPost, "/ca/ocsp", bytes.NewReader(req))
		r.Header.Set("Content-Type", "application/ocsp-request")
		p.ServeHTTP(rec, r)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/ocsp-response" {
		t.Fatalf("OCSP content type %q (status %d: %s)", ct, rec.Code, rec.Body)
	}
	resp, err := ocsp.ParseResponseForCert(rec.Body.Bytes(), c, a.Intermediate())
	if err != nil {
		t.Fatalf("OCSP response: %v", err)
	}
	return resp
}

const (
	viaPOST = iota
	viaGET
	viaRawGET
)

func TestPublisher(t *testing.T) {
	ctx := context.Background()
	a := newTestCA(t, InitOptions{PublishURL: "http://127.0.0.1:1"})
	p, err := NewPublisher(ctx, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	alice := issue(t, a, IssueRequest{Profile: "client", CN: "alice"})

	for path, ct := range map[string]string{"/ca/crl": "application/pkix-crl", "/ca/root.pem": "application/x-pem-file", "/ca/chain.pem": "application/x-pem-file", "/ca/root.crt": "application/pkix-cert", "/ca/intermediate.crt": "application/pkix-cert"} {
		rec := get(t, p, path)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != ct {
			t.Errorf("GET %s: %d %q", path, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	if rec := get(t, p, "/ca/intermediate.crt"); !bytes.Equal(rec.Body.Bytes(), a.Intermediate().Raw) {
		t.Error("intermediate.crt is not the issuing CA's DER")
	}
	if rec := get(t, p, "/ca/nope"); rec.Code != 404 {
		t.Errorf("unknown path: %d", rec.Code)
	}
	for _, via := range []int{viaPOST, viaGET, viaRawGET} {
		if r := ocspStatus(t, p, a, alice.Cert, via); r.Status != ocsp.Good {
			t.Fatalf("alice: status %d, want good", r.Status)
		}
	}
	first := p.CurrentCRL()

	// Another process revokes; the next tick picks it up, re-signs the
	// CRL and OCSP answers revoked.
	other, err := Open(a.Dir(), Options{Actor: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Revoke(ctx, store.SerialHex(alice.Cert.SerialNumber), 1); err != nil {
		t.Fatal(err)
	}
	called := false
	p.Tick(ctx, func() { called = true })
	if !called {
		t.Error("onRevocations not called")
	}
	crl := p.CurrentCRL()
	if crl.Number <= first.Number || crl.Entries != 1 {
		t.Fatalf("CRL after revoke: #%d with %d entries (before #%d)", crl.Number, crl.Entries, first.Number)
	}
	parsed, err := x509.ParseRevocationList(get(t, p, "/ca/crl").Body.Bytes())
	if err != nil || parsed.CheckSignatureFrom(a.Intermediate()) != nil || len(parsed.RevokedCertificateEntries) != 1 {
		t.Fatalf("served CRL: %v", err)
	}
	r := ocspStatus(t, p, a, alice.Cert, viaPOST)
	if r.Status != ocsp.Revoked || r.RevocationReason != 1 {
		t.Fatalf("alice after revoke: status %d reason %d", r.Status, r.RevocationReason)
	}
	if r.Certificate == nil || !hasEKU(r.Certificate, x509.ExtKeyUsageOCSPSigning) {
		t.Fatal("response not signed by a delegated OCSP responder certificate")
	}
	// A serial this CA never issued is unknown, not good.
	stranger := newTestCA(t, InitOptions{})
	s := issue(t, stranger, IssueRequest{Profile: "client", CN: "x"})
	if r := ocspStatus(t, p, a, fakeSerial(alice.Cert, s.Cert), viaPOST); r.Status != ocsp.Unknown {
		t.Fatalf("unknown serial: status %d", r.Status)
	}
	// Raw base64 may hold "//", which a ServeMux would clean away: serial
	// bytes 0xFF...FF make it certain.
	ff := fakeSerial(alice.Cert, alice.Cert)
	ff.SerialNumber = new(big.Int).SetBytes(bytes.Repeat([]byte{0xff}, 8))
	if r := ocspStatus(t, p, a, ff, viaRawGET); r.Status != ocsp.Unknown {
		t.Fatalf("raw GET with // in the path: status %d", r.Status)
	}

	// The responder certificate is renewed when due.
	before := p.OCSPSignerRenewals.Load()
	p.signerMu.Lock()
	p.signerAt = time.Now().Add(-time.Second)
	p.signerMu.Unlock()
	p.Tick(ctx, nil)
	if p.OCSPSignerRenewals.Load() != before+1 {
		t.Fatal("OCSP signer not renewed when due")
	}
	if r := ocspStatus(t, p, a, alice.Cert, viaGET); r.Status != ocsp.Revoked {
		t.Fatal("after signer renewal")
	}
	body, _ := io.ReadAll(get(t, p, "/ca/chain.pem").Body)
	if strings.Count(string(body), "BEGIN CERTIFICATE") != 2 {
		t.Error("chain.pem does not hold intermediate and root")
	}
}

func hasEKU(c *x509.Certificate, want x509.ExtKeyUsage) bool {
	for _, e := range c.ExtKeyUsage {
		if e == want {
			return true
		}
	}
	return false
}

// fakeSerial returns a copy of c (so the issuer hashes match) with the
// serial of other.
func fakeSerial(c, other *x509.Certificate) *x509.Certificate {
	cp := *c
	cp.SerialNumber = other.SerialNumber
	return &cp
}
