package gateway

import (
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/config"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestCheckListsConfigAndFileProblemsTogether(t *testing.T) {
	e := newEnv(t)
	other := e.clients.Issue(t, testpki.Options{CN: "x"})
	testpki.WriteFile(t, e.dir, "wrong.key", other.KeyPEM(t))
	testpki.WriteFile(t, e.dir, "empty.pem", nil)
	path := e.writeConfig(`listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
      cert: server.pem
      key: wrong.key
      client_ca: empty.pem
upstreams:
  - name: up
    url: {{UPSTREAM}}
routes:
  - name: a
    upstream: nope
    allow:
      - fingerprint_sha256: "abc"
  - name: b
    upstream: up
    forward: {format: json}
`)
	_, err := Check(path)
	probs := config.AsProblems(err)
	want := []string{
		"listeners[0].tls.cert (line 5)", "does not match private key",
		"listeners[0].tls.client_ca (line 7)", "empty",
		"routes[0].upstream (line 13)", "routes[0].allow[0].fingerprint_sha256 (line 15)",
		"routes[1].forward.format (line 18)",
	}
	all := probs.Error()
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("missing %q in:\n%s", w, all)
		}
	}
	for i := 1; i < len(probs); i++ {
		if probs[i].Line != 0 && probs[i].Line < probs[i-1].Line {
			t.Errorf("problems not in document order:\n%s", all)
		}
	}
}

func TestCheckReturnsWarnings(t *testing.T) {
	e := newEnv(t)
	path := e.writeConfig(`listeners:
  - name: public
    address: 127.0.0.1:0
    tls: {cert: server.pem, key: server.key, client_ca: clients-ca.pem}
upstreams:
  - name: up
    url: https://127.0.0.1:1
    tls: {insecure_skip_verify: true}
routes:
  - name: a
    upstream: up
`)
	warnings, err := Check(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), "insecure_skip_verify is true") {
		t.Errorf("insecure upstream not warned about: %q", warnings)
	}
}
