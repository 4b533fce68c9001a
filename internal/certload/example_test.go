package certload_test

import (
	"crypto/tls"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mtlsgate/mtlsgate/internal/certload"
)

// A gateway certificate from a PEM chain and an encrypted key, with the
// password in an environment variable.
func ExampleLoadKeyPair() {
	spec := certload.KeyPairSpec{
		Cert:        "/etc/mtlsgate/gateway.pem",
		Key:         "/etc/mtlsgate/gateway.key",
		PasswordEnv: "MTLSGATE_KEY_PASSWORD",
	}
	for _, w := range certload.KeyFileWarnings(spec) {
		log.Print(w) // e.g. mode 0644 is wider than 0600 ...
	}
	cert, err := certload.LoadKeyPair(spec)
	if err != nil {
		log.Fatal(err) // e.g. certload: /etc/mtlsgate/gateway.pem: certificate does not match private key /etc/mtlsgate/gateway.key
	}
	_ = &tls.Config{Certificates: []tls.Certificate{*cert}}
	// The gateway watches spec.Files() and calls LoadKeyPair again on change.
}

// Client CAs from a PEM bundle; Ignored lists skipped non-certificate blocks.
func ExampleLoadTrustBundle() {
	dir, _ := os.MkdirTemp("", "certload")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "clients-ca.pem")
	_ = os.WriteFile(file, []byte("# no certificates here\n"), 0o600)

	_, err := certload.LoadTrustBundle(certload.TrustSpec{File: file})
	fmt.Println(err != nil)
	// Output: true
}
