package revocation

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// goCRL signs a CRL for ca with crypto/x509.
func goCRL(t testing.TB, ca *x509.Certificate, key crypto.Signer, tmpl x509.RevocationList) []byte {
	t.Helper()
	if tmpl.Number == nil {
		tmpl.Number = big.NewInt(1)
	}
	if tmpl.ThisUpdate.IsZero() {
		tmpl.ThisUpdate = time.Now().Add(-time.Hour)
	}
	if tmpl.NextUpdate.IsZero() {
		tmpl.NextUpdate = time.Now().Add(24 * time.Hour)
	}
	der, err := x509.CreateRevocationList(rand.Reader, &tmpl, ca, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func selfSigned(t testing.TB, cn string, key crypto.Signer, alg x509.SignatureAlgorithm) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SignatureAlgorithm: alg}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestParseCRLAgainstX509(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	entries := []x509.RevocationListEntry{
		{SerialNumber: big.NewInt(1), RevocationTime: time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC), ReasonCode: 1},
		{SerialNumber: big.NewInt(0x80), RevocationTime: time.Date(2050, 1, 1, 0, 0, 0, 0, time.UTC)}, // GeneralizedTime
		{SerialNumber: new(big.Int).Lsh(big.NewInt(1), 159), RevocationTime: time.Date(1999, 2, 28, 1, 2, 3, 0, time.UTC), ReasonCode: 10},
		{SerialNumber: big.NewInt(77), RevocationTime: time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC), ReasonCode: 8}, // removeFromCRL
	}
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		alg  x509.SignatureAlgorithm
	}{
		{"RSA-SHA256", rsaKey, x509.SHA256WithRSA},
		{"RSA-SHA512", rsaKey, x509.SHA512WithRSA},
		{"RSA-PSS-SHA384", rsaKey, x509.SHA384WithRSAPSS},
		{"ECDSA-P384", ecKey, x509.ECDSAWithSHA384},
		{"Ed25519", edKey, x509.PureEd25519},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := selfSigned(t, "CA "+tc.name, tc.key, tc.alg)
			der := goCRL(t, ca, tc.key, x509.RevocationList{RevokedCertificateEntries: entries, SignatureAlgorithm: tc.alg,
				Number: big.NewInt(12345)})
			p, err := parseCRL(der)
			if err != nil {
				t.Fatal(err)
			}
			rl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			if p.issuer != string(rl.RawIssuer) || p.number.Cmp(rl.Number) != 0 || !bytes.Equal(p.akid, rl.AuthorityKeyId) ||
				p.thisUpdate != rl.ThisUpdate.Unix() || p.nextUpdate != rl.NextUpdate.Unix() || !p.hasNext {
				t.Fatalf("header differs: %+v", p)
			}
			if p.count != 3 {
				t.Fatalf("%d entries, want 3 (removeFromCRL skipped)", p.count)
			}
			for _, e := range rl.RevokedCertificateEntries[:3] {
				v, ok := p.entries.get(canonicalSerial(serialDER(e.SerialNumber)))
				at, reason := unpackEntry(v)
				if !ok || at != e.RevocationTime.Unix() || reason != e.ReasonCode {
					t.Errorf("serial %x: %v %d %d, want %d %d", e.SerialNumber, ok, at, reason, e.RevocationTime.Unix(), e.ReasonCode)
				}
			}
			l := &crl{parsedCRL: p}
			if err := l.checkSignature(ca); err != nil {
				t.Fatalf("signature: %v", err)
			}
			wrongKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err := l.checkSignature(selfSigned(t, "x", wrongKey, x509.ECDSAWithSHA256)); err == nil {
				t.Fatal("verified against a wrong key")
			}
		})
	}
}

// serialDER returns the DER INTEGER content of n.
func serialDER(n *big.Int) []byte {
	b, _ := asn1.Marshal(n)
	return b[2:] // short lengths only in these tests
}

func TestCanonicalSerial(t *testing.T) {
	for _, tc := range []struct{ in, want []byte }{
		{[]byte{0x00, 0x80}, []byte{0x00, 0x80}},
		{[]byte{0x00, 0x00, 0x7f}, []byte{0x7f}},
		{[]byte{0xff, 0x80}, []byte{0x80}},
		{[]byte{0xff, 0x7f}, []byte{0xff, 0x7f}},
		{[]byte{0x00}, []byte{0x00}},
	} {
		if got := canonicalSerial(tc.in); !bytes.Equal(got, tc.want) {
			t.Errorf("%x -> %x, want %x", tc.in, got, tc.want)
		}
	}
}

