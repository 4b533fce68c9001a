package gateway

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestWatchReloadsRotatedCertificate replaces the listener certificate the
// way secret managers do (write a temp file, rename over the old one) and
// expects new connections to see the new certificate without a signal.
func TestWatchReloadsRotatedCertificate(t *testing.T) {
	e := newEnv(t)
	e.start(baseConfig)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = e.g.Watch(ctx, 50*time.Millisecond) }()

	next := e.root.Issue(t, testpki.Options{CN: "localhost", DNS: []string{"localhost"}})
	rotate := func() {
		for name, data := range map[string][]byte{"server.key": next.KeyPEM(t), "server.pem": next.ChainPEM()} {
			tmp := testpki.WriteFile(t, e.dir, name+".tmp", data)
			if err := os.Rename(tmp, filepath.Join(e.dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	rotate()
	alice := e.clients.Issue(t, testpki.Options{CN: "alice"})
	deadline := time.Now().Add(10 * time.Second)
	lastRotate := time.Now()
	for {
		// The watcher may not have registered before the first rename on a
		// busy machine: rename again now and then, as a secret manager would.
		if time.Since(lastRotate) > time.Second {
			rotate()
			lastRotate = time.Now()
		}
		var serial string
		c := e.client(alice, false, func(tc *tls.Config) {
			tc.VerifyConnection = func(cs tls.ConnectionState) error {
				serial = cs.PeerCertificates[0].SerialNumber.String()
				return nil
			}
		})
		expectStatus(t, "during rotation", e.get(c, e.url("/secure/x"), nil), 200)
		if serial == next.Cert.SerialNumber.String() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotated certificate not served after 10s; logs:\n%s", e.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
