package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/spf13/cobra"
)

// initConfigFile marks a directory made by init.
const initConfigFile = "mtlsgate.yaml"

type initAddrs struct{ Listen, PKI, Admin, Upstream string }

func newInitCmd(stdout, stderr io.Writer) *cobra.Command {
	var addrs initAddrs
	var doServe bool
	cmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Scaffold a working setup: CA, certificates, config and an mTLS echo upstream",
		Long: `Create, in DIR: a CA (DIR/pki), the gateway's server certificate and its
upstream client certificate, a built-in mTLS echo upstream's certificate, two
client certificates (alice is allowed, bob is not), mtlsgate.yaml using them,
and DIR/README.md with the curl commands that show 200, 401, 403 and
revocation. Then run: mtlsgate serve -c DIR/mtlsgate.yaml (or pass --serve).

A DIR that already holds a setup made by init is reused as it is.`,
		Example: `  mtlsgate init ./demo && mtlsgate serve -c ./demo/mtlsgate.yaml
  mtlsgate init --serve ./demo`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			cfg := filepath.Join(dir, initConfigFile)
			if _, err := os.Stat(cfg); err == nil {
				fmt.Fprintf(stdout, "%s already holds a setup made by mtlsgate init; using it (see %s)\n", dir, filepath.Join(dir, "README.md"))
			} else if err := scaffold(cmd.Context(), dir, addrs, stdout); err != nil {
				return err
			}
			if !doServe {
				fmt.Fprintf(stdout, "\nnext: mtlsgate serve -c %s\n", cfg)
				return nil
			}
			// Show what to try while the gateway runs (its access log goes
			// to stdout too).
			if readme, err := os.ReadFile(filepath.Join(dir, "README.md")); err == nil {
				fmt.Fprintf(stdout, "\n%s\n", readme)
			}
			return serve(cmd, cfg, true, stdout, stderr)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addrs.Listen, "listen", "127.0.0.1:8443", "gateway (mTLS) address")
	f.StringVar(&addrs.PKI, "pki-listen", "127.0.0.1:8080", "plain-HTTP address publishing the CRL and OCSP")
	f.StringVar(&addrs.Admin, "admin", "127.0.0.1:9090", "admin address (/metrics)")
	f.StringVar(&addrs.Upstream, "upstream", "127.0.0.1:9443", "address of the built-in mTLS echo upstream")
	f.BoolVar(&doServe, "serve", false, "start the gateway right after")
	return cmd
}

