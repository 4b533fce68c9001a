package certload

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"
)

// testPassword is distinctive so tests can check it never leaks into errors.
const testPassword = "s3cret-Pa55word-42"

// pki is one minted hierarchy: root -> intermediate -> leaves.
type pki struct {
	root, inter *testpki.CA
	ec          *testpki.Leaf // ECDSA P-256, issued by inter
	rsa         *testpki.Leaf // RSA 2048, issued by root
	ed          *testpki.Leaf // Ed25519, issued by root
	other       *testpki.Leaf // ECDSA, from an unrelated root
}

func newPKI(tb testing.TB) *pki {
	tb.Helper()
	root := testpki.NewRootCA(tb, "certload test root")
	inter := root.NewIntermediate(tb, "certload test intermediate")
	return &pki{
		root:  root,
		inter: inter,
		ec:    inter.Issue(tb, testpki.Options{CN: "gateway.test", DNS: []string{"gateway.test"}}),
		rsa:   root.Issue(tb, testpki.Options{CN: "rsa.test", KeyType: testpki.RSA2048}),
		ed:    issueEd25519(tb, root, "ed.test"),
		other: testpki.NewRootCA(tb, "unrelated root").Issue(tb, testpki.Options{CN: "other.test"}),
	}
}

// issueEd25519 mints an Ed25519 leaf; testpki has no Ed25519 key type.
func issueEd25519(tb testing.TB, ca *testpki.CA, cn string) *testpki.Leaf {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &testpki.Leaf{Cert: cert, Key: priv}
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs1PEM(k *rsa.PrivateKey) []byte {
	return pemBytes("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
}

func sec1PEM(tb testing.TB, k *ecdsa.PrivateKey) []byte {
	tb.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return pemBytes("EC PRIVATE KEY", der)
}

// encPKCS8PEM encrypts key as "ENCRYPTED PRIVATE KEY" (PBES2).
func encPKCS8PEM(tb testing.TB, key crypto.Signer, pw string, opts *pkcs8.Opts) []byte {
	tb.Helper()
	der, err := pkcs8.MarshalPrivateKey(key, []byte(pw), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return pemBytes("ENCRYPTED PRIVATE KEY", der)
}

var scryptOpts = &pkcs8.Opts{
	Cipher:  pkcs8.AES256CBC,
	KDFOpts: pkcs8.ScryptOpts{SaltSize: 16, CostParameter: 1 << 10, BlockSize: 8, ParallelizationParameter: 1},
}

// legacyPEM encrypts der the old OpenSSL way (Proc-Type: 4,ENCRYPTED).
func legacyPEM(tb testing.TB, typ string, der []byte, pw string, alg x509.PEMCipher) []byte {
	tb.Helper()
	//nolint:staticcheck // SA1019: producing legacy encrypted PEM is the point of this helper.
	blk, err := x509.EncryptPEMBlock(rand.Reader, typ, der, []byte(pw), alg)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(blk)
}

func p12(tb testing.TB, enc *pkcs12.Encoder, l *testpki.Leaf, pw string) []byte {
	tb.Helper()
	data, err := enc.Encode(l.Key, l.Cert, l.Chain, pw)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func p12Trust(tb testing.TB, enc *pkcs12.Encoder, pw string, certs ...*x509.Certificate) []byte {
	tb.Helper()
	data, err := enc.EncodeTrustStore(certs, pw)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// jksEntry is one entry for makeJKS: a key entry if leaf is set, else a
// trusted certificate entry for cert.
type jksEntry struct {
	alias  string
	leaf   *testpki.Leaf
	cert   *x509.Certificate
	keyPwd string // key password; "" means the store password
}

func makeJKS(tb testing.TB, storePwd string, entries ...jksEntry) []byte {
	tb.Helper()
	ks := keystore.New(keystore.WithCaseExactAliases())
	now := time.Now()
	for _, e := range entries {
		if e.leaf == nil {
			err := ks.SetTrustedCertificateEntry(e.alias, keystore.TrustedCertificateEntry{
				CreationTime: now, Certificate: keystore.Certificate{Type: "X.509", Content: e.cert.Raw},
			})
			if err != nil {
				tb.Fatal(err)
			}
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(e.leaf.Key)
		if err != nil {
			tb.Fatal(err)
		}
		chain := []keystore.Certificate{{Type: "X.509", Content: e.leaf.Cert.Raw}}
		for _, c := range e.leaf.Chain {
			chain = append(chain, keystore.Certificate{Type: "X.509", Content: c.Raw})
		}
		kp := e.keyPwd
		if kp == "" {
			kp = storePwd
		}
		err = ks.SetPrivateKeyEntry(e.alias, keystore.PrivateKeyEntry{CreationTime: now, PrivateKey: der, CertificateChain: chain}, []byte(kp))
		if err != nil {
			tb.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := ks.Store(&buf, []byte(storePwd)); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// longBase64 matches runs that look like base64 or hex key material.
// tempDirs matches t.TempDir() paths, which are removed first (they hold
// long test names).
var (
	longBase64 = regexp.MustCompile(`[A-Za-z0-9+/=]{40,}`)
	tempDirs   = regexp.MustCompile(regexp.QuoteMeta(os.TempDir()) + `/[^/]+/[0-9]+/`)
)

// checkErr asserts err wraps want and its message contains every fragment.
// A nil want means success is expected.
func checkErr(t *testing.T, err, want error, fragments ...string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want error %v, got nil", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %q does not wrap %v", err, want)
	}
	if errors.Is(err, errDecoderPanic) {
		t.Fatalf("a decoder panicked: %v", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "certload: ") {
		t.Errorf("error %q lacks the package prefix", msg)
	}
	if strings.Contains(msg, testPassword) {
		t.Errorf("error %q contains the password", msg)
	}
	if m := longBase64.FindString(tempDirs.ReplaceAllString(msg, "")); m != "" {
		t.Errorf("error %q contains what looks like encoded key material %q", msg, m)
	}
	for _, f := range fragments {
		if !strings.Contains(msg, f) {
			t.Errorf("error %q does not contain %q", msg, f)
		}
	}
}
