package e2e

import (
	"bytes"
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

const storePass = "s3cret-Store_pw"

// keytool runs Java's keytool with args in dir (60s limit) and fails the
// test on error.
func keytool(t testing.TB, dir string, args ...string) {
	t.Helper()
	bin := needTool(t, "keytool")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("keytool %v: %v\n%s", args, err, out.String())
	}
}

// opensslRun runs openssl with args in dir (30s limit) and fails the test
// on error.
func opensslRun(t testing.TB, dir string, args ...string) {
	t.Helper()
	bin := needTool(t, "openssl")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out.String())
	}
}

// genKeystore makes a keystore of storetype (PKCS12 or JKS) holding a
// self-signed key pair for localhost/127.0.0.1, and exports its certificate
// as PEM for curl's --cacert.
func genKeystore(t testing.TB, dir, file, storetype, keyalg, exportTo string) {
	t.Helper()
	args := []string{"-genkeypair", "-storetype", storetype, "-keystore", file,
		"-storepass", storePass, "-keypass", storePass, "-alias", "gateway",
		"-dname", "CN=localhost, O=E2E Keytool", "-ext", "SAN=dns:localhost,ip:127.0.0.1", "-validity", "2"}
	switch keyalg {
	case "EC":
		args = append(args, "-keyalg", "EC", "-groupname", "secp256r1")
	default:
		args = append(args, "-keyalg", "RSA", "-keysize", "2048")
	}
	keytool(t, dir, args...)
	keytool(t, dir, "-exportcert", "-rfc", "-alias", "gateway", "-keystore", file, "-storetype", storetype,
		"-storepass", storePass, "-file", exportTo)
}

// importTrusted makes a truststore of storetype holding the CA in caFile.
func importTrusted(t testing.TB, dir, file, storetype, caFile string) {
	t.Helper()
	keytool(t, dir, "-importcert", "-noprompt", "-trustcacerts", "-alias", "clients", "-file", caFile,
		"-keystore", file, "-storetype", storetype, "-storepass", storePass)
}

const keystoreConfig = `listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
{{LISTENER_TLS}}
      client_auth: request
upstreams:
  - name: orders
    url: {{UPSTREAM}}
    tls:
{{UPSTREAM_TLS}}
      server_name: orders.internal
routes:
  - {name: any-cert, match: {path_prefix: /api/any/}, upstream: orders}
`

const (
	pemListenerTLS = "      cert: gateway.pem\n      key: gateway.key\n      client_ca: clients-ca.pem"
	pemUpstreamTLS = "      cert: gw-client.pem\n      key: gw-client.key\n      ca: backend-ca.pem"
)

// TestKeystores: the gateway serves with keystores made by Java's keytool:
// a PKCS#12 and a JKS key pair for the listener, JKS and PKCS#12
// truststores as client_ca, and a JKS client key pair with a PKCS#12
// truststore towards the upstream; passwords come from password files.
// curl then gets 200 with a trusted client certificate, 401 without one,
// and a refused handshake with a certificate the truststore does not hold.
func TestKeystores(t *testing.T) {
	t.Parallel()
	needTool(t, "keytool")
	cases := []struct {
		name string
		// setup creates the files in dir and returns the listener and
		// upstream TLS YAML and the CA file curl must trust.
		setup func(t *testing.T, p *pki) (listenerTLS, upstreamTLS, cacert string)
	}{
		{"listener PKCS12 keystore", func(t *testing.T, p *pki) (string, string, string) {
			genKeystore(t, p.dir, "listener.p12", "PKCS12", "RSA", "listener-p12.pem")
			return "      cert: listener.p12\n      password_file: pw.txt\n      client_ca: clients-ca.pem",
				pemUpstreamTLS, p.path("listener-p12.pem")
		}},
		{"listener JKS keystore", func(t *testing.T, p *pki) (string, string, string) {
			genKeystore(t, p.dir, "listener.jks", "JKS", "EC", "listener-jks.pem")
			return "      cert: listener.jks\n      password_file: pw.txt\n      client_ca: clients-ca.pem",
				pemUpstreamTLS, p.path("listener-jks.pem")
		}},
		{"client_ca JKS truststore", func(t *testing.T, p *pki) (string, string, string) {
			importTrusted(t, p.dir, "trust.jks", "JKS", "clients-ca.pem")
			return "      cert: gateway.pem\n      key: gateway.key\n      client_ca: trust.jks\n      client_ca_password_file: pw.txt",
				pemUpstreamTLS, p.path("server-ca.pem")
		}},
		{"client_ca PKCS12 truststore", func(t *testing.T, p *pki) (string, string, string) {
			importTrusted(t, p.dir, "trust.p12", "PKCS12", "clients-ca.pem")
			return "      cert: gateway.pem\n      key: gateway.key\n      client_ca: trust.p12\n      client_ca_password_file: pw.txt",
				pemUpstreamTLS, p.path("server-ca.pem")
		}},
		{"upstream JKS client keystore and PKCS12 truststore", func(t *testing.T, p *pki) (string, string, string) {
			opensslRun(t, p.dir, "pkcs12", "-export", "-in", "gw-client.pem", "-inkey", "gw-client.key",
				"-name", "gw-client", "-out", "gw-client-src.p12", "-passout", "pass:"+storePass)
			keytool(t, p.dir, "-importkeystore", "-srckeystore", "gw-client-src.p12", "-srcstoretype", "PKCS12",
				"-srcstorepass", storePass, "-destkeystore", "gw-client.jks", "-deststoretype", "JKS",
				"-deststorepass", storePass, "-destkeypass", storePass, "-noprompt")
			keytool(t, p.dir, "-importcert", "-noprompt", "-trustcacerts", "-alias", "backend", "-file", "backend-ca.pem",
				"-keystore", "backend-trust.p12", "-storetype", "PKCS12", "-storepass", storePass)
			return pemListenerTLS,
				"      cert: gw-client.jks\n      password_file: pw.txt\n      ca: backend-trust.p12\n      ca_password_file: pw.txt",
				p.path("server-ca.pem")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPKI(t)
			testpki.WriteFile(t, p.dir, "pw.txt", []byte(storePass+"\n"))
			ltls, utls, cacert := tc.setup(t, p)
			up := newUpstream(t, p, p.gwClientCA)
			g := startGateway(t, p.dir, fill(keystoreConfig, map[string]string{
				"LISTENER_TLS": ltls, "UPSTREAM_TLS": utls, "UPSTREAM": up.URL(),
			}))
			alice := p.client(t, "alice", testpki.Options{CN: "alice"})
			stranger := p.foreignClient(t, "mallory", testpki.Options{CN: "mallory"})
			base := []string{"--cacert", cacert}
			cert := func(c clientFiles) []string { return []string{"--cert", c.cert, "--key", c.key} }

			r := runCurl(t, append(append(base, cert(alice)...), g.URL("/api/any/x"))...)
			expect(t, "alice", r, 200)
			if peer := up.Last().Peer; peer == nil || !peer.Equal(p.gwClient.Cert) {
				t.Errorf("upstream saw client certificate %v, want the gateway's", peer)
			}
			expectProblem(t, "no certificate", runCurl(t, append(base, g.URL("/api/any/x"))...), 401, "client_cert_required")
			r = runCurl(t, append(append(base, cert(stranger)...), g.URL("/api/any/x"))...)
			if r.exit == 0 {
				t.Errorf("a certificate from a CA outside client_ca was accepted: %s", r)
			}
		})
	}
}
