package certload

import (
	"crypto/x509"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"software.sslmate.com/src/go-pkcs12"
)

func TestLoadKeyPairKeystores(t *testing.T) {
	p := newPKI(t)
	ec := func(p *pki) *testpki.Leaf { return p.ec }
	// store writes data as name and returns a spec with the password file.
	store := func(name string, data func(t *testing.T, p *pki) []byte, pw, alias string) func(*testing.T, string, *pki) KeyPairSpec {
		return func(t *testing.T, dir string, p *pki) KeyPairSpec {
			s := KeyPairSpec{Cert: testpki.WriteFile(t, dir, name, data(t, p)), Alias: alias}
			if pw != "" {
				s.PasswordFile = testpki.WriteFile(t, dir, "pw.txt", []byte(pw+"\n"))
			}
			return s
		}
	}
	modern := func(t *testing.T, p *pki) []byte { return p12(t, pkcs12.Modern, p.ec, testPassword) }
	jksOne := func(t *testing.T, p *pki) []byte {
		return makeJKS(t, testPassword, jksEntry{alias: "gw", leaf: p.ec}, jksEntry{alias: "root", cert: p.root.Cert})
	}
	jksTwo := func(t *testing.T, p *pki) []byte {
		return makeJKS(t, testPassword, jksEntry{alias: "Gateway", leaf: p.ec}, jksEntry{alias: "rsa", leaf: p.rsa},
			jksEntry{alias: "root", cert: p.root.Cert})
	}
	// leafLast reverses a chain inside a PKCS#12 file: the loader must
	// find the leaf by its key.
	leafLast := func(t *testing.T, p *pki) []byte {
		return p12(t, pkcs12.Modern, &testpki.Leaf{Cert: p.inter.Cert, Key: p.ec.Key, Chain: []*x509.Certificate{p.ec.Cert}}, testPassword)
	}

	cases := []keyPairCase{
		{name: "p12 modern with chain", want: ec, setup: store("gw.p12", modern, testPassword, "")},
		{name: "pfx legacy DES", want: ec, setup: store("gw.PFX", func(t *testing.T, p *pki) []byte {
			return p12(t, pkcs12.LegacyDES, p.ec, testPassword)
		}, testPassword, "")},
		{name: "p12 legacy RC2", want: ec, setup: store("gw.p12", func(t *testing.T, p *pki) []byte {
			return p12(t, pkcs12.LegacyRC2, p.ec, testPassword)
		}, testPassword, "")},
		{name: "p12 modern2026 (PBMAC1)", want: ec, setup: store("gw.p12", func(t *testing.T, p *pki) []byte {
			return p12(t, pkcs12.Modern2026, p.ec, testPassword)
		}, testPassword, "")},
		{name: "p12 rsa", want: func(p *pki) *testpki.Leaf { return p.rsa }, setup: store("gw.p12", func(t *testing.T, p *pki) []byte {
			return p12(t, pkcs12.Modern, p.rsa, testPassword)
		}, testPassword, "")},
		{name: "p12 ed25519", want: func(p *pki) *testpki.Leaf { return p.ed }, setup: store("gw.p12", func(t *testing.T, p *pki) []byte {
			return p12(t, pkcs12.Modern, p.ed, testPassword)
		}, testPassword, "")},
		{name: "p12 passwordless, no password", want: ec, setup: store("gw.p12", func(t *testing.T, p *pki) []byte {
			return p12(t, pkcs12.Passwordless, p.ec, "")
		}, "", "")},
		{name: "p12 leaf stored last", want: ec, setup: store("gw.p12", leafLast, testPassword, "")},
		{name: "jks one key entry", want: ec, setup: store("gw.jks", jksOne, testPassword, "")},
		{name: "jks alias picks, case-insensitively", want: ec, setup: store("gw.jks", jksTwo, testPassword, "GATEWAY")},
		{name: "jks alias exact", want: func(p *pki) *testpki.Leaf { return p.rsa }, setup: store("gw.jks", jksTwo, testPassword, "rsa")},
		{name: "jks latin-1 password", want: ec, setup: store("gw.jks", func(t *testing.T, p *pki) []byte {
			return makeJKS(t, "p\xe4ss", jksEntry{alias: "gw", leaf: p.ec}) // "päss" as Java sees it
		}, "päss", "")},

		// Errors.
		{name: "p12 wrong password", err: ErrWrongPassword, msg: []string{"gw.p12: wrong password or corrupt keystore"},
			setup: store("gw.p12", modern, "not-it", "")},
		{name: "p12 no password configured", err: ErrNoPassword, msg: []string{"password-protected but no password is configured"},
			setup: store("gw.p12", modern, "", "")},
		{name: "p12 wrong password with alias", err: ErrWrongPassword, msg: []string{"wrong password or corrupt keystore"},
			setup: store("gw.p12", modern, "not-it", "gw")},
		{name: "p12 modified content", err: ErrWrongPassword, msg: []string{"or corrupt keystore"},
			setup: store("store.p12", func(t *testing.T, p *pki) []byte {
				b := modern(t, p)
				b[len(b)/2] ^= 0x01
				return b
			}, testPassword, "")},
		{name: "p12 truncated", err: ErrMalformed, msg: []string{"cannot decode the PKCS#12 keystore"},
			setup: store("gw.p12", func(t *testing.T, p *pki) []byte { return modern(t, p)[:200] }, testPassword, "")},
		{name: "p12 passwordless but password configured", err: ErrWrongPassword, msg: []string{"no integrity MAC"},
			setup: store("gw.p12", func(t *testing.T, p *pki) []byte { return p12(t, pkcs12.Passwordless, p.ec, "") }, testPassword, "")},
		{name: "p12 truststore as key pair", err: ErrNoPrivateKey, msg: []string{"is this a truststore?"},
			setup: store("gw.p12", func(t *testing.T, p *pki) []byte {
				return p12Trust(t, pkcs12.Modern, testPassword, p.root.Cert)
			}, testPassword, "")},
		{name: "p12 alias without friendlyName", err: ErrAlias, msg: []string{`alias "gw" not found; private key entries: (one without a name)`},
			setup: store("gw.p12", modern, testPassword, "gw")},
		{name: "jks wrong password", err: ErrWrongPassword, msg: []string{"gw.jks: wrong password or corrupt keystore"},
			setup: store("gw.jks", jksOne, "not-it", "")},
		{name: "jks no password", err: ErrNoPassword, msg: []string{"JKS keystore needs a password"},
			setup: store("gw.jks", jksOne, "", "")},
		{name: "jks two keys without alias", err: ErrAlias, msg: []string{`2 private key entries ("Gateway", "rsa"); set alias`},
			setup: store("gw.jks", jksTwo, testPassword, "")},
		{name: "jks alias not found", err: ErrAlias, msg: []string{`alias "nope" not found; private key entries: "Gateway", "rsa"`},
			setup: store("gw.jks", jksTwo, testPassword, "nope")},
		{name: "jks alias is a trusted cert", err: ErrAlias, msg: []string{`alias "ROOT" is a trusted certificate entry`},
			setup: store("gw.jks", jksTwo, testPassword, "ROOT")},
		{name: "jks truststore as key pair", err: ErrNoPrivateKey, msg: []string{"only trusted certificates; is this a truststore?"},
			setup: store("gw.jks", func(t *testing.T, p *pki) []byte {
				return makeJKS(t, testPassword, jksEntry{alias: "root", cert: p.root.Cert})
			}, testPassword, "")},
		{name: "jks key password differs", err: ErrWrongPassword, msg: []string{`does not decrypt key entry "gw"`, "key password to equal the store password"},
			setup: store("gw.jks", func(t *testing.T, p *pki) []byte {
				return makeJKS(t, testPassword, jksEntry{alias: "gw", leaf: p.ec, keyPwd: "other-key-password"})
			}, testPassword, "")},
		{name: "jks truncated", err: ErrMalformed, msg: []string{"malformed JKS keystore", "runs past the end of the file"},
			setup: store("gw.jks", func(t *testing.T, p *pki) []byte { return jksOne(t, p)[:300] }, testPassword, "")},
		{name: "jks trailing data", err: ErrMalformed, msg: []string{"20-byte digest"},
			setup: store("gw.jks", func(t *testing.T, p *pki) []byte { return append(jksOne(t, p), 0) }, testPassword, "")},
		{name: "jks password beyond latin-1", err: ErrUnsupported, msg: []string{"beyond U+00FF"},
			setup: store("gw.jks", jksOne, "pass\u20ac", "")},
	}
	runKeyPairCases(t, p, cases)
}

