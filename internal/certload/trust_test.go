package certload

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
	"software.sslmate.com/src/go-pkcs12"
)

func TestLoadTrustBundle(t *testing.T) {
	p := newPKI(t)
	rootPEM, interPEM := testpki.CertPEM(p.root.Cert), testpki.CertPEM(p.inter.Cert)
	// afterRoot is the line a block placed right after rootPEM starts on.
	afterRoot := func(offset int) string {
		return strconv.Itoa(bytes.Count(rootPEM, []byte("\n")) + 1 + offset)
	}
	type trustCase struct {
		name    string
		file    string
		data    func(t *testing.T) []byte
		pw      string
		want    []*x509.Certificate
		ignored []string
		err     error
		msg     []string
	}
	pemData := func(parts ...[]byte) func(*testing.T) []byte { return func(*testing.T) []byte { return cat(parts...) } }
	cases := []trustCase{
		{name: "pem two CAs, comments, duplicate", file: "clients-ca.pem",
			data: pemData([]byte("# Root\nsubject=CN=root\n"), rootPEM, []byte("\n# Intermediate\n"), interPEM, rootPEM),
			want: []*x509.Certificate{p.root.Cert, p.inter.Cert}},
		{name: "pem with CRL, CSR and public key skipped", file: "ca.pem",
			data: pemData(pemBytes("X509 CRL", []byte{0x30, 0}), rootPEM, pemBytes("CERTIFICATE REQUEST", []byte{1}),
				pemBytes("PUBLIC KEY", []byte{2})),
			want:    []*x509.Certificate{p.root.Cert},
			ignored: []string{"X509 CRL at line 1", "CERTIFICATE REQUEST at line " + afterRoot(3), "PUBLIC KEY at line " + afterRoot(6)}},
		{name: "pem leaf pinned", file: "pinned.pem", data: pemData(p.ec.CertPEM()), want: []*x509.Certificate{p.ec.Cert}},
		{name: "p12 truststore modern", file: "trust.p12", pw: testPassword,
			data: func(t *testing.T) []byte { return p12Trust(t, pkcs12.Modern, testPassword, p.root.Cert, p.inter.Cert) },
			want: []*x509.Certificate{p.root.Cert, p.inter.Cert}},
		{name: "p12 truststore passwordless", file: "trust.p12",
			data: func(t *testing.T) []byte { return p12Trust(t, pkcs12.Passwordless, "", p.root.Cert) },
			want: []*x509.Certificate{p.root.Cert}},
		{name: "jks truststore, key entries skipped", file: "trust.jks", pw: testPassword,
			data: func(t *testing.T) []byte {
				return makeJKS(t, testPassword, jksEntry{alias: "root", cert: p.root.Cert}, jksEntry{alias: "gw", leaf: p.ec},
					jksEntry{alias: "inter", cert: p.inter.Cert})
			},
			want: []*x509.Certificate{p.inter.Cert, p.root.Cert}}, // alias order

		// Errors.
		{name: "empty", file: "ca.pem", data: pemData(), err: ErrEmptyFile, msg: []string{"ca.pem: file is empty"}},
		{name: "text only", file: "ca.pem", data: pemData([]byte("# nothing\n")), err: ErrNoCertificate,
			msg: []string{"no certificate found (no -----BEGIN CERTIFICATE----- block)"}},
		{name: "only a CRL", file: "ca.pem", data: pemData(pemBytes("X509 CRL", []byte{1})), err: ErrNoCertificate,
			msg: []string{"holds only [X509 CRL at line 1]"}},
		{name: "private key in bundle", file: "ca.pem", data: func(t *testing.T) []byte { return cat(rootPEM, p.ec.KeyPEM(t)) },
			err: ErrWrongFormat, msg: []string{"line " + afterRoot(0) + ": a trust bundle must hold only certificates", "private key"}},
		{name: "trusted certificate block", file: "ca.pem", data: pemData(pemBytes("TRUSTED CERTIFICATE", p.root.Cert.Raw)),
			err: ErrUnsupported, msg: []string{"TRUSTED CERTIFICATE"}},
		{name: "unknown block", file: "ca.pem", data: pemData(rootPEM, pemBytes("PKCS7", []byte{1})),
			err: ErrUnsupported, msg: []string{`unknown PEM block type "PKCS7"`}},
		{name: "bad certificate", file: "ca.pem", data: pemData(rootPEM, pemBytes("CERTIFICATE", []byte{0x30, 0})),
			err: ErrMalformed, msg: []string{"cannot parse the certificate at line " + afterRoot(0)}},
		{name: "jks as pem", file: "clients.pem", data: func(t *testing.T) []byte {
			return makeJKS(t, testPassword, jksEntry{alias: "root", cert: p.root.Cert})
		}, err: ErrWrongFormat, msg: []string{"clients.pem: file is a JKS keystore, not PEM; name it .jks"}},
		{name: "p12 wrong password", file: "trust.p12", pw: "not-it",
			data: func(t *testing.T) []byte { return p12Trust(t, pkcs12.Modern, testPassword, p.root.Cert) },
			err:  ErrWrongPassword, msg: []string{"trust.p12: wrong password or corrupt keystore"}},
		{name: "p12 keystore as truststore", file: "gw.p12", pw: testPassword,
			data: func(t *testing.T) []byte { return p12(t, pkcs12.Modern, p.ec, testPassword) },
			err:  ErrWrongFormat, msg: []string{"it is a keystore, not a truststore", "export the CA certificates"}},
		{name: "p12 keystore as truststore, wrong password", file: "gw.p12", pw: "not-it",
			data: func(t *testing.T) []byte { return p12(t, pkcs12.Modern, p.ec, testPassword) },
			err:  ErrWrongPassword, msg: []string{"wrong password or corrupt keystore"}},
		{name: "jks only key entries", file: "gw.jks", pw: testPassword,
			data: func(t *testing.T) []byte { return makeJKS(t, testPassword, jksEntry{alias: "gw", leaf: p.ec}) },
			err:  ErrNoCertificate, msg: []string{`only private key entries ("gw"): this is a keystore, not a truststore`}},
		{name: "jks empty store", file: "empty.jks", pw: testPassword,
			data: func(t *testing.T) []byte { return makeJKS(t, testPassword) },
			err:  ErrNoCertificate, msg: []string{"truststore holds no certificates"}},
		{name: "jks wrong password", file: "trust.jks", pw: "not-it",
			data: func(t *testing.T) []byte { return makeJKS(t, testPassword, jksEntry{alias: "root", cert: p.root.Cert}) },
			err:  ErrWrongPassword, msg: []string{"wrong password or corrupt keystore"}},
		{name: "jks without password", file: "trust.jks",
			data: func(t *testing.T) []byte { return makeJKS(t, testPassword, jksEntry{alias: "root", cert: p.root.Cert}) },
			err:  ErrNoPassword, msg: []string{"needs a password"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := TrustSpec{File: testpki.WriteFile(t, dir, tc.file, tc.data(t))}
			if tc.pw != "" {
				spec.PasswordFile = testpki.WriteFile(t, dir, "pw.txt", []byte(tc.pw))
			}
			b, err := LoadTrustBundle(spec)
			if err != nil {
				t.Log(err)
			}
			checkErr(t, err, tc.err, tc.msg...)
			if tc.err != nil {
				return
			}
			if b.Source != spec.File {
				t.Errorf("Source = %q, want %q", b.Source, spec.File)
			}
			if len(b.Certs) != len(tc.want) {
				t.Fatalf("got %d certificates, want %d", len(b.Certs), len(tc.want))
			}
			for i, c := range tc.want {
				if !bytes.Equal(b.Certs[i].Raw, c.Raw) {
					t.Errorf("Certs[%d] = %s, want %s", i, b.Certs[i].Subject, c.Subject)
				}
			}
			if !reflect.DeepEqual(b.Ignored, tc.ignored) {
				t.Errorf("Ignored = %q, want %q", b.Ignored, tc.ignored)
			}
			// The pool must verify a leaf issued by a bundled root.
			if rootOnly := newBundle("", []*x509.Certificate{p.root.Cert}); rootOnly.HasIssuerOf(b.Certs[0]) && b.Certs[0].IsCA {
				opts := x509.VerifyOptions{Roots: b.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
				if _, err := p.rsa.Cert.Verify(opts); err != nil {
					t.Errorf("leaf does not verify against the pool: %v", err)
				}
			}
		})
	}
}

func TestHasIssuerOf(t *testing.T) {
	p := newPKI(t)
	rootOnly := newBundle("root.pem", []*x509.Certificate{p.root.Cert})
	withInter := newBundle("chain.pem", []*x509.Certificate{p.root.Cert, p.inter.Cert})
	pinned := newBundle("pinned.pem", []*x509.Certificate{p.ec.Cert})
	cases := []struct {
		name   string
		bundle *Bundle
		cert   *x509.Certificate
		want   bool
	}{
		{"leaf of root", rootOnly, p.rsa.Cert, true},
		{"root itself", rootOnly, p.root.Cert, true},
		{"intermediate of root", rootOnly, p.inter.Cert, true},
		{"leaf of intermediate, root only", rootOnly, p.ec.Cert, false},
		{"leaf of intermediate, intermediate present", withInter, p.ec.Cert, true},
		{"unrelated", withInter, p.other.Cert, false},
		{"pinned leaf by raw bytes", pinned, p.ec.Cert, true},
		{"nil cert", rootOnly, nil, false},
		{"nil bundle", nil, p.ec.Cert, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.bundle.HasIssuerOf(tc.cert); got != tc.want {
				t.Fatalf("HasIssuerOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFiles(t *testing.T) {
	cases := []struct {
		name string
		got  []string
		want []string
	}{
		{"pem pair with password file", KeyPairSpec{Cert: "a.pem", Key: "a.key", PasswordFile: "pw", PasswordEnv: "X"}.Files(),
			[]string{"a.pem", "a.key", "pw"}},
		{"keystore", KeyPairSpec{Cert: "a.p12", PasswordEnv: "X"}.Files(), []string{"a.p12"}},
		{"combined, key named twice", KeyPairSpec{Cert: "a.pem", Key: "a.pem"}.Files(), []string{"a.pem"}},
		{"empty", KeyPairSpec{}.Files(), []string{}},
		{"trust", TrustSpec{File: "ca.pem", PasswordFile: "pw"}.Files(), []string{"ca.pem", "pw"}},
		{"trust env", TrustSpec{File: "ca.jks", PasswordEnv: "X"}.Files(), []string{"ca.jks"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Fatalf("Files() = %q, want %q", tc.got, tc.want)
			}
		})
	}
}

func TestKeyFileWarnings(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("mode bits do not describe access on Windows")
	}
	dir := t.TempDir()
	file := func(name string, mode os.FileMode) string {
		p := testpki.WriteFile(t, dir, name, []byte("x"))
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		spec KeyPairSpec
		want []string // one fragment per expected warning
	}{
		{"tight", KeyPairSpec{Cert: file("c.pem", 0o644), Key: file("k1.key", 0o600), PasswordFile: file("pw1", 0o400)}, nil},
		{"world-readable key", KeyPairSpec{Cert: file("c2.pem", 0o644), Key: file("k2.key", 0o644)},
			[]string{"k2.key: mode 0644 is wider than 0600 for a file holding a private key; chmod 600"}},
		{"group-readable password file", KeyPairSpec{Cert: "c.pem", Key: file("k3.key", 0o600), PasswordFile: file("pw3", 0o640)},
			[]string{"pw3: mode 0640 is wider than 0600 for a file holding a password"}},
		{"keystore holds the key", KeyPairSpec{Cert: file("s.p12", 0o604)}, []string{"s.p12: mode 0604"}},
		{"missing files are skipped", KeyPairSpec{Cert: "x.pem", Key: filepath.Join(dir, "nope")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := KeyFileWarnings(tc.spec)
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %d warnings", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) || !strings.HasPrefix(got[i], "certload: ") {
					t.Errorf("warning %q does not contain %q", got[i], w)
				}
			}
		})
	}
}
