package e2e

import (
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestHandshakeRefusals: on a client_auth: require listener, an expired
// client certificate, one from an unknown CA, and no certificate at all are
// refused in the TLS handshake (curl gets no HTTP response), and each
// refusal is logged with a reason code and a sentence an operator can act
// on: the certificate's name, when it expired, which client_ca file it is
// not in.
func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, map[string]string{"CLIENT_AUTH": "require"})
	expiredAt := time.Now().Add(-50 * time.Hour).UTC().Truncate(time.Second)
	expired := e.p.client(t, "old", testpki.Options{CN: "old", NotBefore: expiredAt.Add(-24 * time.Hour), NotAfter: expiredAt})
	stranger := e.p.foreignClient(t, "mallory", testpki.Options{CN: "mallory"})
	serverOnly := e.p.client(t, "srv", testpki.Options{CN: "srv", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})

	cases := []struct {
		name   string
		client *clientFiles
		code   string
		reason []string // substrings of the logged reason
		leafCN string   // expected client.subject in the log ("" for none)
	}{
		{"no certificate", nil, "no_client_cert",
			[]string{"no client certificate sent; listener public requires one"}, ""},
		{"expired", &expired, "expired",
			[]string{"client certificate CN=old expired " + expiredAt.Format(time.RFC3339) + " (2 days ago)"}, "CN=old"},
		{"unknown CA", &stranger, "unknown_ca",
			[]string{"client certificate CN=mallory", "issued by CN=Stranger CA", "not in client_ca clients-ca.pem", "listener public"}, "CN=mallory"},
		{"server-only key usage", &serverOnly, "bad_key_usage",
			[]string{"client certificate CN=srv is not valid for client authentication", "serverAuth"}, "CN=srv"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.curl(tc.client, "/api/any/x")
			if r.exit == 0 || r.status != 0 {
				t.Fatalf("handshake should be refused; got %s", r)
			}
			line := e.g.waitLog(tenSeconds, "tls handshake failed with "+tc.code, func(m map[string]any) bool {
				return m["msg"] == "tls handshake failed" && m["reason_code"] == tc.code
			})
			if line == nil {
				return
			}
			if line["level"] != "WARN" || line["listener"] != "public" {
				t.Errorf("level %v listener %v, want WARN public", line["level"], line["listener"])
			}
			reason := fmt.Sprint(line["reason"])
			for _, want := range tc.reason {
				if !strings.Contains(reason, want) {
					t.Errorf("reason %q lacks %q", reason, want)
				}
			}
			client, _ := line["client"].(map[string]any)
			switch {
			case tc.leafCN == "" && client != nil:
				t.Errorf("client %v logged for a connection without a certificate", client)
			case tc.leafCN != "" && (client == nil || client["subject"] != tc.leafCN):
				t.Errorf("client %v, want subject %s", client, tc.leafCN)
			}
		})
	}
	// The listener still serves valid clients.
	expect(t, "alice after refusals", e.curl(&alice, "/api/secure/x"), 200)
}

// TestMinVersion: a listener with min_version "1.3" refuses a TLS 1.2-only
// client in the handshake and logs reason_code protocol_version; TLS 1.3
// clients are served.
func TestMinVersion(t *testing.T) {
	t.Parallel()
	cfg := strings.Replace(baseConfig, "      client_auth: {{CLIENT_AUTH}}\n", "      client_auth: {{CLIENT_AUTH}}\n      min_version: \"1.3\"\n", 1)
	e := newEnv(t, cfg, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})
	if r := e.curl(&alice, "/api/secure/x", "--tlsv1.2", "--tls-max", "1.2"); r.exit == 0 {
		t.Errorf("TLS 1.2 client served by a min_version 1.3 listener: %s", r)
	}
	e.g.waitLog(tenSeconds, "protocol_version refusal", func(m map[string]any) bool {
		return m["msg"] == "tls handshake failed" && m["reason_code"] == "protocol_version"
	})
	expect(t, "TLS 1.3 client", e.curl(&alice, "/api/secure/x", "--tlsv1.3"), 200)
}
