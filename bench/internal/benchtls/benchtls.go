// Package benchtls holds the small TLS helpers shared by the benchmark
// programs (load generator, upstream, go-bare): loading PEM files, the TLS
// version flag, and the key-exchange groups every peer is held to.
package benchtls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// Groups are the key-exchange groups offered by the benchmark's Go programs.
// OpenSSL 3.0 (nginx, HAProxy on Debian 12) has no ML-KEM, so a Go client
// left at its defaults would negotiate X25519MLKEM768 with Go servers and
// X25519 with the others; pinning X25519 keeps the handshake work equal.
var Groups = []tls.CurveID{tls.X25519, tls.CurveP256}

// Pair loads a certificate chain and its private key from PEM files.
func Pair(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return c, fmt.Errorf("load %s / %s: %w", certFile, keyFile, err)
	}
	return c, nil
}

// Pool loads a PEM bundle of CA certificates.
func Pool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no PEM certificates", file)
	}
	return p, nil
}

// Version parses "1.2" or "1.3".
func Version(s string) (uint16, error) {
	switch s {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("TLS version %q: want 1.2 or 1.3", s)
}

// ServerConfig is a TLS server config that requires and verifies a client
// certificate issued by clientCA (no client verification when clientCA is "").
func ServerConfig(certFile, keyFile, clientCA string) (*tls.Config, error) {
	cert, err := Pair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		Certificates:     []tls.Certificate{cert},
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: Groups,
	}
	if clientCA != "" {
		pool, err := Pool(clientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
