package ocspresp

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// quietLogger discards everything.
var quietLogger = slog.New(slog.DiscardHandler)

// mapSource is an in-memory Source keyed by serial.
type mapSource struct {
	mu sync.RWMutex
	m  map[string]Status
}

func newMapSource() *mapSource { return &mapSource{m: map[string]Status{}} }

func (s *mapSource) Status(serial *big.Int) Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.m[serial.String()]
}

func (s *mapSource) set(serial *big.Int, st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[serial.String()] = st
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// delegatedOpts shape a minted responder certificate.
type delegatedOpts struct {
	CN        string
	Key       crypto.Signer // default: fresh ECDSA P-256
	NoEKU     bool
	NoNoCheck bool
	NotAfter  time.Time
}

// newDelegated mints a delegated OCSP responder certificate signed by ca:
// EKU OCSPSigning and id-pkix-ocsp-nocheck (value NULL) unless disabled.
func newDelegated(tb testing.TB, ca *testpki.CA, o delegatedOpts) Signer {
	tb.Helper()
	key := o.Key
	if key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		key = k
	}
	if o.CN == "" {
		o.CN = "test OCSP responder"
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: o.CN},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              o.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	if !o.NoEKU {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	}
	if !o.NoNoCheck {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidOCSPNoCheck, Value: []byte{0x05, 0x00}}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		tb.Fatalf("minting responder certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return Signer{Cert: cert, Key: key}
}

// fixture is a root, an issuing intermediate, a delegated responder and a
// responder over a mapSource with a fake clock.
type fixture struct {
	root, issuer *testpki.CA
	delegated    Signer
	src          *mapSource
	clock        *fakeClock
	resp         *Responder
}

func newFixture(tb testing.TB, opts Options) *fixture {
	tb.Helper()
	root := testpki.NewRootCA(tb, "test root")
	issuer := root.NewIntermediate(tb, "test issuing CA")
	f := &fixture{
		root:   root,
		issuer: issuer,
		src:    newMapSource(),
		clock:  &fakeClock{t: time.Now().UTC().Truncate(time.Second)},
	}
	f.delegated = newDelegated(tb, issuer, delegatedOpts{})
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger
	}
	f.resp = New(issuer.Cert, f.src, opts)
	f.resp.SetSigner(f.delegated)
	return f
}

// leaf issues a certificate and records its status.
func (f *fixture) leaf(tb testing.TB, cn string, st Status) *x509.Certificate {
	tb.Helper()
	l := f.issuer.Issue(tb, testpki.Options{CN: cn})
	f.src.set(l.Cert.SerialNumber, st)
	return l.Cert
}

// request makes a DER request for cert with x/crypto (no nonce).
func (f *fixture) request(tb testing.TB, cert *x509.Certificate, h crypto.Hash) []byte {
	tb.Helper()
	der, err := ocsp.CreateRequest(cert, f.issuer.Cert, &ocsp.RequestOptions{Hash: h})
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// certID computes the CertID of cert under h.
func (f *fixture) certID(tb testing.TB, cert *x509.Certificate, h crypto.Hash) CertID {
	tb.Helper()
	req, err := ocsp.ParseRequest(f.request(tb, cert, h))
	if err != nil {
		tb.Fatal(err)
	}
	return CertID{Hash: h, IssuerNameHash: req.IssuerNameHash, IssuerKeyHash: req.IssuerKeyHash, Serial: req.SerialNumber}
}

// post sends der by POST through the handler and returns the recorder.
func post(tb testing.TB, h http.Handler, der []byte) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(der))
	req.Header.Set("Content-Type", contentTypeRequest)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// body checks an OCSP HTTP answer and returns its body.
