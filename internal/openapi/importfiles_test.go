package openapi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestImportFilesNamesReferencedFiles: the files a document's $refs name
// are returned (absolute), for the file watcher; a missing one too, with
// the error.
func TestImportFilesNamesReferencedFiles(t *testing.T) {
	abs := func(rel string) string {
		p, err := filepath.Abs(rel)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, refs, err := ImportFiles("testdata/orders-3.1.yaml", Options{Upstream: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"testdata/shared/paths.yaml", "testdata/shared/schemes.yaml", "testdata/shared/schemas.yaml"} {
		if !slices.Contains(refs, abs(want)) {
			t.Errorf("%s not among the referenced files %q", want, refs)
		}
	}

	dir := t.TempDir()
	doc := `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    get:
      responses:
        "200": {$ref: "./later.yaml#/ok"}
`
	if err := os.WriteFile(filepath.Join(dir, "api.yaml"), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, refs, err = ImportFiles(filepath.Join(dir, "api.yaml"), Options{Upstream: "orders"})
	if err == nil {
		t.Fatal("a $ref to a missing file imported")
	}
	if !slices.Contains(refs, filepath.Join(dir, "later.yaml")) {
		t.Errorf("the missing referenced file is not named: %q", refs)
	}
}

// TestNamePrefix: the prefix is put before every name, and a long
// operationId is shortened so that the whole name stays valid.
func TestNamePrefix(t *testing.T) {
	long := strings.Repeat("x", 140)
	doc := "openapi: 3.1.0\ninfo: {title: t, version: \"1\"}\npaths:\n" +
		"  /a:\n    get:\n      operationId: " + long + "\n      responses: {\"200\": {description: ok}}\n" +
		"  /b:\n    get:\n      responses: {\"200\": {description: ok}}\n"
	routes, err := ImportBytes([]byte(doc), "", Options{Upstream: "orders", NamePrefix: "billing."})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if !strings.HasPrefix(r.Name, "billing.") || len(r.Name) > maxName {
			t.Errorf("route name %q (%d characters)", r.Name, len(r.Name))
		}
	}
	if _, err := ImportBytes([]byte(doc), "", Options{Upstream: "orders", NamePrefix: "no spaces"}); err == nil ||
		!strings.Contains(err.Error(), "name prefix") {
		t.Errorf("a bad prefix: %v", err)
	}
}
