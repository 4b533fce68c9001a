package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestOCSPStapling: a listener with ocsp_stapling fetches a response for its
// own certificate from the certificate's AIA OCSP URL (here the built-in
// CA's responder on the same gateway) and openssl s_client -status sees it
// stapled; after the gateway's certificate is revoked, the next fetch gets
// "revoked", which is never stapled (logged instead).
func TestOCSPStapling(t *testing.T) {
	t.Parallel()
	s := runInit(t)
	g := serveInit(t, s, func(y string) string {
		return strings.Replace(y, "      client_auth: request", "      client_auth: request\n      ocsp_stapling: true", 1)
	})
	status := func() string {
		out, _ := runOpenSSL(t, "s_client", "-connect", s.listen, "-status", "-CAfile", s.path("pki", "root.pem"),
			"-cert", s.path("clients", "alice-chain.pem"), "-key", s.path("clients", "alice.key"))
		return out
	}
	var out string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if out = status(); strings.Contains(out, "Cert Status: good") {
			break
		}
	}
	if !strings.Contains(out, "OCSP Response Status: successful") || !strings.Contains(out, "Cert Status: good") {
		t.Fatalf("no good OCSP response stapled:\n%s\n--- gateway log:\n%s", out, g.stderr.String())
	}
	if !strings.Contains(out, "Verify return code: 0 (ok)") {
		t.Errorf("s_client did not verify the gateway:\n%s", out)
	}
}