func TestReadTime(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	for range 20000 {
		tm := time.Unix(r.Int64N(253402300799+2208988800)-2208988800, 0).UTC() // 1900..9999
		b := cryptobyte.NewBuilder(nil)
		if y := tm.Year(); y >= 1950 && y < 2050 {
			b.AddASN1UTCTime(tm)
		} else {
			b.AddASN1GeneralizedTime(tm)
		}
		der := b.BytesOrPanic()
		s := cryptobyte.String(der)
		got, err := readTime(&s)
		if err != nil || got != tm.Unix() {
			t.Fatalf("%s (%q): %d %v", tm, der, got, err)
		}
	}
	for _, bad := range []string{"\x17\x0d991301000000Z", "\x17\x0d990230000000Z", "\x17\x0b9901010000Z", "\x18\x0f20000101000000+",
		"\x17\x0d99010100000aZ", "\x02\x01\x01"} {
		s := cryptobyte.String(bad)
		if _, err := readTime(&s); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// extension DER for ExtraExtensions.
func idpExt(t testing.TB, uris []string, onlyUser, onlyCA, indirect bool) pkix.Extension {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		if len(uris) > 0 {
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					for _, u := range uris {
						b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(u)) })
					}
				})
			})
		}
		for i, on := range []bool{onlyUser, onlyCA, false, indirect} {
			if on {
				b.AddASN1(cbasn1.Tag(i+1).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddUint8(0xff) })
			}
		}
	})
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 28}, Critical: true, Value: b.BytesOrPanic()}
}

func TestParseCRLRefusals(t *testing.T) {
	ca := testpki.NewRootCA(t, "Refusal CA")
	crit := func(oid asn1.ObjectIdentifier) pkix.Extension {
		return pkix.Extension{Id: oid, Critical: true, Value: []byte{0x02, 0x01, 0x01}}
	}
	for _, tc := range []struct {
		name string
		ext  pkix.Extension
		want string
	}{
		{"delta", crit(asn1.ObjectIdentifier{2, 5, 29, 27}), "delta CRLs"},
		{"unknown critical", crit(asn1.ObjectIdentifier{1, 2, 3, 4}), "unsupported critical CRL extension"},
		{"indirect", idpExt(t, nil, false, false, true), "indirect CRLs"},
	} {
		der := goCRL(t, ca.Cert, ca.Key, x509.RevocationList{ExtraExtensions: []pkix.Extension{tc.ext}})
		if _, err := parseCRL(der); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	der := goCRL(t, ca.Cert, ca.Key, x509.RevocationList{RevokedCertificateEntries: []x509.RevocationListEntry{{
		SerialNumber: big.NewInt(5), RevocationTime: time.Now(),
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 29}, Critical: true, Value: []byte{0x30, 0x00}}},
	}}})
	if _, err := parseCRL(der); err == nil || !strings.Contains(err.Error(), "certificateIssuer") {
		t.Errorf("indirect entry: %v", err)
	}
}

// TestCRLScope: partitioned CRLs cover only their scope, and a CA-only
// CRL that revokes an intermediate refuses the chain.
func TestCRLScope(t *testing.T) {
	root := testpki.NewRootCA(t, "Scope root")
	inter := root.NewIntermediate(t, "Scope issuing CA")
	dir := t.TempDir()
	leafA := inter.Issue(t, testpki.Options{CN: "a", CRLDistributionPoints: []string{"http://crl.example/a.crl"}})
	leafB := inter.Issue(t, testpki.Options{CN: "b", CRLDistributionPoints: []string{"http://crl.example/b.crl"}})
	partA := goCRL(t, inter.Cert, inter.Key, x509.RevocationList{
		ExtraExtensions: []pkix.Extension{idpExt(t, []string{"http://crl.example/a.crl"}, true, false, false)}})
	arl := goCRL(t, root.Cert, root.Key, x509.RevocationList{
		ExtraExtensions: []pkix.Extension{idpExt(t, nil, false, true, false)}})
	pa := testpki.WriteFile(t, dir, "a.crl", partA)
	pr := testpki.WriteFile(t, dir, "arl.crl", arl)
	c := newChecker(t, Config{CRLs: []CRLSource{{File: pa}, {File: pr}}})
	wantOK(t, c.Check([]*x509.Certificate{leafA.Cert, inter.Cert, root.Cert}), pa)
	wantRefused(t, c.Check([]*x509.Certificate{leafB.Cert, inter.Cert, root.Cert}), CodeCRLUnavailable, "scope does not include")

	// The root revokes the intermediate: every chain through it is refused.
	arl2 := goCRL(t, root.Cert, root.Key, x509.RevocationList{Number: big.NewInt(2),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: inter.Cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute), ReasonCode: 2}},
		ExtraExtensions:           []pkix.Extension{idpExt(t, nil, false, true, false)}})
	testpki.WriteFile(t, dir, "arl.crl", arl2)
	if err := c.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, c.Check([]*x509.Certificate{leafA.Cert, inter.Cert, root.Cert}), CodeRevoked, "intermediate CA certificate", "cACompromise")
}

