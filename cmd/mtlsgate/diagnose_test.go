package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// exitCode maps run's error to the process exit status.
func exitCode(err error) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return int(ee)
	}
	return 1
}

const diagConfig = `listeners:
  - name: public
    address: 127.0.0.1:8443
    tls:
      cert: gateway.pem
      key: gateway.key
      client_ca: clients-ca.pem
upstreams:
  - name: orders
    url: {{UPSTREAM}}
    tls:
      cert: gw.pem
      key: gw.key
      ca: backend-ca.pem
      server_name: orders.internal
routes:
  - name: secure-api
    match: {path_prefix: /api/secure/}
    upstream: orders
    allow: [{cn: alice}]
  - name: any-cert
    match: {path_prefix: /}
    upstream: orders
{{EXTRA}}`

type diagSetup struct {
	dir, config    string
	alice, bob     string // PEM chains
	stranger       string
	backendCA      *testpki.CA
	server         *testpki.Leaf
	clientsCA, gwC *testpki.CA
}

func newDiagSetup(t *testing.T, upstream, extra string) *diagSetup {
	t.Helper()
	s := &diagSetup{dir: t.TempDir()}
	s.clientsCA = testpki.NewRootCA(t, "Clients Root")
	s.clientsCA.WriteCA(t, s.dir, "clients-ca")
	eku := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	s.alice, _ = s.clientsCA.Issue(t, testpki.Options{CN: "alice", EKU: eku}).WriteLeaf(t, s.dir, "alice")
	s.bob, _ = s.clientsCA.Issue(t, testpki.Options{CN: "bob", EKU: eku}).WriteLeaf(t, s.dir, "bob")
	s.stranger, _ = testpki.NewRootCA(t, "Stranger CA").Issue(t, testpki.Options{CN: "mallory", EKU: eku}).WriteLeaf(t, s.dir, "mallory")
	s.backendCA = testpki.NewRootCA(t, "Backend Root")
	s.backendCA.WriteCA(t, s.dir, "backend-ca")
	s.server = s.backendCA.Issue(t, testpki.Options{CN: "orders", DNS: []string{"orders.internal"}, EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	s.gwC = testpki.NewRootCA(t, "Gateway Client Root")
	s.gwC.Issue(t, testpki.Options{CN: "mtlsgate-gw", NotAfter: time.Now().Add(60 * 24 * time.Hour), EKU: eku}).WriteLeaf(t, s.dir, "gw")
	if upstream == "" {
		upstream = "https://127.0.0.1:1"
	}
	yaml := strings.NewReplacer("{{UPSTREAM}}", upstream, "{{EXTRA}}", extra).Replace(diagConfig)
	s.config = testpki.WriteFile(t, s.dir, "mtlsgate.yaml", []byte(yaml))
	return s
}

func TestDiagnoseCertExitCodes(t *testing.T) {
	s := newDiagSetup(t, "", "")
	bad := testpki.WriteFile(t, s.dir, "bad.yaml", []byte("listeners:\n  - name: a\n    adress: x\n"))
	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout (code 0/1) or stderr (code 2)
	}{
		{"accepted", []string{s.alice, "-c", s.config}, 0, "ACCEPTED by listener public"},
		{"accepted on route", []string{s.alice, "-c", s.config, "--route", "secure-api"}, 0, "ACCEPTED on route secure-api"},
		{"refused on route", []string{s.bob, "-c", s.config, "--route", "secure-api"}, 1, `CN=bob does not match cn: "alice" in routes[0].allow[0]`},
		{"url picks route", []string{s.bob, "-c", s.config, "--url", "https://x.example.com/api/secure/a"}, 1, "goes to route secure-api"},
		{"url other route", []string{s.bob, "-c", s.config, "--url", "https://x.example.com/other", "--method", "post"}, 0, "POST x.example.com/other goes to route any-cert"},
		{"wrong ca", []string{s.stranger, "-c", s.config}, 1, "issued by CN=Stranger CA, which is not in client_ca clients-ca.pem of listener public"},
		{"no config", []string{s.stranger}, 0, "ACCEPTED as far as checked"},
		{"bare ca", []string{s.stranger, "--ca", filepath.Join(s.dir, "clients-ca.pem")}, 1, "not in the --ca bundle clients-ca.pem"},
		{"no file", []string{}, 2, "want one certificate file"},
		{"missing file", []string{filepath.Join(s.dir, "nope.pem")}, 2, "nope.pem"},
		{"route without config", []string{s.alice, "--route", "secure-api"}, 2, "need the gateway config"},
		{"route and url", []string{s.alice, "-c", s.config, "--route", "a", "--url", "https://a/"}, 2, "not both"},
		{"ca with config", []string{s.alice, "-c", s.config, "--ca", s.config}, 2, "--ca is for use without -c"},
		{"unknown route", []string{s.alice, "-c", s.config, "--route", "nope"}, 2, `no route named "nope"`},
		{"bad url", []string{s.alice, "-c", s.config, "--url", "nope"}, 2, "want an absolute URL"},
		{"unknown flag", []string{s.alice, "--frobnicate"}, 2, "unknown flag"},
		{"bad config", []string{s.alice, "-c", bad}, 2, "adress"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runArgs(t, append([]string{"diagnose", "cert"}, tc.args...)...)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.code, out, errOut)
			}
			where := out
			if tc.code == 2 {
				where = errOut
			}
			if !strings.Contains(where, tc.out) {
				t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", tc.out, out, errOut)
			}
		})
	}
}

