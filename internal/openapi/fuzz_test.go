package openapi

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzImportBytes feeds documents to ImportBytes: it must never panic,
// and what it returns must hold together.
func FuzzImportBytes(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "testdata/*.json", "testdata/shared/*"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(h31 + mtlsSchemes + "servers: [{url: '/{v}', variables: {v: {default: v1}}}]\nsecurity: [m: [], {}]\npaths:\n  /a/{id}.json:\n    get: {operationId: a, x-mtlsgate-allow: [{cn: x}], security: [m: []]}\n"))
	f.Add([]byte(h31 + "paths:\n  /a: &a\n    get: {callbacks: {c: {'{$url}': {$ref: '#/paths/~1a'}}}}\n  /b:\n    $ref: 'shared/paths.yaml#/order'\n"))
	f.Add([]byte(h31 + "paths:\n  /a: &a\n    get: {callbacks: {c: {'{$url}': *a}}}\n"))
	f.Add([]byte(h20 + "basePath: /b\nsecurityDefinitions: {m: {type: basic, x-mtlsgate-mutual-tls: true}}\npaths:\n  /x:\n    $ref: '#/paths/~1y'\n  /y:\n    get: {security: [m: []]}\n"))

	o := Options{Upstream: "up", Host: "h.example.com"}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang is a failure too: crash with the input saved.
		timer := time.AfterFunc(30*time.Second, func() { panic("ImportBytes took more than 30s") })
		defer timer.Stop()
		routes, err := ImportBytes(data, "testdata", o)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error is not Problems: %v", err)
			}
			for _, p := range ps {
				if p.Msg == "" {
					t.Fatalf("problem without a message: %+v", p)
				}
			}
			if routes != nil {
				t.Fatal("routes and an error")
			}
			return
		}
		if len(routes) == 0 {
			t.Fatal("no routes and no error")
		}
		names := map[string]bool{}
		for _, r := range routes {
			if names[r.Name] {
				t.Fatalf("duplicate name %q", r.Name)
			}
			names[r.Name] = true
			if r.Name == "" || len(r.Name) > maxName || strings.IndexFunc(r.Name, func(c rune) bool { return !isNameChar(c) }) >= 0 {
				t.Fatalf("bad name %q", r.Name)
			}
			if !strings.HasPrefix(r.Match.Path, "/") || checkTemplate(r.Match.Path) != nil {
				t.Fatalf("bad path %q: %v", r.Match.Path, checkTemplate(r.Match.Path))
			}
			if len(r.Match.Methods) != 1 || methodRank(r.Match.Methods[0]) >= len(methods) || strings.ToUpper(r.Match.Methods[0]) != r.Match.Methods[0] {
				t.Fatalf("bad methods %q", r.Match.Methods)
			}
			if r.Upstream != o.Upstream || r.Match.Host != o.Host {
				t.Fatalf("options not applied: %+v", r)
			}
			switch r.ClientCert {
			case "", "required", "optional":
			default:
				t.Fatalf("client_cert %q", r.ClientCert)
			}
			if len(r.Allow) > 0 && r.ClientCert == "optional" {
				t.Fatalf("allow on an optional route: %+v", r)
			}
		}
		out, err := MarshalRoutes(routes, "fuzz")
		if err != nil {
			t.Fatal(err)
		}
		checkRoundTrip(t, routes, out)
	})
}