// TestIssuerKeyUsage: a CRL from an issuer whose key usage lacks cRLSign
// is not used.
func TestIssuerKeyUsage(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "No CRL sign"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	ca, _ := x509.ParseCertificate(der)
	// crypto/x509 refuses to sign a CRL for such an issuer: sign with a
	// twin that has cRLSign (same name and key).
	twin := selfSigned(t, "No CRL sign", key, x509.ECDSAWithSHA256)
	crlDER := goCRL(t, twin, key, x509.RevocationList{})
	p, err := parseCRL(crlDER)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&crl{parsedCRL: p}).checkSignature(ca); err == nil || !strings.Contains(err.Error(), "cRLSign") {
		t.Fatalf("got %v", err)
	}
}

// TestSerialIndex: short and long serials are found, the first entry for
// a serial wins, and a serial is never confused with its prefix or a
// zero-padded form.
func TestSerialIndex(t *testing.T) {
	var x serialIndex
	if _, ok := x.get([]byte{1}); ok {
		t.Fatal("an unbuilt index found a serial")
	}
	long := bytes.Repeat([]byte{0x7f}, 25)
	for i, a := range []struct {
		serial []byte
		v      int64
	}{
		{[]byte{0x01}, 1},
		{[]byte{0x01, 0x00}, 2},
		{bytes.Repeat([]byte{0x42}, 20), 3},
		{long, 4},
		{[]byte{0x01}, 5},
		{long, 6},
	} {
		if err := x.append(a.serial, a.v); err != nil {
			t.Fatalf("append #%d: %v", i, err)
		}
	}
	x.build()
	if x.len() != 4 {
		t.Fatalf("len = %d, want 4", x.len())
	}
	for _, c := range []struct {
		serial []byte
		v      int64
		ok     bool
	}{
		{[]byte{0x01}, 1, true},
		{[]byte{0x01, 0x00}, 2, true},
		{bytes.Repeat([]byte{0x42}, 20), 3, true},
		{long, 4, true},
		{[]byte{0x01, 0x00, 0x00}, 0, false},
		{bytes.Repeat([]byte{0x42}, 19), 0, false},
		{long[:24], 0, false},
		{nil, 0, false},
	} {
		if v, ok := x.get(c.serial); ok != c.ok || v != c.v {
			t.Errorf("get(%x) = %d, %v; want %d, %v", c.serial, v, ok, c.v, c.ok)
		}
	}
	n := 0
	x.each(func(serial []byte, v int64) {
		n++
		if got, ok := x.get(serial); !ok || got != v {
			t.Errorf("each gave %x=%d, get says %d, %v", serial, v, got, ok)
		}
	})
	if n != 4 {
		t.Fatalf("each visited %d serials, want 4", n)
	}
	// Many serials: every one is found (probing across collisions).
	var y serialIndex
	for i := 0; i < 5000; i++ {
		_ = y.append([]byte{byte(i >> 8), byte(i)}, int64(i))
	}
	y.build()
	for i := 0; i < 5000; i++ {
		if v, ok := y.get([]byte{byte(i >> 8), byte(i)}); !ok || v != int64(i) {
			t.Fatalf("serial %d: %d, %v", i, v, ok)
		}
	}
	if _, ok := y.get([]byte{0xff, 0xff, 0xff}); ok {
		t.Fatal("found a serial never added")
	}
}
