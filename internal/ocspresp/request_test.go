package ocspresp

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestParseRequestFromXCrypto(t *testing.T) {
	f := newFixture(t, Options{})
	leaf := f.leaf(t, "leaf", Status{State: Good})
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		der := f.request(t, leaf, h)
		got, err := ParseRequest(der)
		if err != nil {
			t.Fatalf("%v: %v", h, err)
		}
		want, _ := ocsp.ParseRequest(der)
		if len(got.IDs) != 1 || got.Nonce != nil || got.Signed {
			t.Fatalf("%v: got %+v", h, got)
		}
		id := got.IDs[0]
		if id.Hash != h || !bytes.Equal(id.IssuerNameHash, want.IssuerNameHash) ||
			!bytes.Equal(id.IssuerKeyHash, want.IssuerKeyHash) || id.Serial.Cmp(leaf.SerialNumber) != 0 {
			t.Errorf("%v: CertID %+v, want %+v", h, id, want)
		}
	}
}

func TestParseRequestHandBuilt(t *testing.T) {
	f := newFixture(t, Options{})
	a := f.certID(t, f.leaf(t, "a", Status{}), crypto.SHA1)
	b := f.certID(t, f.leaf(t, "b", Status{}), crypto.SHA256)
	nonce := wrappedNonce(bytes.Repeat([]byte{0xab}, 32))
	in := &Request{IDs: []CertID{a, b}, Nonce: nonce, Signed: true}
	der := encodeRequest(t, in, encOpts{
		requestorName:   true,
		explicitVersion: true,
		singleExts:      true,
		extraExts:       []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 4}, Value: []byte{0x30, 0}}},
	})
	got, err := ParseRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Signed || !bytes.Equal(got.Nonce, nonce) || len(got.IDs) != 2 {
		t.Fatalf("got %+v", got)
	}
	for i, want := range []CertID{a, b} {
		if !certIDEqual(got.IDs[i], want) {
			t.Errorf("ID %d: %+v, want %+v", i, got.IDs[i], want)
		}
	}
}

// TestParseRequestAccepts covers edge cases that are valid.
func TestParseRequestAccepts(t *testing.T) {
	f := newFixture(t, Options{})
	id := f.certID(t, f.leaf(t, "a", Status{}), crypto.SHA1)
	big20 := new(big.Int).SetBytes(bytes.Repeat([]byte{0xff}, 20)) // 21 content octets
	cases := map[string]struct {
		req *Request
		o   encOpts
	}{
		"20-octet serial with sign octet": {req: &Request{IDs: []CertID{withSerial(id, big20)}}},
		"negative serial":                 {req: &Request{IDs: []CertID{withSerial(id, big.NewInt(-5))}}},
		"32-octet nonce":                  {req: &Request{IDs: []CertID{id}, Nonce: wrappedNonce(make([]byte, 32))}},
		"raw unwrapped nonce":             {req: &Request{IDs: []CertID{id}, Nonce: []byte("0123456789abcdef")}},
		"16 CertIDs":                      {req: &Request{IDs: repeatID(id, 16)}},
		"unknown non-critical extension":  {req: &Request{IDs: []CertID{id}}, o: encOpts{extraExts: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{1}}}}},
		"critical nonce":                  {req: &Request{IDs: []CertID{id}}, o: encOpts{extraExts: []pkix.Extension{{Id: oidNonce, Critical: true, Value: wrappedNonce([]byte{1})}}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseRequest(encodeRequest(t, c.req, c.o))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.IDs) != len(c.req.IDs) || !certIDEqual(got.IDs[0], c.req.IDs[0]) {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestParseRequestRejects(t *testing.T) {
	f := newFixture(t, Options{})
	id := f.certID(t, f.leaf(t, "a", Status{}), crypto.SHA1)
	good := encodeRequest(t, &Request{IDs: []CertID{id}}, encOpts{})
	big21 := new(big.Int).Lsh(big.NewInt(1), 168) // 22 content octets
	shortHash := id
	shortHash.IssuerKeyHash = id.IssuerKeyHash[:19]
	cases := []struct {
		name, der, want string
	}{
		{"empty", "", "empty"},
		{"trailing data", string(good) + "\x00", "trailing data"},
		{"not a sequence", "\x04\x00", "not a DER SEQUENCE"},
		{"indefinite length", "\x30\x80" + string(good[2:]) + "\x00\x00", "not a DER SEQUENCE"},
		{"non-minimal length", "\x30\x81" + string(good[1:]), "not a DER SEQUENCE"},
		{"empty list", "\x30\x04\x30\x02\x30\x00", "requestList is empty"},
		{"17 CertIDs", string(encodeRequest(t, &Request{IDs: repeatID(id, 17)}, encOpts{})), "more than 16 CertIDs"},
		{"long serial", string(encodeRequest(t, &Request{IDs: []CertID{withSerial(id, big21)}}, encOpts{})), "serialNumber is 22 octets"},
		{"hash length", string(encodeRequest(t, &Request{IDs: []CertID{shortHash}}, encOpts{})), "issuer hashes are 20 and 19 bytes"},
		{"33-octet nonce", string(encodeRequest(t, &Request{IDs: []CertID{id}, Nonce: wrappedNonce(make([]byte, 33))}, encOpts{})), "nonce is 33 octets"},
		{"empty nonce", string(encodeRequest(t, &Request{IDs: []CertID{id}, Nonce: wrappedNonce(nil)}, encOpts{})), "nonce is empty"},
		{"duplicate nonce", string(encodeRequest(t, &Request{IDs: []CertID{id}, Nonce: wrappedNonce([]byte{1})},
			encOpts{extraExts: []pkix.Extension{{Id: oidNonce, Value: wrappedNonce([]byte{2})}}})), "appears twice"},
		{"unknown critical extension", string(encodeRequest(t, &Request{IDs: []CertID{id}},
			encOpts{extraExts: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3}, Critical: true, Value: []byte{0}}}})), "unsupported critical request extension 1.2.3"},
		{"unknown hash", strings.Replace(string(good), "\x06\x05\x2b\x0e\x03\x02\x1a", "\x06\x05\x2b\x0e\x03\x02\x1b", 1), "hashAlgorithm 1.3.14.3.2.27 not supported"},
		{"version 2", strings.Replace(string(encodeRequest(t, &Request{IDs: []CertID{id}}, encOpts{explicitVersion: true})),
			"\xa0\x03\x02\x01\x00", "\xa0\x03\x02\x01\x01", 1), "version 2 not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(c.der))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), "ocsp request: ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to mention %q", err, c.want)
			}
		})
	}
}