func TestFormatMismatch(t *testing.T) {
	p := newPKI(t)
	write := func(name string, data func(t *testing.T, p *pki) []byte) func(*testing.T, string, *pki) KeyPairSpec {
		return func(t *testing.T, dir string, p *pki) KeyPairSpec {
			return KeyPairSpec{Cert: testpki.WriteFile(t, dir, name, data(t, p))}
		}
	}
	jks := func(t *testing.T, p *pki) []byte { return makeJKS(t, testPassword, jksEntry{alias: "gw", leaf: p.ec}) }
	p12Data := func(t *testing.T, p *pki) []byte { return p12(t, pkcs12.Modern, p.ec, testPassword) }
	cases := []keyPairCase{
		{name: "jks named pem", err: ErrWrongFormat, msg: []string{"clients.pem: file is a JKS keystore, not PEM; name it .jks"},
			setup: write("clients.pem", jks)},
		{name: "p12 named pem", err: ErrWrongFormat, msg: []string{"file is a PKCS#12 keystore, not PEM; name it .p12"},
			setup: write("gw.crt", p12Data)},
		{name: "pem named p12", err: ErrWrongFormat, msg: []string{"file is PEM, not a PKCS#12 keystore; name it .pem"},
			setup: write("gw.p12", func(t *testing.T, p *pki) []byte { return p.ec.ChainPEM() })},
		{name: "jks named p12", err: ErrWrongFormat, msg: []string{"file is a JKS keystore, not PKCS#12; name it .jks"},
			setup: write("gw.p12", jks)},
		{name: "der certificate named pem", err: ErrWrongFormat, msg: []string{"DER-encoded certificate", "openssl x509 -inform der"},
			setup: write("gw.pem", func(t *testing.T, p *pki) []byte { return p.ec.Cert.Raw })},
		{name: "der key as key file", err: ErrWrongFormat, msg: []string{"gw.key: file is a DER-encoded private key"},
			setup: func(t *testing.T, dir string, p *pki) KeyPairSpec {
				der, _ := x509.MarshalPKCS8PrivateKey(p.ec.Key)
				return KeyPairSpec{Cert: testpki.WriteFile(t, dir, "gw.pem", p.ec.ChainPEM()), Key: testpki.WriteFile(t, dir, "gw.key", der)}
			}},
		{name: "jceks", err: ErrUnsupported, msg: []string{"JCEKS keystore, which is not supported", "-deststoretype PKCS12"},
			setup: write("gw.jks", func(*testing.T, *pki) []byte { return []byte{0xCE, 0xCE, 0xCE, 0xCE, 0, 0, 0, 2} })},
		{name: "binary junk named jks", err: ErrMalformed, msg: []string{"no JKS magic"},
			setup: func(t *testing.T, dir string, _ *pki) KeyPairSpec {
				return KeyPairSpec{Cert: testpki.WriteFile(t, dir, "gw.jks", []byte{1, 2, 3, 0xff}), PasswordEnv: "CERTLOAD_PW"}
			}},
		{name: "text named p12", err: ErrWrongFormat, msg: []string{"text without PEM blocks, not a PKCS#12 keystore"},
			setup: write("gw.p12", func(*testing.T, *pki) []byte { return []byte("hello") })},
	}
	t.Setenv("CERTLOAD_PW", testPassword)
	runKeyPairCases(t, p, cases)
}

