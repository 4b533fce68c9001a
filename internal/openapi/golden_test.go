package openapi

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/mtlsgate/mtlsgate/internal/config"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenDocs are the documents in testdata with the options they are
// imported with; each has testdata/<name>.golden.
var goldenDocs = []struct {
	file string
	o    Options
}{
	{"orders-3.1.yaml", Options{Upstream: "orders", Host: "api.example.com"}},
	{"inventory-3.0.json", Options{Upstream: "inventory", Unsecured: "none"}},
	{"legacy-2.0.yaml", Options{Upstream: "billing", Unsecured: "optional"}},
	{"petstore-2.0.json", Options{Upstream: "pets"}},
}

func TestGolden(t *testing.T) {
	for _, g := range goldenDocs {
		t.Run(g.file, func(t *testing.T) {
			routes, err := Import(filepath.Join("testdata", g.file), g.o)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			got, err := MarshalRoutes(routes, g.file)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(g.file, filepath.Ext(g.file))+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("MarshalRoutes output differs from %s (run go test -update if intended):\n%s", golden, got)
			}
			checkRoundTrip(t, routes, got)

			// Same input, same bytes: the import is deterministic.
			for range 3 {
				again, err := Import(filepath.Join("testdata", g.file), g.o)
				if err != nil {
					t.Fatal(err)
				}
				out, _ := MarshalRoutes(again, g.file)
				if !bytes.Equal(out, got) {
					t.Fatalf("second import differs:\n%s", out)
				}
			}
		})
	}
}

// checkRoundTrip decodes MarshalRoutes output the way the config loader
// does and compares it with the routes (Origin is not written: yaml:"-").
func checkRoundTrip(t *testing.T, routes []config.Route, out []byte) {
	t.Helper()
	var doc struct {
		Routes []config.Route `yaml:"routes"`
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("decoding MarshalRoutes output: %v\n%s", err, out)
	}
	want := make([]config.Route, len(routes))
	for i, r := range routes {
		r.Origin = ""
		want[i] = r
	}
	if len(want) == 0 {
		want = nil
	}
	if len(doc.Routes) == 0 {
		doc.Routes = nil
	}
	if !reflect.DeepEqual(doc.Routes, want) {
		t.Fatalf("round trip differs:\n got %#v\nwant %#v\n%s", doc.Routes, want, out)
	}
}

// TestGoldenFilesAreDocuments keeps goldenDocs and testdata in step.
func TestGoldenFilesAreDocuments(t *testing.T) {
	names := map[string]bool{}
	for _, g := range goldenDocs {
		names[g.file] = true
	}
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || ext != ".yaml" && ext != ".json" {
			continue
		}
		if !names[e.Name()] {
			t.Errorf("testdata/%s has no entry in goldenDocs", e.Name())
		}
	}
}

func TestImportProblemsInExternalFile(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "api.yaml"), `openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    $ref: "parts/a.yaml#/item"
  /b:
    $ref: "parts/missing.yaml#/item"
`)
	write(t, filepath.Join(dir, "parts", "a.yaml"), `item:
  get:
    security:
      - nope: []
    responses: {"200": {description: ok}}
`)
	path := filepath.Join(dir, "api.yaml")
	_, err := Import(path, Options{Upstream: "u"})
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []*Problem{
		{File: path, Line: 6, SpecPath: "paths./b", Msg: `cannot resolve $ref "parts/missing.yaml#/item": file ` + filepath.Join(dir, "parts", "missing.yaml") + `: no such file or directory`},
		{File: filepath.Join(dir, "parts", "a.yaml"), Line: 4, SpecPath: "paths./a.get.security[0].nope", Msg: `unknown security scheme "nope" (define it under components.securitySchemes)`},
	}
	if !reflect.DeepEqual(ps, Problems(want)) {
		t.Errorf("got\n%v\nwant\n%v", ps, Problems(want))
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImportConcurrently: the gateway may import while the CLI or a reload
// does too.
func TestImportConcurrently(t *testing.T) {
	want, err := Import(filepath.Join("testdata", "orders-3.1.yaml"), goldenDocs[0].o)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			got, err := Import(filepath.Join("testdata", "orders-3.1.yaml"), goldenDocs[0].o)
			if err == nil && !reflect.DeepEqual(got, want) {
				err = errors.New("different routes")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
