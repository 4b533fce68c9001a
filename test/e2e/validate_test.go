package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// lineOf returns the 1-based line where the first occurrence of s in doc
// starts.
func lineOf(t testing.TB, doc, s string) int {
	t.Helper()
	i := strings.Index(doc, s)
	if i < 0 {
		t.Fatalf("%q not in the config", s)
	}
	return strings.Count(doc[:i], "\n") + 1
}

// TestValidate: `mtlsgate validate` exits 0 and says "valid" for a good
// config, and for a config with many mistakes exits 2 and lists every one
// with its YAML path and line, in document order.
func TestValidate(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	good := writeConfig(t, p.dir, fill(baseConfig, map[string]string{"UPSTREAM": "https://127.0.0.1:9000"}))
	code, stdout, stderr := runBinary(t, 15*time.Second, "validate", "-c", good)
	if code != 0 || strings.TrimSpace(stdout) != good+": valid" {
		t.Fatalf("valid config: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	bad := `listeners:
  - name: public
    address: 127.0.0.1:99999
    tls:
      cert: missing.pem
      key: gateway.key
      client_ca: clients-ca.pem
      client_auth: sometimes
admin:
  address: nope
upstreams:
  - name: orders
    url: ftp://127.0.0.1:9000
routes:
  - name: secure-api
    match: {path_prefix: /api/}
    upstream: x
    client_cert: maybe
    forward: {format: carrier-pigeon}
  - name: secure-api
    match: {path_prefix: /other/}
    upstream: orders
`
	path := p.path("bad.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []struct{ path, at, mention string }{
		{"listeners[0].address", "address: 127.0.0.1:99999", "99999"},
		{"listeners[0].tls.cert", "cert: missing.pem", "missing.pem"},
		{"listeners[0].tls.client_auth", "client_auth: sometimes", "sometimes"},
		{"admin.address", "address: nope", "nope"},
		{"upstreams[0].url", "url: ftp:", "ftp://127.0.0.1:9000"},
		{"routes[0].upstream", "upstream: x", `unknown upstream "x"`},
		{"routes[0].client_cert", "client_cert: maybe", "maybe"},
		{"routes[0].forward.format", "carrier-pigeon", "carrier-pigeon"},
		{"routes[1].name", "- name: secure-api\n    match: {path_prefix: /other/}", "secure-api"},
	}
	code, stdout, stderr = runBinary(t, 15*time.Second, "validate", "-c", path)
	if code != 2 || stdout != "" {
		t.Fatalf("invalid config: exit %d (want 2), stdout %q", code, stdout)
	}
	checkNoCrash(t, "validate", stderr)
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if head := fmt.Sprintf("mtlsgate: %s: %d problems:", path, len(want)); lines[0] != head {
		t.Errorf("first line %q, want %q; stderr:\n%s", lines[0], head, stderr)
	}
	next := 1
	for _, w := range want {
		line := lineOf(t, bad, w.at)
		prefix := fmt.Sprintf("  %s (line %d): ", w.path, line)
		found := false
		for i := next; i < len(lines); i++ {
			if strings.HasPrefix(lines[i], prefix) && strings.Contains(lines[i], w.mention) {
				found, next = true, i+1
				break
			}
		}
		if !found {
			t.Errorf("stderr lacks (in order) %q...%q; stderr:\n%s", prefix, w.mention, stderr)
		}
	}
}

// TestServeRefusesBadInputs: with a config whose files are missing, empty,
// mismatched, encrypted with another password, or whose address is taken,
// `mtlsgate serve` exits non-zero promptly, names the file (or address),
// and does not panic.
func TestServeRefusesBadInputs(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	other := p.serverCA.Issue(t, testpki.Options{CN: "other"})
	other.WriteLeaf(t, p.dir, "other")
	testpki.WriteFile(t, p.dir, "empty.pem", nil)
	testpki.WriteFile(t, p.dir, "garbage.pem", []byte("this is not PEM\n"))
	testpki.WriteFile(t, p.dir, "right-pw.txt", []byte("right-password\n"))
	testpki.WriteFile(t, p.dir, "wrong-pw.txt", []byte("wrong-password\n"))
	opensslRun(t, p.dir, "pkcs12", "-export", "-in", "gateway.pem", "-inkey", "gateway.key",
		"-out", "gateway.p12", "-passout", "pass:right-password")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	const pemTLS = "      cert: gateway.pem\n      key: gateway.key\n"
	cases := []struct {
		name, tls, address string
		mentions           []string
	}{
		{"missing cert file", "      cert: missing.pem\n      key: gateway.key\n", "", []string{"missing.pem"}},
		{"empty cert file", "      cert: empty.pem\n      key: gateway.key\n", "", []string{"empty.pem"}},
		{"cert file is not PEM", "      cert: garbage.pem\n      key: gateway.key\n", "", []string{"garbage.pem"}},
		{"key does not match cert", "      cert: gateway.pem\n      key: other.key\n", "", []string{"other.key"}},
		{"missing client_ca", pemTLS, "", []string{"nope-ca.pem"}},
		{"wrong keystore password", "      cert: gateway.p12\n      password_file: wrong-pw.txt\n", "", []string{"gateway.p12"}},
		{"missing password file", "      cert: gateway.p12\n      password_file: missing-pw.txt\n", "", []string{"missing-pw.txt"}},
		{"address in use", pemTLS, taken.Addr().String(), []string{taken.Addr().String()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fill(baseConfig, map[string]string{"UPSTREAM": "https://127.0.0.1:9000"})
			cfg = strings.Replace(cfg, pemTLS, tc.tls, 1)
			if tc.name == "missing client_ca" {
				cfg = strings.Replace(cfg, "client_ca: clients-ca.pem", "client_ca: nope-ca.pem", 1)
			}
			if tc.address != "" {
				cfg = strings.Replace(cfg, "address: 127.0.0.1:0", "address: "+tc.address, 1)
			}
			path := p.path(strings.ReplaceAll(tc.name, " ", "-") + ".yaml")
			testpki.WriteFile(t, p.dir, filepath.Base(path), []byte(cfg))
			code, stdout, stderr := runBinary(t, 15*time.Second, "serve", "-c", path)
			if code == 0 {
				t.Fatalf("serve exited 0; stderr:\n%s", stderr)
			}
			checkNoCrash(t, "serve", stderr)
			// Exactly the one problem this case made, not a list that
			// happens to mention the file among others.
			if n := strings.Count(stderr, "\n  "); n > 1 {
				t.Errorf("stderr lists %d problems, want the one this case made:\n%s", n, stderr)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(stderr, m) {
					t.Errorf("stderr does not name %q:\n%s", m, stderr)
				}
			}
			if strings.Contains(stderr, `"msg":"listening"`) && tc.address == "" {
				t.Errorf("serve started listening with a broken config:\n%s", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout (access log) not empty: %q", stdout)
			}
		})
	}
	// The right password works, so the case above failed for the password.
	cfg := strings.Replace(fill(baseConfig, map[string]string{"UPSTREAM": "https://127.0.0.1:9000"}),
		pemTLS, "      cert: gateway.p12\n      password_file: right-pw.txt\n", 1)
	testpki.WriteFile(t, p.dir, "right.yaml", []byte(cfg))
	code, _, stderr := runBinary(t, 15*time.Second, "validate", "-c", p.path("right.yaml"))
	if code != 0 {
		t.Errorf("gateway.p12 with the right password does not validate:\n%s", stderr)
	}
}
