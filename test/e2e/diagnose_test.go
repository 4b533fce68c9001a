package e2e

import (
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// diagnose runs `mtlsgate diagnose ARGS` and checks its exit status and
// that its output (stdout, or stderr for usage errors) holds every want.
func diagnose(t *testing.T, code int, want []string, args ...string) string {
	t.Helper()
	got, out, errOut := runBinary(t, cliTimeout, append([]string{"diagnose"}, args...)...)
	checkNoCrash(t, "mtlsgate diagnose", out+errOut)
	if got != code {
		t.Fatalf("mtlsgate diagnose %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, out, errOut)
	}
	for _, w := range want {
		if !strings.Contains(out+errOut, w) {
			t.Errorf("mtlsgate diagnose %s: output lacks %q\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), w, out, errOut)
		}
	}
	return out
}

// TestDiagnoseCertInitSetup: on a setup made by `mtlsgate init`, alice is
// accepted, bob is refused on orders-api with the allow entry he misses,
// and once `ca revoke` revoked alice the built-in CA's revocation refuses
// her (exit 1), in text and JSON.
func TestDiagnoseCertInitSetup(t *testing.T) {
	t.Parallel()
	s := runInit(t)
	cfg := s.path("mtlsgate.yaml")
	alice := s.path("clients", "alice-chain.pem")
	diagnose(t, 0, []string{"✓ chain, listener public: chains to", `allowed: matches routes[0].allow[0] {ou: "payments"}`,
		"not revoked according to the built-in CA in " + s.path("pki"), "ACCEPTED by listener public"}, "cert", alice, "-c", cfg)
	diagnose(t, 0, []string{"GET 127.0.0.1", "goes to route orders-api", "ACCEPTED on route orders-api via listener public"},
		"cert", alice, "-c", cfg, "--url", "https://"+s.listen+"/api/orders")
	diagnose(t, 1, []string{`REFUSED on route orders-api: not allowed: OU=marketing does not match ou: "payments" in routes[0].allow[0]`},
		"cert", s.path("clients", "bob-chain.pem"), "-c", cfg, "--route", "orders-api")
	// The leaf alone: the client would not send the intermediate.
	diagnose(t, 1, []string{"which is not in client_ca root.pem of listener public", "the client must send it after its certificate"},
		"cert", s.path("clients", "alice.pem"), "-c", cfg)
	// Without a config: only what needs no trust bundle; with --ca, the chain.
	diagnose(t, 0, []string{"ACCEPTED as far as checked"}, "cert", alice)
	diagnose(t, 0, []string{"chains to CN=mtlsgate demo Root"}, "cert", alice, "--ca", s.path("pki", "root.pem"))

	caRun(t, s.path("pki"), "revoke", "--cn", "alice", "--reason", "keyCompromise")
	out := diagnose(t, 1, nil, "cert", alice, "-c", cfg, "--json")
	var rep struct {
		Accepted bool   `json:"accepted"`
		Verdict  string `json:"verdict"`
		Steps    []struct {
			Name   string `json:"name"`
			OK     bool   `json:"ok"`
			Code   string `json:"code"`
			Detail string `json:"detail"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if rep.Accepted || !strings.Contains(rep.Verdict, "reason keyCompromise) according to the built-in CA in "+s.path("pki")) {
		t.Errorf("revoked alice: %s", out)
	}
	for _, st := range rep.Steps {
		if st.Name == "revocation" && (st.OK || st.Code != "revoked") {
			t.Errorf("revocation step: %+v", st)
		}
	}
}

// TestDiagnoseCertBaseConfig: the certificate checks on the end-to-end
// suite's usual config: a stranger's certificate names the issuer missing
// from client_ca, an expired one says since when, a server certificate
// lacks clientAuth; usage errors exit 2.
func TestDiagnoseCertBaseConfig(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	cfg := writeConfig(t, p.dir, fill(baseConfig, map[string]string{"UPSTREAM": "https://127.0.0.1:1"}))
	alice := p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})
	stranger := p.foreignClient(t, "mallory", testpki.Options{CN: "mallory"})
	web := p.client(t, "web", testpki.Options{CN: "web", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	diagnose(t, 0, []string{"ACCEPTED on route secure-api"}, "cert", alice.cert, "-c", cfg, "--route", "secure-api")
	diagnose(t, 1, []string{"client certificate CN=mallory issued by CN=Stranger CA, which is not in client_ca clients-ca.pem of listener public"},
		"cert", stranger.cert, "-c", cfg)
	diagnose(t, 1, []string{"is not valid for client authentication (extended key usage serverAuth)"}, "cert", web.cert, "-c", cfg)
	diagnose(t, 2, []string{"need the gateway config"}, "cert", alice.cert, "--route", "secure-api")
	diagnose(t, 2, []string{`no route named "nope"`}, "cert", alice.cert, "-c", cfg, "--route", "nope")
}

// TestDiagnoseUpstreamInitSetup: against a running `init` setup, the
// configured upstream (the echo server, mTLS) checks out; the gateway's
// own listener takes bob's certificate at the TLS level and refuses a
// stranger's with an alert; a closed port fails the connect.
func TestDiagnoseUpstreamInitSetup(t *testing.T) {
	t.Parallel()
	s := runInit(t)
	serveInit(t, s, nil)
	cfg := s.path("mtlsgate.yaml")
	diagnose(t, 0, []string{"✓ trust: the server's chain verifies against ca root.pem", "the server asks for a client certificate issued by CN=mtlsgate demo Root",
		"HEAD / answered", "OK: upstream orders is reachable, its certificate verifies and it accepted the client certificate"},
		"upstream", "orders", "-c", cfg)
	root := s.path("pki", "root.pem")
	diagnose(t, 0, []string{"TLS 1.3", "the server accepted the client certificate"},
		"url", "https://"+s.listen+"/", "--ca", root, "--cert", s.path("clients", "bob-chain.pem"), "--key", s.path("clients", "bob.key"))
	other := testpki.NewRootCA(t, "Stranger CA").Issue(t, testpki.Options{CN: "mallory"})
	cert, key := other.WriteLeaf(t, s.dir, "mallory")
	diagnose(t, 1, []string{"which is not among the CAs the server names", "the server refused the client certificate: alert bad certificate"},
		"url", "https://"+s.listen+"/", "--ca", root, "--cert", cert, "--key", key)
	closed := freePort(t)
	diagnose(t, 1, []string{"✗ connect: connection to " + closed + " refused"}, "url", "https://"+closed+"/")
}
