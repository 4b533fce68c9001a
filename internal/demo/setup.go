package demo

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Files are the paths Setup wrote.
type Files struct {
	Dir        string
	Config     string
	ClientsCA  string // trust bundle for client certificates
	ServerCA   string // CA that issued the gateway's and the upstream's server certs
	Alice      [2]string
	Bob        [2]string
	Upstream   [2]string // the echo upstream's server certificate and key
	UpstreamCA string    // CA the upstream trusts for the gateway's client cert
}

// Setup mints a demo PKI into dir and writes a config for a gateway on
// listen (host:port) in front of an upstream on upstream (host:port).
func Setup(dir, listen, admin, upstream string) (*Files, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	server, err := newAuthority("mtlsgate demo server CA")
	if err != nil {
		return nil, err
	}
	clients, err := newAuthority("mtlsgate demo client CA")
	if err != nil {
		return nil, err
	}
	// A CA of its own for the gateway's client certificate: the upstream
	// trusts only it, so API clients cannot call the upstream directly.
	gwCA, err := newAuthority("mtlsgate demo gateway-client CA")
	if err != nil {
		return nil, err
	}
	f := &Files{
		Dir: dir, Config: filepath.Join(dir, "mtlsgate.yaml"),
		ClientsCA: filepath.Join(dir, "clients-ca.pem"), ServerCA: filepath.Join(dir, "server-ca.pem"),
		Alice:    [2]string{filepath.Join(dir, "alice.pem"), filepath.Join(dir, "alice.key")},
		Bob:      [2]string{filepath.Join(dir, "bob.pem"), filepath.Join(dir, "bob.key")},
		Upstream: [2]string{filepath.Join(dir, "upstream.pem"), filepath.Join(dir, "upstream.key")},
	}
	f.UpstreamCA = filepath.Join(dir, "gateway-client-ca.pem")
	loopback := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	steps := []error{
		server.write(f.ServerCA),
		clients.write(f.ClientsCA),
		gwCA.write(f.UpstreamCA),
		server.issue(dir, "gateway", leafSpec{cn: "localhost", dns: []string{"localhost"}, ips: loopback, eku: x509.ExtKeyUsageServerAuth}),
		server.issue(dir, "upstream", leafSpec{cn: "orders.internal", dns: []string{"orders.internal"}, ips: loopback, eku: x509.ExtKeyUsageServerAuth}),
		gwCA.issue(dir, "gateway-client", leafSpec{cn: "mtlsgate", o: "mtlsgate demo", eku: x509.ExtKeyUsageClientAuth}),
		clients.issue(dir, "alice", leafSpec{cn: "alice", o: "Acme Corp", ou: "payments", eku: x509.ExtKeyUsageClientAuth}),
		clients.issue(dir, "bob", leafSpec{cn: "bob", o: "Acme Corp", ou: "marketing", eku: x509.ExtKeyUsageClientAuth}),
	}
	for _, err := range steps {
		if err != nil {
			return nil, err
		}
	}
	cfg := fmt.Sprintf(`# mtlsgate demo config, written by "mtlsgate demo".
listeners:
  - name: public
    address: %s
    tls:
      cert: gateway.pem
      key: gateway.key
      client_ca: clients-ca.pem
      # request: the certificate is asked for and verified if sent, so the
      # demo can show a 401 for a client without one.
      client_auth: request
admin:
  address: %s
upstreams:
  - name: orders
    url: https://%s
    tls:
      cert: gateway-client.pem
      key: gateway-client.key
      ca: server-ca.pem
      server_name: orders.internal
routes:
  - name: orders-api
    match:
      path_prefix: /api/
    upstream: orders
    client_cert: required
    allow:
      - cn: alice
        ou: payments
    forward:
      format: rfc9440
  - name: public
    match:
      path_prefix: /public/
    upstream: orders
    client_cert: optional
    forward:
      format: xfcc
`, listen, admin, upstream)
	if err := os.WriteFile(f.Config, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("demo: writing config: %w", err)
	}
	return f, nil
}