// TestParseRequestOpenSSL parses what the openssl client sends: a nonce
// wrapped in an OCTET STRING, several CertIDs, and a signed request with a
// requestorName.
func TestParseRequestOpenSSL(t *testing.T) {
	openssl := needOpenSSL(t)
	f := newFixture(t, Options{})
	dir := t.TempDir()
	issuer := f.issuer.WriteCA(t, dir, "issuer")
	a := testpki.WriteFile(t, dir, "a.pem", testpki.CertPEM(f.leaf(t, "a", Status{})))
	b := testpki.WriteFile(t, dir, "b.pem", testpki.CertPEM(f.leaf(t, "b", Status{})))
	client := f.issuer.Issue(t, testpki.Options{CN: "client"})
	clientCert, clientKey := client.WriteLeaf(t, dir, "client")
	out := filepath.Join(dir, "req.der")
	run(t, openssl, "ocsp", "-issuer", issuer, "-cert", a, "-cert", b, "-signer", clientCert, "-signkey", clientKey, "-reqout", out)
	der, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ParseRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.IDs) != 2 || !req.Signed {
		t.Fatalf("got %d IDs, signed %v; want 2, true", len(req.IDs), req.Signed)
	}
	if len(req.Nonce) != 18 || req.Nonce[0] != 0x04 || req.Nonce[1] != 16 {
		t.Errorf("nonce extnValue %x, want an OCTET STRING of 16 octets", req.Nonce)
	}
}

func needOpenSSL(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	return p
}

// run runs a command and returns its combined output, failing on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func withSerial(id CertID, n *big.Int) CertID {
	id.Serial = n
	return id
}

func repeatID(id CertID, n int) []CertID {
	out := make([]CertID, n)
	for i := range out {
		out[i] = withSerial(id, big.NewInt(int64(i+1)))
	}
	return out
}

func certIDEqual(a, b CertID) bool {
	return a.Hash == b.Hash && bytes.Equal(a.IssuerNameHash, b.IssuerNameHash) &&
		bytes.Equal(a.IssuerKeyHash, b.IssuerKeyHash) && a.Serial.Cmp(b.Serial) == 0
}
