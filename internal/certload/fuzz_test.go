package certload

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"
)

// fuzzPassword is the password every fuzz seed is encrypted with, so that
// mutations reach the code behind the password checks.
var fuzzPassword = password{b: []byte(testPassword), set: true}

// checkFuzzErr enforces the invariants for any input: no decoder panicked
// (guard would have turned it into errDecoderPanic), and every error is a
// *FileError with the package prefix.
func checkFuzzErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, errDecoderPanic) {
		t.Fatalf("a decoder panicked: %v", err)
	}
	var fe *FileError
	if !errors.As(err, &fe) || fe.Reason == nil {
		t.Fatalf("error is not a *FileError with a reason: %v", err)
	}
}

func FuzzPEMKeyPair(f *testing.F) {
	p := newPKI(f)
	ecKey, rsaKey := p.ec.Key.(*ecdsa.PrivateKey), p.rsa.Key.(*rsa.PrivateKey)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	for _, key := range [][]byte{
		p.ec.KeyPEM(f),
		sec1PEM(f, ecKey),
		pkcs1PEM(rsaKey),
		p.ed.KeyPEM(f),
		encPKCS8PEM(f, ecKey, testPassword, nil),
		encPKCS8PEM(f, ecKey, testPassword, scryptOpts),
		legacyPEM(f, "EC PRIVATE KEY", sec1, testPassword, x509.PEMCipherAES128),
	} {
		f.Add(p.ec.ChainPEM(), key, true)
	}
	f.Add(p.rsa.ChainPEM(), pkcs1PEM(rsaKey), false)
	f.Add(cat(p.ec.ChainPEM(), pemBytes("X509 CRL", []byte{1}), p.ec.KeyPEM(f)), []byte(nil), false)
	f.Fuzz(func(t *testing.T, cert, key []byte, withPassword bool) {
		pw := password{}
		if withPassword {
			pw = password{b: []byte(testPassword), set: true}
		}
		in := pemKeyPairInput{certPath: "fuzz.pem", certData: cert, keyPath: "fuzz.key", keyData: key, pw: pw}
		if len(key) == 0 {
			in.keyPath, in.keyData = "", nil // combined file
		}
		c, err := parsePEMKeyPair(in)
		checkFuzzErr(t, err)
		if err == nil {
			key, ok := c.PrivateKey.(crypto.Signer)
			if c.Leaf == nil || len(c.Certificate) == 0 || !ok || !keyMatches(c.Leaf, key) {
				t.Fatal("success without a matching leaf")
			}
		}
	})
}

func FuzzTrustPEM(f *testing.F) {
	p := newPKI(f)
	f.Add(cat([]byte("# bundle\n"), pemBytes("CERTIFICATE", p.root.Cert.Raw), pemBytes("CERTIFICATE", p.inter.Cert.Raw)))
	f.Add(cat(pemBytes("X509 CRL", []byte{1}), pemBytes("CERTIFICATE", p.root.Cert.Raw)))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"A": "b"}, Bytes: p.root.Cert.Raw}))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parsePEMTrust("fuzz.pem", data)
		checkFuzzErr(t, err)
		if err == nil && (len(b.Certs) == 0 || b.Pool == nil) {
			t.Fatal("success without certificates")
		}
	})
}

func FuzzKeystore(f *testing.F) {
	p := newPKI(f)
	f.Add(p12(f, pkcs12.Modern, p.ec, testPassword))
	f.Add(p12(f, pkcs12.LegacyRC2, p.rsa, testPassword))
	f.Add(p12(f, pkcs12.Passwordless, p.ec, ""))
	f.Add(p12Trust(f, pkcs12.Modern, testPassword, p.root.Cert, p.inter.Cert))
	f.Add(makeJKS(f, testPassword, jksEntry{alias: "gw", leaf: p.ec}, jksEntry{alias: "root", cert: p.root.Cert}))
	f.Add(makeJKS(f, testPassword, jksEntry{alias: "root", cert: p.root.Cert}))
	f.Add([]byte{0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return // readFile never passes empty data on
		}
		_ = sniff(data)
		for _, want := range []format{fmtPEM, fmtPKCS12, fmtJKS} {
			checkFuzzErr(t, checkFormat("fuzz", data, want))
		}
		for _, alias := range []string{"", "gw"} {
			_, err := parsePKCS12KeyPair("fuzz.p12", data, fuzzPassword, alias)
			checkFuzzErr(t, err)
			_, err = parseJKSKeyPair("fuzz.jks", data, fuzzPassword, alias)
			checkFuzzErr(t, err)
		}
		_, err := parsePKCS12Trust("fuzz.p12", data, fuzzPassword)
		checkFuzzErr(t, err)
		_, err = parsePKCS12Trust("fuzz.p12", data, password{})
		checkFuzzErr(t, err)
		_, err = parseJKSTrust("fuzz.jks", data, fuzzPassword)
		checkFuzzErr(t, err)
	})
}

func FuzzEncryptedPKCS8(f *testing.F) {
	p := newPKI(f)
	for _, opts := range []*pkcs8.Opts{nil, scryptOpts} {
		der, err := pkcs8.MarshalPrivateKey(p.ec.Key, []byte(testPassword), opts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		_, err := decryptPKCS8(der, fuzzPassword)
		if errors.Is(err, errDecoderPanic) {
			t.Fatalf("youmark/pkcs8 panicked on input that passed checkEncryptedPKCS8: %v", err)
		}
		var ke *keyError
		if err != nil && !errors.As(err, &ke) {
			t.Fatalf("error is not a *keyError: %v", err)
		}
	})
}
