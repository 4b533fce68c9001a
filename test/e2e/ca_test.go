package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tests of the built-in CA's command line (`mtlsgate ca ...`), checked with
// openssl and keytool. `mtlsgate init` and the CA served by a running
// gateway are tested in ca_serve_test.go and ca_revoke_test.go.

// newCA runs `ca init` into a new directory and returns the CA directory
// and a scratch directory next to it for issued files.
func newCA(t testing.TB, extra ...string) (caDir, work string) {
	t.Helper()
	work = t.TempDir()
	caDir = filepath.Join(work, "pki")
	caRun(t, caDir, append([]string{"init"}, extra...)...)
	return caDir, work
}

// opensslVerify runs openssl verify against the CA's root and intermediate
// and returns the output and whether it said OK.
func opensslVerify(t testing.TB, caDir, cert string, extra ...string) (string, bool) {
	t.Helper()
	args := append([]string{"verify", "-CAfile", filepath.Join(caDir, "root.pem"), "-untrusted", filepath.Join(caDir, "intermediate.pem")}, extra...)
	out, err := runOpenSSL(t, append(args, cert)...)
	return out, err == nil && strings.Contains(out, cert+": OK")
}

// TestCAIssueVerifyWithOpenSSL: `ca init --password-file` encrypts the root
// key and writes keys 0600; `ca issue` for the client, server and upstream
// profiles writes NAME.pem, NAME.key (0600) and NAME-chain.pem whose
// certificates openssl verifies up to the root, for the right TLS purpose
// only, with every SAN asked for and a 20-octet serial. Issuing over
// existing files, beyond a profile's maximum lifetime or under an unknown
// profile fails clearly.
func TestCAIssueVerifyWithOpenSSL(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	pw := filepath.Join(work, "root.pw")
	if err := os.WriteFile(pw, []byte("root-Passw0rd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caDir := filepath.Join(work, "pki")
	out := caRun(t, caDir, "init", "--name", "E2E CA", "--password-file", pw)
	if !strings.Contains(out, "CA created in") || strings.Contains(out, "is not encrypted") {
		t.Errorf("ca init --password-file output:\n%s", out)
	}
	if key, _ := os.ReadFile(filepath.Join(caDir, "root.key")); !bytes.Contains(key, []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
		t.Errorf("root.key is not encrypted:\n%.60s", key)
	}
	for _, f := range []string{"root.key", "intermediate.key"} {
		checkMode(t, filepath.Join(caDir, f), 0o600)
	}
	for _, f := range []string{"root.pem", "intermediate.pem", "ca.yaml", "ca.db"} {
		if _, err := os.Stat(filepath.Join(caDir, f)); err != nil {
			t.Errorf("ca init did not write %s: %v", f, err)
		}
	}
	mustOpenSSL(t, "pkey", "-in", filepath.Join(caDir, "root.key"), "-passin", "pass:root-Passw0rd", "-noout")

	cases := []struct {
		name, profile string
		sans          string
		wantSAN       []string
		purpose       string // sslclient or sslserver
	}{
		{"alice", "client", "dns:alice.example.com,ip:10.0.0.7,uri:spiffe://example.org/ns/prod/sa/alice,email:alice@example.com",
			[]string{"DNS:alice.example.com", "IP Address:10.0.0.7", "URI:spiffe://example.org/ns/prod/sa/alice", "email:alice@example.com"}, "sslclient"},
		{"api", "server", "dns:api.example.com,ip:127.0.0.1,uri:spiffe://example.org/api",
			[]string{"DNS:api.example.com", "IP Address:127.0.0.1", "URI:spiffe://example.org/api"}, "sslserver"},
		{"gw", "upstream", "dns:gw.internal,uri:spiffe://example.org/gw",
			[]string{"DNS:gw.internal", "URI:spiffe://example.org/gw"}, "sslclient"},
	}
	for _, tc := range cases {
		base := filepath.Join(work, tc.name)
		out := caRun(t, caDir, "issue", "--profile", tc.profile, "--cn", tc.name, "--san", tc.sans, "--out", base)
		if !strings.Contains(out, "issued CN="+tc.name) {
			t.Errorf("%s: ca issue output:\n%s", tc.name, out)
		}
		for _, f := range []string{base + ".pem", base + ".key", base + "-chain.pem"} {
			if _, err := os.Stat(f); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
		}
		checkMode(t, base+".key", 0o600)
		if chain := readCerts(t, base+"-chain.pem"); len(chain) != 2 || chain[1].Subject.CommonName != "E2E CA Issuing CA" {
			t.Errorf("%s-chain.pem: %d certificates, want the leaf and the issuing CA", tc.name, len(chain))
		}
		cert := base + ".pem"
		if out, ok := opensslVerify(t, caDir, cert); !ok {
			t.Errorf("%s: openssl verify:\n%s", tc.name, out)
		}
		if out, ok := opensslVerify(t, caDir, cert, "-purpose", tc.purpose); !ok {
			t.Errorf("%s: openssl verify -purpose %s:\n%s", tc.name, tc.purpose, out)
		}
		wrong := map[string]string{"sslclient": "sslserver", "sslserver": "sslclient"}[tc.purpose]
		if out, ok := opensslVerify(t, caDir, cert, "-purpose", wrong); ok {
			t.Errorf("%s (profile %s) also verifies for %s:\n%s", tc.name, tc.profile, wrong, out)
		}
		if serial := opensslSerial(t, cert); len(serial) != 40 || serial[0] > '7' {
			t.Errorf("%s: serial %s is not 20 octets with the high bit clear", tc.name, serial)
		}
		text := mustOpenSSL(t, "x509", "-noout", "-ext", "subjectAltName", "-in", cert)
		for _, san := range tc.wantSAN {
			if !strings.Contains(text, san) {
				t.Errorf("%s: SAN %s missing:\n%s", tc.name, san, text)
			}
		}
	}

	before := len(caList(t, caDir))
	alicePEM, _ := os.ReadFile(filepath.Join(work, "alice.pem"))
	if msg := caFail(t, caDir, "issue", "--cn", "alice", "--out", filepath.Join(work, "alice")); !strings.Contains(msg, "exists; refusing to overwrite") {
		t.Errorf("issuing over alice.pem: %s", msg)
	}
	if now, _ := os.ReadFile(filepath.Join(work, "alice.pem")); !bytes.Equal(now, alicePEM) {
		t.Error("a refused issue changed alice.pem")
	}
	msg := caFail(t, caDir, "issue", "--profile", "client", "--cn", "long", "--ttl", "400d", "--out", filepath.Join(work, "long"))
	if !strings.Contains(msg, "beyond profile client's maximum") {
		t.Errorf("--ttl 400d: %s", msg)
	}
	msg = caFail(t, caDir, "issue", "--profile", "nosuch", "--cn", "x", "--out", filepath.Join(work, "x"))
	if !strings.Contains(msg, `unknown profile "nosuch"`) || !strings.Contains(msg, "client, server, upstream") {
		t.Errorf("unknown profile: %s", msg)
	}
	if after := len(caList(t, caDir)); after != before {
		t.Errorf("refused issues changed the store: %d certificates, then %d", before, after)
	}
	for _, f := range []string{"long.pem", "long.key", "x.pem", "x.key"} {
		if _, err := os.Stat(filepath.Join(work, f)); err == nil {
			t.Errorf("a refused issue wrote %s", f)
		}
	}
}

// TestCASignCSR: `ca sign` issues a certificate for an openssl CSR in PEM
// and DER that openssl verifies, with the profile's EKU only; a CSR asking
// for CA:TRUE, one with a broken signature, and one with SANs its profile
// forbids are refused and leave the store as it was.
func TestCASignCSR(t *testing.T) {
	t.Parallel()
	caDir, work := newCA(t)
	csr := filepath.Join(work, "dev.csr")
	mustOpenSSL(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(work, "dev.key"), "-subj", "/CN=device-17",
		"-addext", "subjectAltName=DNS:device-17.example.com", "-out", csr)
	der := filepath.Join(work, "dev.der")
	mustOpenSSL(t, "req", "-in", csr, "-outform", "DER", "-out", der)

	for _, in := range []string{csr, der} {
		out := caRun(t, caDir, "sign", "--profile", "client", in)
		if b, _ := pem.Decode([]byte(out)); b == nil || b.Type != "CERTIFICATE" {
			t.Fatalf("ca sign %s wrote no PEM certificate to stdout:\n%s", in, out)
		}
		cert := in + ".pem"
		if err := os.WriteFile(cert, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, ok := opensslVerify(t, caDir, cert, "-purpose", "sslclient"); !ok {
			t.Errorf("%s: openssl verify:\n%s", in, out)
		}
		eku := mustOpenSSL(t, "x509", "-noout", "-ext", "extendedKeyUsage", "-in", cert)
		if _, usages, _ := strings.Cut(eku, "\n"); strings.TrimSpace(usages) != "TLS Web Client Authentication" {
			t.Errorf("%s: EKU is not clientAuth only:\n%s", in, eku)
		}
		text := mustOpenSSL(t, "x509", "-noout", "-subject", "-ext", "subjectAltName,basicConstraints", "-in", cert)
		if !strings.Contains(text, "CN = device-17") || !strings.Contains(text, "DNS:device-17.example.com") || !strings.Contains(text, "CA:FALSE") {
			t.Errorf("%s: certificate does not carry the CSR's names as an end entity:\n%s", in, text)
		}
		// The certificate certifies the CSR's key.
		pub := mustOpenSSL(t, "x509", "-noout", "-pubkey", "-in", cert)
		if want := mustOpenSSL(t, "req", "-noout", "-pubkey", "-in", csr); pub != want {
			t.Errorf("%s: certificate key differs from the CSR's", in)
		}
	}

	before := caList(t, caDir)
	caCSR := filepath.Join(work, "ca.csr")
	mustOpenSSL(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(work, "ca.key"), "-subj", "/CN=evil-ca", "-addext", "basicConstraints=critical,CA:TRUE", "-out", caCSR)
	if msg := caFail(t, caDir, "sign", "--profile", "client", caCSR); !strings.Contains(msg, "CA:true") {
		t.Errorf("CA:TRUE CSR: %s", msg)
	}
	data, err := os.ReadFile(der)
	if err != nil {
		t.Fatal(err)
	}
	// The DER ends with the ECDSA signature's s value: flip its last bit.
	data[len(data)-1] ^= 0x01
	bad := filepath.Join(work, "bad.der")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if msg := caFail(t, caDir, "sign", bad); !strings.Contains(msg, "signature") {
		t.Errorf("corrupted CSR: %s", msg)
	}
	mailCSR := filepath.Join(work, "mail.csr")
	mustOpenSSL(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(work, "mail.key"), "-subj", "/CN=api", "-addext", "subjectAltName=DNS:api.example.com,email:ops@example.com", "-out", mailCSR)
	if msg := caFail(t, caDir, "sign", "--profile", "server", mailCSR); !strings.Contains(msg, "does not allow email") {
		t.Errorf("server CSR with an email SAN: %s", msg)
	}
	if msg := caFail(t, caDir, "sign", "--profile", "client", "--ttl", "9000h", csr); !strings.Contains(msg, "maximum") {
		t.Errorf("ca sign --ttl beyond the maximum: %s", msg)
	}
	if after := caList(t, caDir); len(after) != len(before) {
		t.Errorf("refused CSRs changed the store: %d certificates, then %d: %+v", len(before), len(after), after)
	}
}

// TestKeystoresWithKeytool: `ca issue --p12 --jks` writes a PKCS#12
// (AES-256) and a JKS keystore, and --p12-legacy an RC2/3DES PKCS#12, each
// of which Java's keytool opens with the password from --password-file and
// lists as a PrivateKeyEntry for the issued certificate; `ca export` of a
// certificate whose key was not kept writes trust stores (trustedCertEntry
// for the leaf and the issuing CA).
func TestKeystoresWithKeytool(t *testing.T) {
	t.Parallel()
	needTool(t, "keytool")
	caDir, work := newCA(t)
	pw := filepath.Join(work, "ks.pw")
	if err := os.WriteFile(pw, []byte(storePass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fingerprint := func(cert string) string {
		out := mustOpenSSL(t, "x509", "-noout", "-fingerprint", "-sha256", "-in", cert)
		_, fp, _ := strings.Cut(strings.TrimSpace(out), "=")
		return fp
	}
	list := func(file, storetype string) string {
		out, err := runKeytool(t, "-list", "-keystore", file, "-storetype", storetype, "-storepass", storePass)
		if err != nil {
			t.Fatalf("keytool -list %s: %v\n%s", file, err, out)
		}
		return out
	}
	svc := filepath.Join(work, "svc")
	caRun(t, caDir, "issue", "--cn", "svc", "--san", "uri:spiffe://example.org/svc", "--p12", "--jks", "--password-file", pw, "--out", svc)
	old := filepath.Join(work, "old")
	caRun(t, caDir, "issue", "--cn", "old", "--p12", "--p12-legacy", "--password-file", pw, "--out", old)
	for _, ks := range []struct{ file, storetype, leaf string }{
		{svc + ".p12", "PKCS12", svc + ".pem"}, {svc + ".jks", "JKS", svc + ".pem"}, {old + ".p12", "PKCS12", old + ".pem"},
	} {
		checkMode(t, ks.file, 0o600)
		out := list(ks.file, ks.storetype)
		if !strings.Contains(out, "Your keystore contains 1 entry") || !strings.Contains(out, "PrivateKeyEntry") || !strings.Contains(out, fingerprint(ks.leaf)) {
			t.Errorf("%s: want one PrivateKeyEntry for %s (%s):\n%s", ks.file, ks.leaf, fingerprint(ks.leaf), out)
		}
	}
	if _, err := os.Stat(old + ".jks"); err == nil {
		t.Error("--p12 --p12-legacy also wrote a JKS")
	}
	// The encryption asked for: AES-256 by default, RC2 with --p12-legacy
	// (which openssl 3 reads only with its legacy provider).
	info, _ := runOpenSSL(t, "pkcs12", "-in", svc+".p12", "-info", "-noout", "-passin", "pass:"+storePass)
	if !strings.Contains(info, "AES-256-CBC") {
		t.Errorf("svc.p12 is not AES-256 encrypted:\n%s", info)
	}
	info, _ = runOpenSSL(t, "pkcs12", "-in", old+".p12", "-info", "-noout", "-passin", "pass:"+storePass)
	if !strings.Contains(info, "RC2") && !strings.Contains(info, "3DES") && !strings.Contains(info, "TripleDES") {
		t.Errorf("old.p12 (--p12-legacy) is not RC2/3DES encrypted:\n%s", info)
	}

	trust := filepath.Join(work, "svc-trust")
	out := caRun(t, caDir, "export", opensslSerial(t, svc+".pem"), "--p12", "--jks", "--password-file", pw, "--out", trust)
	if !strings.Contains(out, "no key kept") {
		t.Errorf("ca export output:\n%s", out)
	}
	for _, ks := range []struct{ file, storetype string }{{trust + ".p12", "PKCS12"}, {trust + ".jks", "JKS"}} {
		out := list(ks.file, ks.storetype)
		if strings.Contains(out, "PrivateKeyEntry") || strings.Count(out, "trustedCertEntry") != 2 ||
			!strings.Contains(out, fingerprint(svc+".pem")) || !strings.Contains(out, fingerprint(filepath.Join(caDir, "intermediate.pem"))) {
			t.Errorf("%s: want trustedCertEntry for svc and the issuing CA, no key:\n%s", ks.file, out)
		}
	}
}

// runKeytool runs keytool and returns its combined output (keystore_test.go's
// keytool helper fails the test instead).
func runKeytool(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return runTool(t, needTool(t, "keytool"), args...)
}

// TestCABadInput: revoking an unknown or already revoked serial, `ca init`
// over an existing CA, a corrupt store, a ca section naming a missing
// directory, and a plain listener that does not publish the CA all fail
// with a message that names the problem, change nothing and never panic.
func TestCABadInput(t *testing.T) {
	t.Parallel()
	caDir, work := newCA(t)
	alice := filepath.Join(work, "alice")
	caRun(t, caDir, "issue", "--cn", "alice", "--out", alice)

	if msg := caFail(t, caDir, "revoke", "0123456789abcdef"); !strings.Contains(msg, "no certificate with this serial") {
		t.Errorf("revoking an unknown serial: %s", msg)
	}
	if msg := caFail(t, caDir, "revoke", "not-hex!"); !strings.Contains(msg, "not a hex digit") {
		t.Errorf("revoking a malformed serial: %s", msg)
	}
	if msg := caFail(t, caDir, "revoke", "--reason", "bogus", "0123"); !strings.Contains(msg, "unknown revocation reason") {
		t.Errorf("revoking with an unknown reason: %s", msg)
	}
	serial := opensslSerial(t, alice+".pem")
	caRun(t, caDir, "revoke", serial)
	if msg := caFail(t, caDir, "revoke", serial); !strings.Contains(msg, "already revoked") {
		t.Errorf("revoking twice: %s", msg)
	}
	if msg := caFail(t, caDir, "revoke"); !strings.Contains(msg, "give either a serial or --cn") {
		t.Errorf("revoke without a serial: %s", msg)
	}

	sums := func(dir string) map[string][32]byte {
		out := map[string][32]byte{}
		for _, f := range []string{"root.pem", "root.key", "intermediate.pem", "intermediate.key", "ca.yaml", "ca.db"} {
			data, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			out[f] = sha256.Sum256(data)
		}
		return out
	}
	before := sums(caDir)
	if msg := caFail(t, caDir, "init"); !strings.Contains(msg, "already holds a CA") {
		t.Errorf("ca init over a CA: %s", msg)
	}
	if after := sums(caDir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Error("a refused ca init changed the CA's files")
	}

	broken, _ := newCA(t)
	for _, f := range []string{"ca.db-wal", "ca.db-shm"} {
		os.Remove(filepath.Join(broken, f))
	}
	if err := os.WriteFile(filepath.Join(broken, "ca.db"), bytes.Repeat([]byte("this is not a database\n"), 200), 0o600); err != nil {
		t.Fatal(err)
	}
	if msg := caFail(t, broken, "list"); !strings.Contains(msg, "corrupt") {
		t.Errorf("ca list on a corrupt store: %s", msg)
	}
	bobOut := filepath.Join(work, "bob")
	if msg := caFail(t, broken, "issue", "--cn", "bob", "--out", bobOut); !strings.Contains(msg, "corrupt") {
		t.Errorf("ca issue on a corrupt store: %s", msg)
	}
	if _, err := os.Stat(bobOut + ".pem"); err == nil {
		t.Error("ca issue on a corrupt store wrote bob.pem")
	}

	p := newPKI(t)
	tlsBlock := "    tls: {cert: gateway.pem, key: gateway.key, client_ca: clients-ca.pem}\n"
	missing := "listeners:\n  - name: public\n    address: 127.0.0.1:0\n" + tlsBlock +
		"  - name: pki\n    address: 127.0.0.1:0\nca:\n  dir: no-such-ca\n  serve_on: pki\n"
	cfg := writeConfig(t, p.dir, missing)
	for _, cmd := range []string{"validate", "serve"} {
		_, msg := mustFail(t, cmd, "-c", cfg)
		if !strings.Contains(msg, "ca.dir") || !strings.Contains(msg, "no-such-ca") {
			t.Errorf("%s with a missing ca.dir: %s", cmd, msg)
		}
	}
	plain := "listeners:\n  - name: public\n    address: 127.0.0.1:0\n" + tlsBlock +
		"  - name: pki\n    address: 127.0.0.1:0\n  - name: other\n    address: 127.0.0.1:0\nca:\n  dir: " + caDir + "\n  serve_on: pki\n"
	_, msg := mustFail(t, "validate", "-c", writeConfig(t, p.dir, plain))
	if !strings.Contains(msg, "listeners[2].tls") || !strings.Contains(msg, "ca.serve_on") {
		t.Errorf("a plain listener that does not publish the CA: %s", msg)
	}
	noCA := "listeners:\n  - name: public\n    address: 127.0.0.1:0\n"
	if _, msg := mustFail(t, "validate", "-c", writeConfig(t, p.dir, noCA)); !strings.Contains(msg, "listeners[0].tls") {
		t.Errorf("a plain listener without a ca section: %s", msg)
	}
}

// TestCAAuditAndList: `ca list --json` puts the soonest expiry first,
// --revoked keeps only revoked certificates and --expiring only unrevoked
// ones expiring within the window; `ca audit` records init, issue, sign,
// revoke and crl with the acting user.
func TestCAAuditAndList(t *testing.T) {
	t.Parallel()
	caDir, work := newCA(t)
	for _, c := range []struct{ cn, ttl string }{{"sixty", "60d"}, {"five", "5d"}, {"twenty", "20d"}, {"eight", "8d"}} {
		caRun(t, caDir, "issue", "--cn", c.cn, "--ttl", c.ttl, "--out", filepath.Join(work, c.cn))
	}
	caRun(t, caDir, "revoke", "--cn", "eight", "--reason", "superseded")
	caRun(t, caDir, "crl", "--out", filepath.Join(work, "ca.crl"))
	cns := func(certs []caCert) string {
		var out []string
		for _, c := range certs {
			out = append(out, c.CN)
		}
		return strings.Join(out, ",")
	}
	all := caList(t, caDir)
	if got := cns(all); got != "five,eight,twenty,sixty" {
		t.Errorf("ca list order %s, want five,eight,twenty,sixty (soonest expiry first)", got)
	}
	for _, c := range all {
		want := "valid"
		if c.CN == "eight" {
			want = "revoked"
		}
		if c.Status != want || c.Profile != "client" || len(c.Serial) != 40 {
			t.Errorf("%s: status %q profile %q serial %q, want %s client and 40 hex digits", c.CN, c.Status, c.Profile, c.Serial, want)
		}
	}
	if got := caList(t, caDir, "--revoked"); cns(got) != "eight" || got[0].Reason != "superseded" {
		t.Errorf("ca list --revoked: %+v, want eight (superseded)", got)
	}
	if got := cns(caList(t, caDir, "--expiring", "10d")); got != "five" {
		t.Errorf("ca list --expiring 10d: %s, want five (eight is revoked)", got)
	}
	if got := cns(caList(t, caDir, "--expiring", "30d")); got != "five,twenty" {
		t.Errorf("ca list --expiring 30d: %s, want five,twenty", got)
	}
	table := caRun(t, caDir, "list")
	if !strings.HasPrefix(table, "SERIAL") || strings.Count(table, "\n") != 5 {
		t.Errorf("ca list table:\n%s", table)
	}

	csr := filepath.Join(work, "dev.csr")
	mustOpenSSL(t, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", filepath.Join(work, "dev.key"), "-subj", "/CN=dev", "-out", csr)
	caRun(t, caDir, "sign", csr)
	counts := map[string]int{}
	for _, e := range caAudit(t, caDir) {
		counts[e.Action]++
		if !strings.HasPrefix(e.Actor, "cli:") {
			t.Errorf("audit %s by %q, want the cli user", e.Action, e.Actor)
		}
		if e.Action == "revoke" && (e.Serial != all[1].Serial || !strings.Contains(e.Detail, "superseded")) {
			t.Errorf("audit revoke %+v, want serial %s reason superseded", e, all[1].Serial)
		}
	}
	if counts["init"] != 1 || counts["issue"] != 4 || counts["sign"] != 1 || counts["revoke"] != 1 || counts["crl"] != 1 {
		t.Errorf("audit actions %v, want init 1, issue 4, sign 1, revoke 1, crl 1", counts)
	}
	if table := caRun(t, caDir, "audit", "--limit", "2"); strings.Count(table, "\n") != 3 || !strings.Contains(table, "sign") {
		t.Errorf("ca audit --limit 2:\n%s", table)
	}
}

// TestRegressionCAIssueKeystorePasswordReadAfterIssuing — regression test
// for a CA bug found by this suite. `ca issue --p12 --password-file FILE`
// with a FILE that does not exist (or an empty one, or no terminal) signs
// and stores the certificate and writes NAME.pem/.key/-chain.pem before it
// reads the keystore password (cmd/mtlsgate/caissue.go: writeIssued calls
// ks.write, which calls readPassword, after a.Issue). The command fails,
// yet the CA now holds a valid, unrevoked certificate nobody asked for, and
// re-running it with the right file is refused because NAME.pem exists. An
// input error must be caught before anything is issued.
func TestRegressionCAIssueKeystorePasswordReadAfterIssuing(t *testing.T) {
	t.Parallel()
	caDir, work := newCA(t)
	before := len(caList(t, caDir))
	out := filepath.Join(work, "svc")
	caFail(t, caDir, "issue", "--cn", "svc", "--p12", "--password-file", filepath.Join(work, "missing.pw"), "--out", out)
	if after := caList(t, caDir); len(after) != before {
		t.Errorf("a refused issue (missing password file) stored a valid certificate: %+v", after)
	}
	for _, f := range []string{out + ".pem", out + ".key", out + "-chain.pem"} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("a refused issue (missing password file) wrote %s", filepath.Base(f))
		}
	}
}
