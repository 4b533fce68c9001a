package est

import (
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertsOnlyRoundTrip(t *testing.T) {
	a := newAuthority(t)
	chain := []*x509.Certificate{a.Intermediate(), a.Root()}
	der, err := EncodeCertsOnly(chain)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseCertsOnly(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(chain[0]) || !got[1].Equal(chain[1]) {
		t.Fatalf("round trip changed the certificates: %d", len(got))
	}
	// Fixed structure: SignedData version 1, empty digestAlgorithms.
	want := []byte{0x02, 0x01, 0x01, 0x31, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0}
	if !bytes.Contains(der, want) {
		t.Errorf("SignedData header not found in % x", der[:40])
	}
	if !bytes.HasSuffix(der, []byte{0x31, 0x00}) {
		t.Error("signerInfos is not an empty SET at the end")
	}
}

func TestCertsOnlyErrors(t *testing.T) {
	if _, err := EncodeCertsOnly(nil); err == nil {
		t.Error("empty list encoded")
	}
	if _, err := EncodeCertsOnly([]*x509.Certificate{{}}); err == nil {
		t.Error("empty certificate encoded")
	}
	for _, in := range [][]byte{nil, {0x30, 0x00}, {0x30, 0x03, 0x02, 0x01, 0x01}, []byte("garbage")} {
		if _, err := ParseCertsOnly(in); err == nil {
			t.Errorf("ParseCertsOnly(% x) succeeded", in)
		}
	}
}

func TestCertsOnlyOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	a := newAuthority(t)
	der, err := EncodeCertsOnly([]*x509.Certificate{a.Intermediate(), a.Root()})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "certs.p7")
	if err := os.WriteFile(p, der, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "pkcs7", "-inform", "DER", "-in", p, "-print_certs", "-noout").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
	s := string(out)
	i, r := strings.Index(s, "subject=O = EST Test CA, CN = EST Test CA Issuing CA"), strings.Index(s, "subject=O = EST Test CA, CN = EST Test CA Root")
	if i < 0 || r < 0 || i > r {
		t.Errorf("openssl output lacks the chain in order:\n%s", s)
	}
}
