// Command mkcrl writes a CRL with many random revoked serials, signed by a
// CA whose certificate and (unencrypted PEM) key are given, for the
// revocation-on benchmark rows. None of the serials belongs to a real
// certificate, so every lookup is a miss against a full index: the
// handshake cost of checking, not of refusing.
package main

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
)

func main() {
	caFile := flag.String("ca", "", "CA certificate (PEM)")
	keyFile := flag.String("key", "", "CA private key (PEM, unencrypted)")
	n := flag.Int("n", 1_000_000, "revoked entries")
	out := flag.String("out", "", "CRL file to write (DER)")
	flag.Parse()
	if err := run(*caFile, *keyFile, *n, *out); err != nil {
		fmt.Fprintln(os.Stderr, "mkcrl:", err)
		os.Exit(1)
	}
}

func run(caFile, keyFile string, n int, out string) error {
	certPEM, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return fmt.Errorf("%s: no PEM certificate", caFile)
	}
	issuer, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return fmt.Errorf("%s: no PEM key", keyFile)
	}
	key, err := parseKey(kb)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	entries := make([]ca.RevokedEntry, n)
	buf := make([]byte, 16)
	for i := range entries {
		if _, err := rand.Read(buf); err != nil {
			return err
		}
		entries[i] = ca.RevokedEntry{Serial: new(big.Int).SetBytes(buf), At: now.Add(-time.Hour), Reason: i % 5}
	}
	der, err := ca.EncodeCRL(issuer, key, 1, now.Add(-time.Minute), now.Add(7*24*time.Hour), entries)
	if err != nil {
		return err
	}
	return os.WriteFile(out, der, 0o644)
}

func parseKey(b *pem.Block) (crypto.Signer, error) {
	var k any
	var err error
	switch b.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key of type %T cannot sign", k)
	}
	return s, nil
}