// TestDiagnoseCertBuiltinCA: with a ca: section, the command opens the CA
// and a revoked certificate is refused (exit 1), in JSON too.
func TestDiagnoseCertBuiltinCA(t *testing.T) {
	dir := t.TempDir()
	pki := filepath.Join(dir, "pki")
	if _, err := ca.Init(pki, ca.InitOptions{Name: "Diag CA"}); err != nil {
		t.Fatal(err)
	}
	a, err := ca.Open(pki, ca.Options{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	carol, err := a.Issue(ctx, ca.IssueRequest{Profile: "client", CN: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	var chain []byte
	for _, c := range carol.Chain {
		chain = append(chain, testpki.CertPEM(c)...)
	}
	file := testpki.WriteFile(t, dir, "carol-chain.pem", chain)
	yaml := strings.Replace(strings.Replace(diagConfig, "client_ca: clients-ca.pem", "client_ca: pki/root.pem", 1), "{{EXTRA}}", "ca:\n  dir: pki\n", 1)
	cfg := testpki.WriteFile(t, dir, "mtlsgate.yaml", []byte(strings.Replace(yaml, "{{UPSTREAM}}", "https://127.0.0.1:1", 1)))
	if _, errOut, err := runArgs(t, "diagnose", "cert", file, "-c", cfg); err != nil {
		t.Fatalf("before revocation: %v\n%s", err, errOut)
	}
	if _, err := a.Revoke(ctx, carol.Cert.SerialNumber.Text(16), 1); err != nil {
		t.Fatal(err)
	}
	a.Close()
	out, _, err := runArgs(t, "diagnose", "cert", file, "-c", cfg, "--json")
	if exitCode(err) != 1 {
		t.Fatalf("revoked: exit %d, want 1\n%s", exitCode(err), out)
	}
	var rep struct {
		Accepted bool `json:"accepted"`
		Steps    []struct {
			Name, Code, Detail string
			OK                 bool
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, st := range rep.Steps {
		if st.Name == "revocation" && !st.OK && st.Code == "revoked" && strings.Contains(st.Detail, "reason keyCompromise") {
			found = true
		}
	}
	if rep.Accepted || !found {
		t.Errorf("revoked carol: %s", out)
	}
}

func mtlsServer(t *testing.T, s *diagSetup) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{s.server.TLSCertificate()}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: s.gwC.Pool(), MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestDiagnoseUpstreamAndURL(t *testing.T) {
	probe := newDiagSetup(t, "", "")
	srv := mtlsServer(t, probe)
	s := newDiagSetup(t, srv.URL, "")
	// The server trusts probe's gateway client CA, not s's.
	bad := testpki.WriteFile(t, s.dir, "bad-up.yaml", []byte(strings.Replace(readFile(t, s.config), "gw.pem", filepath.Join(probe.dir, "nope.pem"), 1)))
	d := probe.dir
	tests := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"upstream refused", []string{"upstream", "orders", "-c", s.config}, 1, "the server refused the client certificate: alert unknown ca"},
		{"upstream unknown", []string{"upstream", "billing", "-c", s.config}, 2, `no upstream named "billing"`},
		{"upstream bad file", []string{"upstream", "orders", "-c", bad}, 2, "upstreams[0].tls.cert"},
		{"url ok", []string{"url", srv.URL, "--cert", filepath.Join(d, "gw.pem"), "--key", filepath.Join(d, "gw.key"),
			"--ca", filepath.Join(d, "backend-ca.pem"), "--server-name", "orders.internal"}, 0, "it accepted the client certificate"},
		{"url refused", []string{"url", srv.URL, "--cert", filepath.Join(s.dir, "gw.pem"), "--key", filepath.Join(s.dir, "gw.key"),
			"--ca", filepath.Join(d, "backend-ca.pem"), "--server-name", "orders.internal"}, 1, "the server refused the client certificate: alert unknown ca"},
		{"url json", []string{"url", srv.URL, "--cert", filepath.Join(d, "gw.pem"), "--key", filepath.Join(d, "gw.key"),
			"--ca", filepath.Join(d, "backend-ca.pem"), "--server-name", "orders.internal", "--json"}, 0, `"client_cert_accepted": true`},
		{"url no ca", []string{"url", srv.URL, "--server-name", "orders.internal"}, 1, "which is not in the system roots"},
		{"url bad", []string{"url", "orders.internal:9000"}, 2, "want an absolute URL"},
		{"url key without cert", []string{"url", srv.URL, "--key", "k.pem"}, 2, "--key needs --cert"},
		{"unknown subcommand", []string{"frob"}, 2, "unknown subcommand"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runArgs(t, append([]string{"diagnose"}, tc.args...)...)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.code, out, errOut)
			}
			if !strings.Contains(out+errOut, tc.out) {
				t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", tc.out, out, errOut)
			}
		})
	}
	// probe's own gateway client certificate is the one the server trusts.
	pcfg := strings.Replace(readFile(t, probe.config), "https://127.0.0.1:1", srv.URL, 1)
	okCfg := testpki.WriteFile(t, probe.dir, "ok.yaml", []byte(pcfg))
	out, errOut, err := runArgs(t, "diagnose", "upstream", "orders", "-c", okCfg)
	if err != nil || !strings.Contains(out, "OK: upstream orders is reachable, its certificate verifies and it accepted the client certificate") {
		t.Errorf("upstream ok: %v\n%s%s", err, out, errOut)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
