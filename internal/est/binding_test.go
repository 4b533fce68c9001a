package est

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// csrWithAttrs builds a CSR whose attributes are attrs (each a DER
// Attribute), signed with key (ECDSA with SHA-256). crypto/x509 cannot
// write a challengePassword, so the request is assembled by hand.
func csrWithAttrs(t testing.TB, key *ecdsa.PrivateKey, cn string, attrs ...[]byte) []byte {
	t.Helper()
	subject, err := asn1.Marshal(pkix.Name{CommonName: cn}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		b.AddBytes(subject)
		b.AddBytes(spki)
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			for _, a := range attrs {
				b.AddBytes(a)
			}
		})
	})
	tbs := b.BytesOrPanic()
	digest := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	var c cryptobyte.Builder
	c.AddASN1(cbasn1.SEQUENCE, func(c *cryptobyte.Builder) {
		c.AddBytes(tbs)
		c.AddASN1(cbasn1.SEQUENCE, func(c *cryptobyte.Builder) {
			c.AddASN1ObjectIdentifier(asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2})
		})
		c.AddASN1BitString(sig)
	})
	return c.BytesOrPanic()
}

// challengeAttr is a challengePassword attribute with one value of type tag
// (or the values given).
func challengeAttr(tag cbasn1.Tag, values ...string) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidChallengePassword)
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
			for _, v := range values {
				b.AddASN1(tag, func(b *cryptobyte.Builder) { b.AddBytes([]byte(v)) })
			}
		})
	})
	return b.BytesOrPanic()
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	k, _ := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}})
	return k
}

// clientBinding is the channel binding as the client computes it.
func clientBinding(t *testing.T, cs tls.ConnectionState) string {
	t.Helper()
	if cs.Version == tls.VersionTLS13 {
		v, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", []byte{}, 32)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(v)
	}
	if len(cs.TLSUnique) == 0 {
		t.Fatal("no tls-unique on a full TLS 1.2 handshake")
	}
	return base64.StdEncoding.EncodeToString(cs.TLSUnique)
}

