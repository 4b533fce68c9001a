package demo

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// EchoUpstream serves, over mTLS, a JSON echo of what the gateway forwarded:
// the client identity decoded from the trusted headers, and the forwarding
// headers. It requires a client certificate issued by caFile, so only the
// gateway can call it.
func EchoUpstream(ln net.Listener, certFile, keyFile, caFile string) (*http.Server, error) {
	return EchoServer(ln, "orders (demo echo)", certFile, keyFile, caFile, nil)
}

// EchoServer is EchoUpstream with the name it reports in its answers and,
// when allowCN is not empty, only callers with one of those common names.
func EchoServer(ln net.Listener, name, certFile, keyFile, caFile string, allowCN []string) (*http.Server, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("demo: upstream certificate: %w", err)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("demo: upstream trust: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("demo: %s holds no certificate", caFile)
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { echo(w, r, name) }),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(allowCN) == 0 || slices.Contains(allowCN, cs.PeerCertificates[0].Subject.CommonName) {
					return nil
				}
				return fmt.Errorf("echo server %s: caller %q is not in allow_cn", name, cs.PeerCertificates[0].Subject.CommonName)
			},
		},
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return srv, nil
}

func echo(w http.ResponseWriter, r *http.Request, name string) {
	out := map[string]any{
		"upstream":          name,
		"method":            r.Method,
		"path":              r.URL.Path,
		"gateway_client":    r.TLS.PeerCertificates[0].Subject.String(),
		"x_forwarded_for":   r.Header.Get("X-Forwarded-For"),
		"x_forwarded_proto": r.Header.Get("X-Forwarded-Proto"),
		"forwarded":         r.Header.Get("Forwarded"),
	}
	if v := r.Header.Get("Client-Cert"); v != "" {
		if c, err := identity.ParseClientCert(v); err == nil {
			out["client_cert_subject (from Client-Cert, RFC 9440)"] = c.Subject.String()
		}
	}
	if v := r.Header.Get("X-Forwarded-Client-Cert"); v != "" {
		out["x_forwarded_client_cert"] = v
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