// concreteAddr is addr with a real port: the config and the certificates'
// URLs are written once, so port 0 (or a taken port) becomes a free port
// on the same host.
func concreteAddr(addr string) (string, error) {
	a, err := freeAddr(addr)
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// scaffold writes the setup; on failure it removes the directory it made.
func scaffold(ctx context.Context, dir string, addrs initAddrs, stdout io.Writer) (err error) {
	entries, statErr := os.ReadDir(dir)
	if statErr == nil && len(entries) > 0 {
		return fmt.Errorf("init: %s exists and is not empty; give a new directory", dir)
	}
	existed := statErr == nil
	for _, p := range []*string{&addrs.Listen, &addrs.PKI, &addrs.Admin, &addrs.Upstream} {
		if *p, err = concreteAddr(*p); err != nil {
			return fmt.Errorf("init: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "clients"), 0o755); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	defer func() {
		if err == nil {
			return
		}
		if existed { // empty before: leave it empty, not gone
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				_ = os.RemoveAll(filepath.Join(dir, e.Name()))
			}
			return
		}
		_ = os.RemoveAll(dir)
	}()
	pki := filepath.Join(dir, "pki")
	if _, err := ca.Init(pki, ca.InitOptions{Name: "mtlsgate demo", PublishURL: "http://" + addrs.PKI}); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	a, err := openCA(pki)
	if err != nil {
		return err
	}
	defer a.Close()
	ips := ca.Names{}
	if ips, err = ca.ParseSANs([]string{"dns:localhost,ip:127.0.0.1,ip:::1"}); err != nil {
		return err
	}
	for _, c := range []struct {
		file string
		req  ca.IssueRequest
	}{
		{"gateway", ca.IssueRequest{Profile: "server", CN: "localhost", SANs: ips}},
		{"gateway-upstream", ca.IssueRequest{Profile: "upstream", CN: "mtlsgate-gateway"}},
		{"echo", ca.IssueRequest{Profile: "server", CN: "echo", SANs: ips}},
		{"clients/alice", ca.IssueRequest{Profile: "client", CN: "alice", OU: []string{"payments"}}},
		{"clients/bob", ca.IssueRequest{Profile: "client", CN: "bob", OU: []string{"marketing"}}},
	} {
		iss, err := a.Issue(ctx, c.req)
		if err != nil {
			return fmt.Errorf("init: issuing %s: %w", c.file, err)
		}
		key, err := ca.MarshalKeyPEM(iss.Key, nil)
		if err != nil {
			return err
		}
		base := filepath.Join(dir, c.file)
		// Servers and the gateway present their chain; clients get both a
		// leaf and a chain file, as "ca issue" writes them.
		certPEM := ca.CertPEM(iss.Chain...)
		if strings.HasPrefix(c.file, "clients/") {
			certPEM = ca.CertPEM(iss.Cert)
			if err := ca.WriteNewFile(base+"-chain.pem", ca.CertPEM(iss.Chain...), 0o644); err != nil {
				return err
			}
		}
		if err := ca.WriteNewFile(base+".key", key, 0o600); err != nil {
			return err
		}
		if err := ca.WriteNewFile(base+".pem", certPEM, 0o644); err != nil {
			return err
		}
	}
	for name, tmpl := range map[string]*template.Template{initConfigFile: initConfigTmpl, "README.md": initReadmeTmpl} {
		var b strings.Builder
		if err := tmpl.Execute(&b, struct {
			initAddrs
			Dir string
		}{addrs, dir}); err != nil {
			return err
		}
		if err := ca.WriteNewFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "created %s: CA in %s, certificates, %s and README.md\n", dir, pki, initConfigFile)
	return nil
}

var initConfigTmpl = template.Must(template.New("cfg").Parse(`# Made by "mtlsgate init". Run: mtlsgate serve -c {{.Dir}}/mtlsgate.yaml
# Relative paths are relative to this file.
listeners:
  - name: public                 # mTLS: clients need a certificate from pki/
    address: {{.Listen}}
    tls:
      cert: gateway.pem          # renewed by the CA at 2/3 of its lifetime
      key: gateway.key
      client_ca: pki/root.pem
      client_auth: request       # ask for a certificate; routes answer 401 without one
  - name: pki                    # plain HTTP: /ca/crl, /ca/ocsp, /ca/root.pem
    address: {{.PKI}}

admin:
  address: {{.Admin}}

ca:
  dir: pki
  serve_on: pki

upstreams:
  - name: orders
    url: https://{{.Upstream}}
    tls:
      cert: gateway-upstream.pem # the gateway's client certificate
      key: gateway-upstream.key
      ca: pki/root.pem

routes:
  - name: orders-api
    match: {path_prefix: /api/}
    upstream: orders
    client_cert: required
    allow:
      - ou: payments             # alice (OU=payments) yes, bob (OU=marketing) no

# A built-in upstream that echoes what the gateway forwards. It accepts only
# the gateway's certificate. Replace it with your API.
echo_servers:
  - name: orders
    address: {{.Upstream}}
    cert: echo.pem
    key: echo.key
    client_ca: pki/root.pem
    allow_cn: [mtlsgate-gateway]
`))

var initReadmeTmpl = template.Must(template.New("readme").Parse(`# mtlsgate setup made by "mtlsgate init"

Start the gateway (from the directory that holds {{.Dir}}):

    mtlsgate serve -c {{.Dir}}/mtlsgate.yaml

Then, in another terminal:

    # 200: alice (OU=payments) is allowed on /api/
    curl --cacert {{.Dir}}/pki/root.pem --cert {{.Dir}}/clients/alice-chain.pem --key {{.Dir}}/clients/alice.key https://{{.Listen}}/api/orders

    # 401: no client certificate
    curl --cacert {{.Dir}}/pki/root.pem https://{{.Listen}}/api/orders

    # 403: bob's certificate is valid, but bob is not in the allow list
    curl --cacert {{.Dir}}/pki/root.pem --cert {{.Dir}}/clients/bob-chain.pem --key {{.Dir}}/clients/bob.key https://{{.Listen}}/api/orders

    # revoke alice: the running gateway refuses her within a second
    mtlsgate ca revoke --dir {{.Dir}}/pki --cn alice --reason keyCompromise

    # the CA's CRL and OCSP responder
    curl -s http://{{.PKI}}/ca/crl | openssl crl -inform DER -noout -text
    openssl ocsp -issuer {{.Dir}}/pki/intermediate.pem -cert {{.Dir}}/clients/alice.pem -url http://{{.PKI}}/ca/ocsp -CAfile {{.Dir}}/pki/root.pem

    # issue more certificates
    mtlsgate ca issue --dir {{.Dir}}/pki --profile client --cn carol --ou payments --out carol

    # metrics
    curl http://{{.Admin}}/metrics

Files: pki/ (the CA: root.pem, intermediate.pem, keys 0600, ca.db),
gateway.pem/.key (the gateway's server certificate), gateway-upstream.pem/.key
(its client certificate towards the upstream), echo.pem/.key (the echo
upstream), clients/ (alice and bob).
`))
