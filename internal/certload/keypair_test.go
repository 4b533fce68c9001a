package certload

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"github.com/youmark/pkcs8"
)

// keyPairCase builds files in dir and returns the spec to load.
type keyPairCase struct {
	name  string
	setup func(t *testing.T, dir string, p *pki) KeyPairSpec
	want  func(p *pki) *testpki.Leaf // expected leaf on success
	err   error                      // expected sentinel on failure
	msg   []string                   // fragments of the error message
}

func TestLoadKeyPairPEM(t *testing.T) {
	p := newPKI(t)
	ec := func(p *pki) *testpki.Leaf { return p.ec }
	rsaLeaf := func(p *pki) *testpki.Leaf { return p.rsa }
	files := func(certName string, cert []byte, keyName string, key []byte) func(*testing.T, string, *pki) KeyPairSpec {
		return func(t *testing.T, dir string, _ *pki) KeyPairSpec {
			return KeyPairSpec{Cert: testpki.WriteFile(t, dir, certName, cert), Key: testpki.WriteFile(t, dir, keyName, key)}
		}
	}
	withPassword := func(inner func(*testing.T, string, *pki) KeyPairSpec, pwFile string) func(*testing.T, string, *pki) KeyPairSpec {
		return func(t *testing.T, dir string, p *pki) KeyPairSpec {
			s := inner(t, dir, p)
			s.PasswordFile = testpki.WriteFile(t, dir, "pw.txt", []byte(pwFile))
			return s
		}
	}
	ecKey := p.ec.Key.(*ecdsa.PrivateKey)
	rsaKey := p.rsa.Key.(*rsa.PrivateKey)
	ecSEC1 := func() []byte { der, _ := x509.MarshalECPrivateKey(ecKey); return der }()
	pbkdf2SHA1 := &pkcs8.Opts{Cipher: pkcs8.AES128CBC, KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 8, IterationCount: 2048, HMACHash: crypto.SHA1}}

	cases := []keyPairCase{
		{name: "pkcs8 ecdsa with intermediate", want: ec,
			setup: files("gw.pem", p.ec.ChainPEM(), "gw.key", p.ec.KeyPEM(t))},
		{name: "pkcs1 rsa", want: rsaLeaf,
			setup: files("gw.pem", p.rsa.ChainPEM(), "gw.key", pkcs1PEM(rsaKey))},
		{name: "sec1 ecdsa", want: ec,
			setup: files("gw.pem", p.ec.ChainPEM(), "gw.key", sec1PEM(t, ecKey))},
		{name: "pkcs8 ed25519", want: func(p *pki) *testpki.Leaf { return p.ed },
			setup: files("gw.pem", p.ed.ChainPEM(), "gw.key", p.ed.KeyPEM(t))},
		{name: "mislabelled sec1 as PRIVATE KEY", want: ec,
			setup: files("gw.pem", p.ec.ChainPEM(), "gw.key", pemBytes("PRIVATE KEY", ecSEC1))},
		{name: "encrypted pkcs8 pbkdf2-sha256 aes-256, password file with newline", want: ec,
			setup: withPassword(files("gw.pem", p.ec.ChainPEM(), "gw.key", encPKCS8PEM(t, ecKey, testPassword, nil)), testPassword+"\n")},
		{name: "encrypted pkcs8 pbkdf2-sha1 aes-128, password file with crlf", want: rsaLeaf,
			setup: withPassword(files("gw.pem", p.rsa.ChainPEM(), "gw.key", encPKCS8PEM(t, rsaKey, testPassword, pbkdf2SHA1)), testPassword+"\r\n")},
		{name: "encrypted pkcs8 scrypt, password from env", want: ec,
			setup: func(t *testing.T, dir string, p *pki) KeyPairSpec {
				t.Setenv("CERTLOAD_TEST_PW", testPassword)
				s := files("gw.pem", p.ec.ChainPEM(), "gw.key", encPKCS8PEM(t, ecKey, testPassword, scryptOpts))(t, dir, p)
				s.PasswordEnv = "CERTLOAD_TEST_PW"
				return s
			}},
		{name: "legacy encrypted pkcs1 3des", want: rsaLeaf,
			setup: withPassword(files("gw.pem", p.rsa.ChainPEM(), "gw.key",
				legacyPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), testPassword, x509.PEMCipher3DES)), testPassword)},
		{name: "legacy encrypted sec1 aes-256", want: ec,
			setup: withPassword(files("gw.pem", p.ec.ChainPEM(), "gw.key",
				legacyPEM(t, "EC PRIVATE KEY", ecSEC1, testPassword, x509.PEMCipherAES256)), testPassword)},
		{name: "password configured for plain key is unused", want: ec,
			setup: withPassword(files("gw.pem", p.ec.ChainPEM(), "gw.key", p.ec.KeyPEM(t)), testPassword)},
		{name: "combined file, key after chain", want: ec,
			setup: func(t *testing.T, dir string, p *pki) KeyPairSpec {
				return KeyPairSpec{Cert: testpki.WriteFile(t, dir, "gw.pem", cat(p.ec.ChainPEM(), p.ec.KeyPEM(t)))}
			}},
		{name: "comments, EC PARAMETERS and certs in key file are ignored", want: ec,
			setup: files("gw.pem", cat([]byte("# gateway chain\n"), p.ec.ChainPEM(), pemBytes("X509 CRL", []byte{1})),
				"gw.key", cat(pemBytes("EC PARAMETERS", []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), sec1PEM(t, ecKey), p.ec.CertPEM()))},

		// Errors.
		{name: "missing cert file", err: ErrUnreadable, msg: []string{"nope.pem: cannot read file: no such file"},
			setup: func(t *testing.T, dir string, p *pki) KeyPairSpec {
				return KeyPairSpec{Cert: filepath.Join(dir, "nope.pem"), Key: testpki.WriteFile(t, dir, "gw.key", p.ec.KeyPEM(t))}
			}},
		{name: "missing key file", err: ErrUnreadable, msg: []string{"nope.key: cannot read file"},
			setup: func(t *testing.T, dir string, p *pki) KeyPairSpec {
				return KeyPairSpec{Cert: testpki.WriteFile(t, dir, "gw.pem", p.ec.ChainPEM()), Key: filepath.Join(dir, "nope.key")}
			}},
		{name: "empty cert file", err: ErrEmptyFile, msg: []string{"gw.pem: file is empty"},
			setup: files("gw.pem", nil, "gw.key", p.ec.KeyPEM(t))},
		{name: "empty key file", err: ErrEmptyFile, msg: []string{"gw.key: file is empty"},
			setup: files("gw.pem", p.ec.ChainPEM(), "gw.key", nil)},
		{name: "directory as cert", err: ErrUnreadable, msg: []string{"not a regular file (a directory)"},
			setup: func(t *testing.T, dir string, p *pki) KeyPairSpec {
				return KeyPairSpec{Cert: dir, Key: testpki.WriteFile(t, dir, "gw.key", p.ec.KeyPEM(t))}
			}},
		{name: "key file given as cert", err: ErrNoCertificate, msg: []string{"holds only a private key; is this the key file?"},
			setup: files("gw.pem", p.ec.KeyPEM(t), "gw.key", p.ec.KeyPEM(t))},
		{name: "text without PEM", err: ErrNoCertificate, msg: []string{"gw.pem: no certificate found"},
			setup: files("gw.pem", []byte("hello\n"), "gw.key", p.ec.KeyPEM(t))},
		{name: "cert file given as key", err: ErrNoPrivateKey, msg: []string{"gw.key: no private key found: the file holds only certificates"},
			setup: files("gw.pem", p.ec.ChainPEM(), "gw.key", p.ec.ChainPEM())},
		{name: "combined file without key", err: ErrNoPrivateKey, msg: []string{"no key file is configured"},
			setup: func(t *testing.T, dir string, p *pki) KeyPairSpec {
				return KeyPairSpec{Cert: testpki.WriteFile(t, dir, "gw.pem", p.ec.ChainPEM())}
			}},
		{name: "key does not match", err: ErrKeyMismatch, msg: []string{"gateway.pem: certificate does not match private key ", "gateway.key"},
			setup: files("gateway.pem", p.ec.ChainPEM(), "gateway.key", p.other.KeyPEM(t))},
		{name: "chain in wrong order", err: ErrKeyMismatch, msg: []string{"matches certificate 2", "put the leaf certificate first"},
			setup: files("gw.pem", cat(testpki.CertPEM(p.inter.Cert), p.ec.CertPEM()), "gw.key", p.ec.KeyPEM(t))},
		{name: "two keys in key file", err: ErrMalformed, msg: []string{"holds 2 private keys"},
			setup: files("gw.pem", p.ec.ChainPEM(), "gw.key", cat(p.ec.KeyPEM(t), p.rsa.KeyPEM(t)))},
		{name: "encrypted pkcs8 without password", err: ErrNoPassword, msg: []string{"gw.key: private key at line 1 is encrypted", "no password is configured"},
			setup: files("gw.pem", p.ec.ChainPEM(), "gw.key", encPKCS8PEM(t, ecKey, testPassword, nil))},
		{name: "encrypted pkcs8 wrong password", err: ErrWrongPassword, msg: []string{"gw.key: private key at line 1: wrong password"},
			setup: withPassword(files("gw.pem", p.ec.ChainPEM(), "gw.key", encPKCS8PEM(t, ecKey, testPassword, nil)), "not-it")},
		{name: "legacy encrypted without password", err: ErrNoPassword, msg: []string{"Proc-Type: 4,ENCRYPTED", "no password"},
			setup: files("gw.pem", p.rsa.ChainPEM(), "gw.key", legacyPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), testPassword, x509.PEMCipherAES128))},
		{name: "legacy encrypted wrong password", err: ErrWrongPassword, msg: []string{"wrong password for the encrypted private key at line 1"},
			setup: withPassword(files("gw.pem", p.rsa.ChainPEM(), "gw.key",
				legacyPEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), testPassword, x509.PEMCipherAES128)), "not-it")},
		{name: "corrupt base64", err: ErrMalformed, msg: []string{"gw.pem: PEM block at line 3 is malformed"},
			setup: files("gw.pem", []byte("# x\n\n-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"), "gw.key", p.ec.KeyPEM(t))},
		{name: "corrupt certificate DER", err: ErrMalformed, msg: []string{"cannot parse the certificate at line 1"},
			setup: files("gw.pem", pemBytes("CERTIFICATE", []byte{0x30, 3, 1, 1, 0}), "gw.key", p.ec.KeyPEM(t))},
		{name: "corrupt key DER", err: ErrMalformed, msg: []string{"cannot parse the PRIVATE KEY at line 1"},
			setup: files("gw.pem", p.ec.ChainPEM(), "gw.key", pemBytes("PRIVATE KEY", []byte{0x30, 0}))},
		{name: "trusted certificate block", err: ErrUnsupported, msg: []string{"TRUSTED CERTIFICATE"},
			setup: files("gw.pem", pemBytes("TRUSTED CERTIFICATE", p.ec.Cert.Raw), "gw.key", p.ec.KeyPEM(t))},
		{name: "unknown block type, quoted", err: ErrUnsupported, msg: []string{`unknown PEM block type "FOO\x1bBAR"`},
			setup: files("gw.pem", cat(p.ec.ChainPEM(), []byte("-----BEGIN FOO\x1bBAR-----\nAAAA\n-----END FOO\x1bBAR-----\n")), "gw.key", p.ec.KeyPEM(t))},
		{name: "openssh key", err: ErrUnsupported, msg: []string{"OpenSSH"},
			setup: files("gw.pem", p.ec.ChainPEM(), "gw.key", pemBytes("OPENSSH PRIVATE KEY", []byte("openssh-key-v1\x00")))},
		{name: "x25519 key cannot sign", err: ErrUnsupported, msg: []string{"X25519"},
			setup: files("gw.pem", p.ec.ChainPEM(), "gw.key", x25519KeyPEM(t))},
	}
	runKeyPairCases(t, p, cases)
}