func TestSniff(t *testing.T) {
	p := newPKI(t)
	key, _ := x509.MarshalPKCS8PrivateKey(p.ec.Key)
	cases := []struct {
		name string
		data []byte
		want format
	}{
		{"pem", p.ec.ChainPEM(), fmtPEM},
		{"pem after comment", append([]byte("0 comment starting with 0x30\n"), p.ec.CertPEM()...), fmtPEM},
		{"jks", makeJKS(t, testPassword, jksEntry{alias: "a", cert: p.root.Cert}), fmtJKS},
		{"jceks", []byte{0xCE, 0xCE, 0xCE, 0xCE}, fmtJCEKS},
		{"p12", p12(t, pkcs12.Modern, p.ec, testPassword), fmtPKCS12},
		{"p12 truststore", p12Trust(t, pkcs12.Passwordless, "", p.root.Cert), fmtPKCS12},
		{"der cert", p.ec.Cert.Raw, fmtDERCert},
		{"der key", key, fmtDERKey},
		{"text", []byte("just text\n"), fmtText},
		{"binary", []byte{0, 1, 2, 3, 4}, fmtUnknown},
		{"lone 0x30 is the text \"0\"", []byte{0x30}, fmtText},
		{"truncated der", p.ec.Cert.Raw[:100], fmtUnknown},
		{"jks magic only", []byte{0xFE, 0xED, 0xFE, 0xED}, fmtJKS},
		{"three bytes", []byte{0xFE, 0xED, 0xFE}, fmtUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := sniff(tc.data); got != tc.want {
				t.Fatalf("sniff = %v, want %v", got, tc.want)
			}
		})
	}
}
