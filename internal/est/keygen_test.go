package est

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

// keepKeysAuthority is a CA whose ca.yaml asks to keep the private keys of
// certificates it generates keys for: serverkeygen must not store its key
// even then.
func keepKeysAuthority(t *testing.T) *ca.Authority {
	t.Helper()
	dir := t.TempDir()
	if _, err := ca.Init(dir, ca.InitOptions{Name: "EST Keygen CA", Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ca.SettingsFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("keep_keys: true\n")
	f.Close()
	a, err := ca.Open(dir, ca.Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestServerKeygen(t *testing.T) {
	a := keepKeysAuthority(t)
	s, err := NewServer(Options{Signer: FromAuthority(a), Auth: &BasicAuth{Accounts: testAccounts},
		DefaultProfile: "client", ServerKeygen: true})
	if err != nil {
		t.Fatal(err)
	}
	const p = PathPrefix + "serverkeygen"
	der := csrFor(t, "device-kg", "device-kg")
	r := do(t, s, "POST", p, wrapped(der), basic("alice", "s3cret"))
	if r.code != http.StatusOK {
		t.Fatalf("%d %s", r.code, r.body)
	}
	keyDER, certs, err := ParseServerKeygen(r.h.Get("Content-Type"), []byte(r.body))
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		t.Fatal(err)
	}
	ek, ok := key.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		t.Fatalf("generated key %T, want ECDSA P-256", key)
	}
	cert := certs[0]
	if len(certs) != 1 || cert.Subject.CommonName != "device-kg" || len(cert.DNSNames) != 1 {
		t.Fatalf("certificate %s %v", cert.Subject, cert.DNSNames)
	}
	if !ek.PublicKey.Equal(cert.PublicKey) {
		t.Fatal("the certificate is not for the generated key")
	}
	csr, _ := x509.ParseCertificateRequest(der)
	if ek.PublicKey.Equal(csr.PublicKey) {
		t.Fatal("the CSR's key was used")
	}
	// The private key is in the response only: not in the store.
	rec, err := a.Store().Certificate(context.Background(), store.SerialHex(cert.SerialNumber))
	if err != nil {
		t.Fatal(err)
	}
	if rec.KeyPEM != nil {
		t.Fatal("the store kept the generated private key")
	}
	checkKeygenFormat(t, r)

	for name, tc := range map[string]struct {
		setup func(*http.Request)
		csr   []byte
		code  int
	}{
		"no credentials":   {nil, der, http.StatusUnauthorized},
		"name not allowed": {basic("bob", "hunter2"), der, http.StatusForbidden},
		"junk":             {basic("alice", "s3cret"), []byte("junk"), http.StatusBadRequest},
	} {
		if r := do(t, s, "POST", p, wrapped(tc.csr), tc.setup); r.code != tc.code {
			t.Errorf("%s: %d %s", name, r.code, r.body)
		}
	}
	if r := do(t, s, "GET", p, "", nil); r.code != http.StatusMethodNotAllowed {
		t.Errorf("GET serverkeygen: %d", r.code)
	}
}

// checkKeygenFormat checks RFC 7030 §4.4.2 on the wire: multipart/mixed,
// the PKCS#8 part first, each part base64 on one line.
func checkKeygenFormat(t *testing.T, r resp) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.h.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q", r.h.Get("Content-Type"))
	}
	mr := multipart.NewReader(strings.NewReader(r.body), params["boundary"])
	want := []string{"application/pkcs8", "application/pkcs7-mime; smime-type=certs-only"}
	for i := 0; ; i++ {
		part, err := mr.NextRawPart()
		if err != nil {
			if i != 2 {
				t.Fatalf("%d parts: %v", i, err)
			}
			return
		}
		if part.Header.Get("Content-Type") != want[i] || part.Header.Get("Content-Transfer-Encoding") != "base64" {
			t.Errorf("part %d: %v", i, part.Header)
		}
		var b bytes.Buffer
		b.ReadFrom(part)
		line := b.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Errorf("part %d is not one base64 line: %q", i, line)
		}
		if _, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(line, "\n")); err != nil {
			t.Errorf("part %d: %v", i, err)
		}
	}
}

func TestParseServerKeygenBad(t *testing.T) {
	pkcs8 := []byte{0x30, 0x00}
	cert := tlsServerCert(t)
	p7, _ := EncodeCertsOnly([]*x509.Certificate{cert})
	good, boundary, err := keygenBody(pkcs8, p7)
	if err != nil {
		t.Fatal(err)
	}
	ct := "multipart/mixed; boundary=" + boundary
	if k, c, err := ParseServerKeygen(ct, good); err != nil || !bytes.Equal(k, pkcs8) || !c[0].Equal(cert) {
		t.Fatalf("good body: %v", err)
	}
	for name, tc := range map[string][2]string{
		"not multipart": {"application/pkcs7-mime", string(good)},
		"no boundary":   {"multipart/mixed", string(good)},
		"truncated":     {ct, string(good[:len(good)/2])},
		"empty":         {ct, ""},
		"key only":      {"multipart/mixed; boundary=b", "--b\r\nContent-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64\r\n\r\nMAA=\r\n--b--\r\n"},
		"not base64":    {"multipart/mixed; boundary=b", "--b\r\nContent-Type: application/pkcs8\r\nContent-Transfer-Encoding: binary\r\n\r\nMAA=\r\n--b--\r\n"},
	} {
		if _, _, err := ParseServerKeygen(tc[0], []byte(tc[1])); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func tlsServerCert(t testing.TB) *x509.Certificate {
	a := newAuthority(t)
	return a.Intermediate()
}

func FuzzParseServerKeygen(f *testing.F) {
	cert := tlsServerCert(f)
	p7, _ := EncodeCertsOnly([]*x509.Certificate{cert})
	good, boundary, err := keygenBody([]byte{0x30, 0x03, 0x02, 0x01, 0x00}, p7)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(boundary, good)
	f.Add("b", []byte("--b\r\nContent-Type: application/pkcs8\r\nContent-Transfer-Encoding: base64\r\n\r\nMAA=\r\n--b--\r\n"))
	f.Add("x", []byte(""))
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		key, certs, err := ParseServerKeygen("multipart/mixed; boundary=\""+boundary+"\"", body)
		if err != nil {
			if key != nil || certs != nil {
				t.Fatal("results with an error")
			}
			return
		}
		if key == nil || len(certs) == 0 {
			t.Fatal("success without a key and certificates")
		}
		// Whatever parsed survives being written again.
		again, b2, err := keygenBody(key, mustCertsOnly(t, certs))
		if err != nil {
			t.Fatal(err)
		}
		k2, c2, err := ParseServerKeygen("multipart/mixed; boundary="+b2, again)
		if err != nil || !bytes.Equal(k2, key) || len(c2) != len(certs) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func mustCertsOnly(t *testing.T, certs []*x509.Certificate) []byte {
	der, err := EncodeCertsOnly(certs)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
