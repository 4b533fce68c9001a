package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodYAML = `listeners:
  - name: public
    address: 127.0.0.1:8443
    tls:
      cert: gw.pem
      key: gw.key
      client_ca: clients.pem
admin:
  address: 127.0.0.1:9090
upstreams:
  - name: orders
    url: https://127.0.0.1:9000
    tls:
      cert: gwc.p12
      ca: backend.pem
      server_name: orders.internal
routes:
  - name: secure-api
    match:
      host: api.example.com
      path_prefix: /api/secure/
      methods: [GET, POST]
    upstream: orders
    allow:
      - cn: alice
        ou: payments
      - spiffe_id: "spiffe://example.org/ns/*/sa/orders"
    forward:
      format: xfcc
`

func TestParseGoodAndDefaults(t *testing.T) {
	cfg, _, err := Parse("good.yaml", []byte(goodYAML))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(cfg); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	l := cfg.Listeners[0]
	if l.TLS.ClientAuth != ClientAuthRequire || l.TLS.MinVersion != "1.2" {
		t.Errorf("listener defaults: client_auth=%q min_version=%q", l.TLS.ClientAuth, l.TLS.MinVersion)
	}
	if l.Limits.MaxHeaderBytes != DefaultMaxHeaderBytes || l.Limits.ReadHeaderTimeout.D() != DefaultReadHeaderTimeout {
		t.Errorf("limit defaults not applied: %+v", l.Limits)
	}
	r := cfg.Routes[0]
	if r.ClientCert != ClientCertRequired || r.Forward.Format != "xfcc" || len(r.Allow) != 2 || r.Allow[1].SPIFFEID == "" {
		t.Errorf("route decoded wrong: %+v", r)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"empty", "  \n", "file is empty"},
		{"unknown key", "listeners:\n  - name: a\n    adress: x\n", "line 3"},
		{"unknown key named", "listeners:\n  - name: a\n    adress: x\n", "adress"},
		{"duplicate key", "admin:\n  address: a:1\n  address: b:2\n", "already defined"},
		{"wrong type", "listeners: 5\n", "line 1"},
		{"bad duration", "listeners:\n  - name: a\n    limits:\n      idle_timeout: 30\n", "duration"},
		{"malformed", "listeners: [\n", "line"},
		{"two documents", "admin: {address: a:1}\n---\nadmin: {address: a:1}\n", "documents"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("c.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "c.yaml") {
				t.Fatalf("error %q does not mention %q and the file name", err, tc.want)
			}
		})
	}
}

func TestValidateListsEveryProblemWithLines(t *testing.T) {
	y := `listeners:
  - name: public
    address: nope
    tls:
      cert: gw.pem
      client_auth: sometimes
      min_version: "1.0"
  - name: public
    address: 127.0.0.1:1
    tls:
      cert: gw.p12
      key: gw.key
      client_ca: c.pem
upstreams:
  - name: orders
    url: ftp://x
routes:
  - name: a
    upstream: missing
    client_cert: none
    allow:
      - cn: x
    forward:
      format: json
  - name: b
    match:
      path_prefix: /
      methods: [get]
    upstream: orders
  - name: c
    match:
      path_prefix: /
    upstream: orders
`
	cfg, src, err := Parse("c.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	probs := src.Annotate(Validate(cfg))
	want := map[string]int{
		"listeners[0].address":         3,
		"listeners[0].tls.key":         4,
		"listeners[0].tls.client_auth": 6,
		"listeners[0].tls.min_version": 7,
		"listeners[1].name":            8,
		"listeners[1].tls.key":         12,
		"upstreams[0].url":             16,
		"routes[0].upstream":           19,
		"routes[0].allow":              21,
		"routes[0].forward.format":     24,
		"routes[1].match.methods[0]":   28,
		"routes[2].match":              31,
	}
	got := map[string]int{}
	for _, p := range probs {
		got[p.Path] = p.Line
	}
	for path, line := range want {
		gl, ok := got[path]
		if !ok {
			t.Errorf("missing problem at %s; got:\n%v", path, probs)
			continue
		}
		if gl != line {
			t.Errorf("%s: line %d, want %d", path, gl, line)
		}
	}
	if s := probs.Error(); !strings.Contains(s, "listeners[0].tls.client_auth (line 6):") {
		t.Errorf("message format: %s", s)
	}
}

func TestLoadFileResolvesPaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(p, []byte(goodYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Listeners[0].TLS.Cert; got != filepath.Join(dir, "gw.pem") {
		t.Errorf("cert path %q not resolved against %s", got, dir)
	}
	if _, _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file: no error")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(goodYAML))
	f.Add([]byte("listeners: [{name: a, tls: {cert: x}}]"))
	f.Add([]byte("routes:\n  - allow: [{cn: '*'}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, src, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		// Validation must never panic, and every problem must carry a path.
		for _, p := range src.Annotate(Validate(cfg)) {
			if p.Path == "" {
				t.Fatalf("problem without a path: %v", p)
			}
		}
	})
}
