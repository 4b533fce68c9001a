package gateway

import (
	"os"
	"path/filepath"
	"slices"
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