func body(tb testing.TB, rec *httptest.ResponseRecorder) []byte {
	tb.Helper()
	if rec.Code != http.StatusOK {
		tb.Fatalf("HTTP status %d, want 200: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != contentTypeResponse {
		tb.Fatalf("Content-Type %q, want %s", ct, contentTypeResponse)
	}
	b, _ := io.ReadAll(rec.Body)
	return b
}

// encOpts add optional parts to an encoded request.
type encOpts struct {
	requestorName   bool
	explicitVersion bool
	singleExts      bool
	extraExts       []pkix.Extension // appended after the nonce
}

// encodeRequest is the test-side inverse of ParseRequest: it encodes r as
// DER (a dummy optionalSignature when r.Signed).
func encodeRequest(tb testing.TB, r *Request, o encOpts) []byte {
	tb.Helper()
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			if o.explicitVersion {
				b.AddASN1(tagVersion, func(b *cryptobyte.Builder) { b.AddASN1Int64(0) })
			}
			if o.requestorName {
				b.AddASN1(tagRequestorName, func(b *cryptobyte.Builder) {
					// dNSName [2] IA5String
					b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte("client.example")) })
				})
			}
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, id := range r.IDs {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						addCertID(b, id)
						if o.singleExts {
							addTestExts(b, tagSingleExts, []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Value: []byte{5, 0}}})
						}
					})
				}
			})
			var exts []pkix.Extension
			if r.Nonce != nil {
				exts = append(exts, pkix.Extension{Id: oidNonce, Value: r.Nonce})
			}
			exts = append(exts, o.extraExts...)
			if len(exts) > 0 {
				addTestExts(b, tagRequestExts, exts)
			}
		})
		if r.Signed {
			b.AddASN1(tagSignature, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidECDSAWithSHA256) })
					b.AddASN1BitString([]byte{1, 2, 3, 4})
				})
			})
		}
	})
	der, err := b.Bytes()
	if err != nil {
		tb.Fatalf("encoding request: %v", err)
	}
	return der
}

// addTestExts appends an explicitly tagged Extensions.
func addTestExts(b *cryptobyte.Builder, tag cbasn1.Tag, exts []pkix.Extension) {
	b.AddASN1(tag, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for _, e := range exts {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(e.Id)
					if e.Critical {
						b.AddASN1Boolean(true)
					}
					b.AddASN1OctetString(e.Value)
				})
			}
		})
	})
}

// wrappedNonce returns the extnValue openssl sends: OCTET STRING of n.
func wrappedNonce(n []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1OctetString(n)
	return b.BytesOrPanic()
}

// Test-side view of a BasicOCSPResponse, for what x/crypto/ocsp does not
// expose (response extensions, number of SingleResponses).
type testOCSPResponse struct {
	Status asn1.Enumerated
	Bytes  struct {
		Type     asn1.ObjectIdentifier
		Response []byte
	} `asn1:"explicit,tag:0,optional"`
}

type testBasicResponse struct {
	TBS       testResponseData
	Algorithm pkix.AlgorithmIdentifier
	Signature asn1.BitString
	Certs     []asn1.RawValue `asn1:"explicit,tag:0,optional"`
}

type testResponseData struct {
	Raw         asn1.RawContent
	Version     int `asn1:"optional,explicit,tag:0,default:0"`
	ResponderID asn1.RawValue
	ProducedAt  time.Time `asn1:"generalized"`
	Responses   []asn1.RawValue
	Extensions  []pkix.Extension `asn1:"optional,explicit,tag:1"`
}

// parseBasic decodes a successful response's BasicOCSPResponse.
func parseBasic(tb testing.TB, der []byte) testBasicResponse {
	tb.Helper()
	var outer testOCSPResponse
	if rest, err := asn1.Unmarshal(der, &outer); err != nil || len(rest) > 0 {
		tb.Fatalf("parsing OCSPResponse: %v (%d trailing)", err, len(rest))
	}
	if outer.Status != 0 || !outer.Bytes.Type.Equal(oidOCSPBasic) {
		tb.Fatalf("response status %d type %v, want successful basic", outer.Status, outer.Bytes.Type)
	}
	var basic testBasicResponse
	if rest, err := asn1.Unmarshal(outer.Bytes.Response, &basic); err != nil || len(rest) > 0 {
		tb.Fatalf("parsing BasicOCSPResponse: %v (%d trailing)", err, len(rest))
	}
	return basic
}

// responseNonce returns the nonce response extension value, or nil.
func responseNonce(tb testing.TB, der []byte) []byte {
	tb.Helper()
	for _, e := range parseBasic(tb, der).TBS.Extensions {
		if e.Id.Equal(oidNonce) {
			return e.Value
		}
	}
	return nil
}
