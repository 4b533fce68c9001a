package gateway

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/config"
)

// TestImportRoutesWatchesReferencedFiles: the files an OpenAPI document's
// $refs name are among the files the watcher reloads on, not only the
// document.
func TestImportRoutesWatchesReferencedFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	doc := write("api.yaml", `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    $ref: "./paths.yaml#/a"
`)
	ref := write("paths.yaml", `a:
  get:
    responses:
      "200": {description: ok}
`)
	cfg := &config.Config{RoutesFrom: []config.RoutesFrom{{OpenAPI: doc, Upstream: "orders"}}}
	files, probs := importRoutes(cfg)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if !slices.Contains(files, doc) || !slices.Contains(files, ref) {
		t.Fatalf("files %q, want the document and %s", files, ref)
	}
	if len(cfg.Routes) != 1 {
		t.Fatalf("%d routes imported", len(cfg.Routes))
	}
}

// TestImportRoutesNamePrefix: two documents with the same operationId
// clash unless one has a name_prefix; the error says so.
func TestImportRoutesNamePrefix(t *testing.T) {
	dir := t.TempDir()
	doc := func(name, path string) string {
		p := filepath.Join(dir, name)
		data := "openapi: 3.1.0\ninfo: {title: t, version: \"1\"}\npaths:\n  " + path +
			":\n    get:\n      operationId: getThing\n      responses: {\"200\": {description: ok}}\n"
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := doc("a.yaml", "/a"), doc("b.yaml", "/b")
	cfg := &config.Config{
		Upstreams:  []config.Upstream{{Name: "orders", URL: "http://127.0.0.1:1"}},
		RoutesFrom: []config.RoutesFrom{{OpenAPI: a, Upstream: "orders"}, {OpenAPI: b, Upstream: "orders"}},
	}
	if _, probs := importRoutes(cfg); len(probs) > 0 {
		t.Fatal(probs)
	}
	if err := config.Validate(cfg); err == nil || !strings.Contains(err.Error(), "set name_prefix on this routes_from entry") {
		t.Fatalf("two documents with one operationId: %v", err)
	}

	cfg.Routes = nil
	cfg.RoutesFrom[1].NamePrefix = "b."
	if _, probs := importRoutes(cfg); len(probs) > 0 {
		t.Fatal(probs)
	}
	var names []string
	for _, r := range cfg.Routes {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"getThing", "b.getThing"}) {
		t.Fatalf("route names %q", names)
	}
	if err := config.Validate(cfg); err != nil && strings.Contains(err.Error(), "duplicate route name") {
		t.Fatalf("still a clash with name_prefix: %v", err)
	}
}

// TestFilesOfFailedLoadAreWatched: a reload that fails because a $ref
// names a file not written yet leaves that file among the watched ones,
// so creating it reloads; a good load forgets it.
func TestFilesOfFailedLoadAreWatched(t *testing.T) {
	e := newEnv(t)
	doc := filepath.Join(e.dir, "api.yaml")
	writeDoc := func(ref string) {
		data := "openapi: 3.1.0\ninfo: {title: t, version: \"1\"}\npaths:\n  /a:\n    get:\n      responses:\n        \"200\": " + ref + "\n"
		if err := os.WriteFile(doc, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeDoc("{description: ok}")
	e.start(baseConfig + "routes_from:\n  - {openapi: api.yaml, upstream: up}\n")
	later := filepath.Join(e.dir, "later.yaml")
	if slices.Contains(e.g.Files(), later) {
		t.Fatal("later.yaml watched before anything names it")
	}
	writeDoc(`{$ref: "./later.yaml#/ok"}`)
	if err := e.g.Reload(); err == nil {
		t.Fatal("a $ref to a missing file reloaded")
	}
	if !slices.Contains(e.g.Files(), later) {
		t.Fatalf("the missing $ref file is not watched: %q", e.g.Files())
	}
	if err := os.WriteFile(later, []byte("ok: {description: ok}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.g.Reload(); err != nil {
		t.Fatal(err)
	}
	writeDoc("{description: ok}")
	if err := e.g.Reload(); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(e.g.Files(), later) {
		t.Error("later.yaml still watched after a good load that no longer names it")
	}
}