func runKeyPairCases(t *testing.T, p *pki, cases []keyPairCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.setup(t, t.TempDir(), p)
			got, err := LoadKeyPair(spec)
			if err != nil {
				t.Log(err)
			}
			checkErr(t, err, tc.err, tc.msg...)
			if tc.err != nil {
				if got != nil {
					t.Fatalf("got a certificate with error %v", err)
				}
				return
			}
			checkCert(t, got, tc.want(p))
		})
	}
}

// checkCert asserts c is leaf with its full chain and a usable key.
func checkCert(t *testing.T, c *tls.Certificate, leaf *testpki.Leaf) {
	t.Helper()
	if c.Leaf == nil || !bytes.Equal(c.Leaf.Raw, leaf.Cert.Raw) {
		t.Fatalf("Leaf is not %s", leaf.Cert.Subject)
	}
	if len(c.Certificate) != 1+len(leaf.Chain) {
		t.Fatalf("chain has %d certificates, want %d", len(c.Certificate), 1+len(leaf.Chain))
	}
	if !bytes.Equal(c.Certificate[0], leaf.Cert.Raw) {
		t.Fatal("Certificate[0] is not the leaf")
	}
	for i, ca := range leaf.Chain {
		if !bytes.Equal(c.Certificate[i+1], ca.Raw) {
			t.Fatalf("Certificate[%d] is not %s", i+1, ca.Subject)
		}
	}
	key, ok := c.PrivateKey.(crypto.Signer)
	if !ok || !keyMatches(leaf.Cert, key) {
		t.Fatal("private key does not match the leaf")
	}
}