// TestChannelBinding: a Go client opens a TLS connection, builds the CSR
// after the handshake with the connection's binding in challengePassword,
// and sends it on that connection.
func TestChannelBinding(t *testing.T) {
	a := newAuthority(t)
	srv := tlsServer(t, a, newServer(t, a))
	roots := x509.NewCertPool()
	roots.AddCert(a.Root())
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		t.Run(tls.VersionName(version), func(t *testing.T) {
			dial := func() *tls.Conn {
				c, err := tls.Dial("tcp", srv.Listener.Addr().String(), &tls.Config{RootCAs: roots, MinVersion: version, MaxVersion: version})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			send := func(c *tls.Conn, csr []byte) (int, string) {
				req, _ := http.NewRequest("POST", "https://127.0.0.1/.well-known/est/simpleenroll", strings.NewReader(wrapped(csr)))
				req.SetBasicAuth("alice", "s3cret")
				req.Header.Set("Content-Type", "application/pkcs10")
				if err := req.Write(c); err != nil {
					t.Fatal(err)
				}
				res, err := http.ReadResponse(bufio.NewReader(c), req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var body bytes.Buffer
				body.ReadFrom(res.Body)
				return res.StatusCode, body.String()
			}
			key := newKey(t)
			c := dial()
			bound := clientBinding(t, c.ConnectionState())
			if code, body := send(c, csrWithAttrs(t, key, "device-cb", challengeAttr(cbasn1.PrintableString, bound))); code != http.StatusOK {
				t.Fatalf("bound CSR on its own connection: %d %s", code, body)
			}
			unpadded := strings.TrimRight(bound, "=")
			if code, body := send(c, csrWithAttrs(t, key, "device-cb", challengeAttr(cbasn1.UTF8String, unpadded))); code != http.StatusOK {
				t.Fatalf("unpadded UTF8String binding: %d %s", code, body)
			}
			// The same CSR on another connection: refused.
			other := dial()
			for name, csr := range map[string][]byte{
				"other connection's": csrWithAttrs(t, key, "device-cb", challengeAttr(cbasn1.PrintableString, bound)),
				"account password":   csrWithAttrs(t, key, "device-cb", challengeAttr(cbasn1.PrintableString, "s3cret")),
				"two values":         csrWithAttrs(t, key, "device-cb", challengeAttr(cbasn1.PrintableString, clientBinding(t, other.ConnectionState()), "x")),
				"BMPString":          csrWithAttrs(t, key, "device-cb", challengeAttr(cbasn1.Tag(30), "\x00a")),
			} {
				code, body := send(other, csr)
				if code != http.StatusBadRequest || !strings.Contains(body, "challengePassword") {
					t.Errorf("%s binding: %d %s", name, code, body)
				}
			}
			// Without a challengePassword nothing is bound.
			if code, body := send(other, csrWithAttrs(t, key, "device-cb")); code != http.StatusOK {
				t.Fatalf("unbound CSR: %d %s", code, body)
			}
		})
	}
}

func TestChannelBindingWithoutTLS(t *testing.T) {
	a := newAuthority(t)
	s := newServer(t, a)
	csr := csrWithAttrs(t, newKey(t), "device-1", challengeAttr(cbasn1.PrintableString, "AAAA"))
	r := do(t, s, "POST", PathPrefix+"simpleenroll", wrapped(csr), basic("alice", "s3cret"))
	if r.code != http.StatusBadRequest || !strings.Contains(r.body, "not a TLS connection") {
		t.Fatalf("%d %s", r.code, r.body)
	}
}

func TestChallengePasswordParse(t *testing.T) {
	key := newKey(t)
	parse := func(attrs ...[]byte) (string, bool, error) {
		csr, err := x509.ParseCertificateRequest(csrWithAttrs(t, key, "x", attrs...))
		if err != nil {
			t.Fatal(err)
		}
		return challengePassword(csr.RawTBSCertificateRequest)
	}
	if pw, ok, err := parse(challengeAttr(cbasn1.IA5String, "abc=")); err != nil || !ok || pw != "abc=" {
		t.Errorf("IA5String: %q %v %v", pw, ok, err)
	}
	if _, ok, err := parse(); err != nil || ok {
		t.Errorf("no attributes: %v %v", ok, err)
	}
	// Other attributes (an extension request) are skipped.
	ext := []byte{0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e, 0x31, 0x00}
	if pw, ok, err := parse(ext, challengeAttr(cbasn1.UTF8String, "v")); err != nil || !ok || pw != "v" {
		t.Errorf("after extensionRequest: %q %v %v", pw, ok, err)
	}
	for name, attrs := range map[string][][]byte{
		"twice":       {challengeAttr(cbasn1.UTF8String, "a"), challengeAttr(cbasn1.UTF8String, "a")},
		"no value":    {challengeAttr(cbasn1.UTF8String)},
		"control":     {challengeAttr(cbasn1.PrintableString, "a\nb")},
		"bad UTF-8":   {challengeAttr(cbasn1.UTF8String, "\xff")},
		"octet value": {challengeAttr(cbasn1.OCTET_STRING, "a")},
	} {
		if _, _, err := parse(attrs...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, err := challengePassword([]byte{0x30, 0x00}); err == nil {
		t.Error("empty CertificationRequestInfo accepted")
	}
}

func FuzzChallengePassword(f *testing.F) {
	key := newKey(f)
	for _, attrs := range [][][]byte{
		nil,
		{challengeAttr(cbasn1.PrintableString, "dGxzLXVuaXF1ZQ==")},
		{challengeAttr(cbasn1.UTF8String, "a", "b")},
		{challengeAttr(cbasn1.Tag(30), "x")},
	} {
		csr, err := x509.ParseCertificateRequest(csrWithAttrs(f, key, "fuzz", attrs...))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(csr.RawTBSCertificateRequest)
	}
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, tbs []byte) {
		pw, ok, err := challengePassword(tbs)
		if err != nil && (ok || pw != "") {
			t.Fatal("a value returned with an error")
		}
		if !ok && pw != "" {
			t.Fatal("a value returned without one found")
		}
		// Whatever was found survives being written into a new request.
		if ok {
			csr, err := x509.ParseCertificateRequest(csrWithAttrs(t, key, "fuzz", challengeAttr(cbasn1.UTF8String, pw)))
			if err != nil {
				t.Fatal(err)
			}
			again, ok2, err := challengePassword(csr.RawTBSCertificateRequest)
			if err != nil || !ok2 || again != pw {
				t.Fatalf("round trip of %q: %q %v %v", pw, again, ok2, err)
			}
		}
	})
}
