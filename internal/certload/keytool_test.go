package certload

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestJavaKeystores loads keystores and truststores made by the real Java
// keytool. Each keytool run starts a JVM (~1 s), so the six runs go in
// parallel and every case below reuses their files.
func TestJavaKeystores(t *testing.T) {
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		t.Skip("keytool is not on PATH")
	}
	dir := t.TempDir()
	p := newPKI(t)
	rootFile := p.root.WriteCA(t, dir, "root")
	path := func(name string) string { return filepath.Join(dir, name) }
	pwFile := testpki.WriteFile(t, dir, "pw.txt", []byte(testPassword+"\n"))
	wrongPW := testpki.WriteFile(t, dir, "wrong.txt", []byte("wrong-password\n"))

	gen := func(store, storeType, alias, dname string, keyArgs ...string) []string {
		args := []string{"-genkeypair", "-alias", alias, "-dname", dname, "-validity", "2",
			"-keystore", store, "-storepass", testPassword, "-keypass", testPassword}
		if storeType != "" {
			args = append(args, "-storetype", storeType)
		}
		return append(args, keyArgs...)
	}
	importCA := func(store, storeType string) []string {
		return []string{"-importcert", "-noprompt", "-alias", "mtlsgate-root", "-file", rootFile,
			"-keystore", store, "-storetype", storeType, "-storepass", testPassword}
	}
	ec := []string{"-keyalg", "EC", "-groupname", "secp256r1"}
	rsa := []string{"-keyalg", "RSA", "-keysize", "2048"}
	runKeytool(t, keytool,
		[][]string{ // these two share a file and run in order
			gen(path("java.p12"), "PKCS12", "gw", "CN=java-gw", ec...),
			gen(path("java.p12"), "PKCS12", "Other", "CN=java-other", rsa...),
		},
		[][]string{gen(path("java.jks"), "JKS", "gw", "CN=java-jks-gw", ec...)},
		[][]string{importCA(path("trust.p12"), "PKCS12")},
		[][]string{importCA(path("trust.jks"), "JKS")},
		// No -storetype: Java 9+ writes PKCS#12 whatever the name says.
		[][]string{gen(path("default.jks"), "", "gw", "CN=java-default", ec...)},
	)

	keyCases := []struct {
		name   string
		spec   KeyPairSpec
		wantCN string
		err    error
		msg    []string
	}{
		{name: "p12 alias gw (EC)", spec: KeyPairSpec{Cert: path("java.p12"), PasswordFile: pwFile, Alias: "gw"}, wantCN: "java-gw"},
		{name: "p12 alias OTHER (RSA), case-insensitive", spec: KeyPairSpec{Cert: path("java.p12"), PasswordFile: pwFile, Alias: "OTHER"}, wantCN: "java-other"},
		{name: "jks", spec: KeyPairSpec{Cert: path("java.jks"), PasswordFile: pwFile}, wantCN: "java-jks-gw"},
		{name: "jks with alias", spec: KeyPairSpec{Cert: path("java.jks"), PasswordFile: pwFile, Alias: "GW"}, wantCN: "java-jks-gw"},
		{name: "p12 two keys, no alias", spec: KeyPairSpec{Cert: path("java.p12"), PasswordFile: pwFile},
			err: ErrAlias, msg: []string{"several private keys; set alias"}},
		{name: "p12 unknown alias", spec: KeyPairSpec{Cert: path("java.p12"), PasswordFile: pwFile, Alias: "nope"},
			err: ErrAlias, msg: []string{`alias "nope" not found; private key entries: "gw", "other"`}},
		{name: "p12 wrong password", spec: KeyPairSpec{Cert: path("java.p12"), PasswordFile: wrongPW, Alias: "gw"},
			err: ErrWrongPassword, msg: []string{"wrong password or corrupt keystore"}},
		{name: "jks wrong password", spec: KeyPairSpec{Cert: path("java.jks"), PasswordFile: wrongPW},
			err: ErrWrongPassword, msg: []string{"wrong password or corrupt keystore"}},
		{name: "keytool default type named .jks (PKCS#12 inside)", spec: KeyPairSpec{Cert: path("default.jks"), PasswordFile: pwFile}, wantCN: "java-default"},
		{name: "truststore as key pair", spec: KeyPairSpec{Cert: path("trust.p12"), PasswordFile: pwFile},
			err: ErrNoPrivateKey, msg: []string{"is this a truststore?"}},
	}
	for _, tc := range keyCases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadKeyPair(tc.spec)
			checkErr(t, err, tc.err, tc.msg...)
			if tc.err != nil {
				return
			}
			if c.Leaf.Subject.CommonName != tc.wantCN {
				t.Fatalf("leaf CN = %q, want %q", c.Leaf.Subject.CommonName, tc.wantCN)
			}
			if len(c.Certificate) != 1 || !bytes.Equal(c.Certificate[0], c.Leaf.Raw) {
				t.Fatalf("want the self-signed leaf alone, got %d certificates", len(c.Certificate))
			}
		})
	}

	for _, name := range []string{"trust.p12", "trust.jks"} {
		t.Run("truststore "+name, func(t *testing.T) {
			b, err := LoadTrustBundle(TrustSpec{File: path(name), PasswordFile: pwFile})
			checkErr(t, err, nil)
			if len(b.Certs) != 1 || !b.Certs[0].Equal(p.root.Cert) {
				t.Fatalf("want the root CA alone, got %d certificates", len(b.Certs))
			}
			if !b.HasIssuerOf(p.rsa.Cert) {
				t.Fatal("HasIssuerOf(leaf of root) = false")
			}
		})
	}
	t.Run("keystore as truststore", func(t *testing.T) {
		_, err := LoadTrustBundle(TrustSpec{File: path("java.p12"), PasswordFile: pwFile})
		checkErr(t, err, ErrWrongFormat, "it is a keystore, not a truststore")
	})
}

// runKeytool runs groups of keytool invocations: groups in parallel, the
// commands of one group in order.
func runKeytool(t *testing.T, keytool string, groups ...[][]string) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, args := range g {
				out, err := exec.Command(keytool, args...).CombinedOutput()
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("keytool %s: %v\n%s", args[0], err, out))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
}