func x25519KeyPEM(t *testing.T) []byte {
	t.Helper()
	// PKCS#8 X25519 key (RFC 8410), 32 zero-ish bytes are fine for parsing.
	der := []byte{0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20}
	der = append(der, bytes.Repeat([]byte{7}, 32)...)
	return pemBytes("PRIVATE KEY", der)
}

func TestLoadKeyPairSpecAndPassword(t *testing.T) {
	p := newPKI(t)
	base := func(t *testing.T, dir string, p *pki) KeyPairSpec {
		cert, key := p.ec.WriteLeaf(t, dir, "gw")
		return KeyPairSpec{Cert: cert, Key: key}
	}
	with := func(mod func(t *testing.T, dir string, s *KeyPairSpec)) func(*testing.T, string, *pki) KeyPairSpec {
		return func(t *testing.T, dir string, p *pki) KeyPairSpec {
			s := base(t, dir, p)
			mod(t, dir, &s)
			return s
		}
	}
	cases := []keyPairCase{
		{name: "no cert", err: ErrInvalidSpec, msg: []string{"certload: invalid spec: no certificate file given"},
			setup: func(*testing.T, string, *pki) KeyPairSpec { return KeyPairSpec{} }},
		{name: "both password sources", err: ErrInvalidSpec, msg: []string{"not both"},
			setup: with(func(_ *testing.T, _ string, s *KeyPairSpec) { s.PasswordFile, s.PasswordEnv = "a", "B" })},
		{name: "key next to keystore", err: ErrInvalidSpec, msg: []string{"leave the key file", "empty"},
			setup: with(func(_ *testing.T, _ string, s *KeyPairSpec) { s.Cert = "store.p12" })},
		{name: "alias with PEM", err: ErrInvalidSpec, msg: []string{`alias "gw" applies only to`},
			setup: with(func(_ *testing.T, _ string, s *KeyPairSpec) { s.Alias = "gw" })},
		{name: "env var unset", err: ErrPasswordSource, msg: []string{"CERTLOAD_TEST_UNSET is not set"},
			setup: with(func(_ *testing.T, _ string, s *KeyPairSpec) { s.PasswordEnv = "CERTLOAD_TEST_UNSET" })},
		{name: "env var empty", err: ErrPasswordSource, msg: []string{"CERTLOAD_TEST_EMPTY is empty"},
			setup: with(func(t *testing.T, _ string, s *KeyPairSpec) {
				t.Setenv("CERTLOAD_TEST_EMPTY", "")
				s.PasswordEnv = "CERTLOAD_TEST_EMPTY"
			})},
		{name: "password file empty", err: ErrPasswordSource, msg: []string{"pw.txt: password file is empty"},
			setup: with(func(t *testing.T, dir string, s *KeyPairSpec) {
				s.PasswordFile = testpki.WriteFile(t, dir, "pw.txt", nil)
			})},
		{name: "password file only newline", err: ErrPasswordSource, msg: []string{"password file is empty"},
			setup: with(func(t *testing.T, dir string, s *KeyPairSpec) {
				s.PasswordFile = testpki.WriteFile(t, dir, "pw.txt", []byte("\n"))
			})},
		{name: "password file missing", err: ErrUnreadable, msg: []string{"nope.txt: cannot read file"},
			setup: with(func(_ *testing.T, dir string, s *KeyPairSpec) { s.PasswordFile = filepath.Join(dir, "nope.txt") })},
		{name: "file too large", err: ErrUnreadable, msg: []string{"larger than 8 MiB"},
			setup: with(func(t *testing.T, dir string, s *KeyPairSpec) {
				big := filepath.Join(dir, "big.pem")
				if err := os.WriteFile(big, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(big, maxFileSize+1); err != nil {
					t.Fatal(err)
				}
				s.Cert = big
			})},
	}
	runKeyPairCases(t, p, cases)
}

func TestTrimOneNewline(t *testing.T) {
	for in, want := range map[string]string{
		"pw": "pw", "pw\n": "pw", "pw\r\n": "pw", "pw\n\n": "pw\n", "pw\r": "pw\r", " pw \n": " pw ", "": "",
	} {
		if got := string(trimOneNewline([]byte(in))); got != want {
			t.Errorf("trimOneNewline(%q) = %q, want %q", in, got, want)
		}
	}
}
