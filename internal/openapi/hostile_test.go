package openapi

import (
	"path/filepath"
	"testing"
	"time"
)

// TestHostileDocuments: documents that once crashed or hung libopenapi (or
// could) give problems or routes, quickly.
func TestHostileDocuments(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "arr.json"), `[1,2,3]`)
	write(t, filepath.Join(dir, "bad.yaml"), "a: [\n")
	write(t, filepath.Join(dir, "empty.yaml"), "")
	write(t, filepath.Join(dir, "back.yaml"), "item:\n  $ref: 'root.yaml#/paths/~1a'\n")
	write(t, filepath.Join(dir, "self.yaml"), "item:\n  $ref: '#/item'\n")
	write(t, filepath.Join(dir, "loop.yaml"), "item: &i\n  get:\n    callbacks:\n      c:\n        '{$url}': *i\n")
	write(t, filepath.Join(dir, "ok.yaml"), "item:\n  get: {operationId: ext}\nnested:\n  $ref: 'sub/n.yaml#/item'\n")
	write(t, filepath.Join(dir, "sub", "n.yaml"), "item:\n  get: {operationId: nested}\n")
	write(t, filepath.Join(dir, "notes.txt"), "item: {get: {}}\n")

	for _, tc := range []struct {
		name   string
		doc    string
		routes int      // routes wanted, or
		want   []string // problems wanted
	}{
		{"callback $ref to its own path item", h31 + "paths:\n  /a:\n    get: {operationId: x, callbacks: {c: {'{$request.body}': {$ref: '#/paths/~1a'}}}}\n", 1, nil},
		{"recursive schema through properties", h31 + "paths:\n  /a:\n    get:\n      responses: {'200': {description: x, content: {a/b: {schema: {properties: {a: {$ref: '#/paths/~1a/get/responses/200/content/a~1b/schema'}}}}}}}\n", 1, nil},
		{"alias inside its anchor", h31 + "paths:\n  /a: &a\n    get:\n      callbacks: {c: {'{$url}': *a}}\n", 0, []string{"line 6: YAML alias *a is inside the node it refers to: a document cannot contain itself"}},
		{"alias inside its anchor, top level", h31 + "paths: &p\n  /a:\n    get: {}\n  /b: *p\n", 0, []string{"line 6: YAML alias *p is inside the node it refers to: a document cannot contain itself"}},
		{"external file with an alias inside its anchor", h31 + "paths:\n  /a:\n    $ref: 'loop.yaml#/item'\n", 0, []string{`~line 4: paths./a: cannot resolve $ref "loop.yaml#/item": file ` + filepath.Join(dir, "loop.yaml") + `: line 5: YAML alias *i is inside the node it refers to`}},
		{"self-referencing callback", h31 + "paths:\n  /a:\n    get: {callbacks: {c: {$ref: '#/paths/~1a/get/callbacks/c'}}}\n", 0, []string{"~line 5: paths./a.get.callbacks.c: circular $ref"}},
		{"self-referencing parameter", h31 + "paths:\n  /a:\n    get:\n      parameters: [{$ref: '#/paths/~1a/get/parameters/0'}]\n", 0, []string{"~line 6: paths./a.get.parameters[0]: circular $ref"}},
		{"self-referencing security scheme", h31 + "components:\n  securitySchemes:\n    m: {$ref: '#/components/securitySchemes/m'}\nsecurity: [m: []]\npaths:\n  /a:\n    get: {}\n", 0, []string{"~line 5: components.securitySchemes.m: circular $ref"}},
		{"$ref to the whole document", h31 + "paths:\n  /a:\n    $ref: '#'\n", 0, []string{"~line 5: paths./a: cannot resolve"}},
		{"$ref to paths", h31 + "paths:\n  /a:\n    $ref: '#/paths'\n", 0, []string{"line 3: paths: no operations: nothing to route"}},
		{"empty $ref", h31 + "paths:\n  /a:\n    $ref: ''\n", 0, []string{"~line 5: paths./a: "}},
		{"$ref to a string", h31 + "paths:\n  /a:\n    $ref: '#/info/title'\n", 0, []string{"line 2: paths./a: a path item must be an object, got a string"}},
		{"$ref into a JSON array", h31 + "paths:\n  /a:\n    $ref: 'arr.json#/0'\n", 0, []string{filepath.Join(dir, "arr.json") + ":1: paths./a: a path item must be an object, got a number"}},
		{"$ref to a file that does not parse", h31 + "paths:\n  /a:\n    $ref: 'bad.yaml#/a'\n", 0, []string{`~line 4: paths./a: cannot resolve $ref "bad.yaml#/a": file ` + filepath.Join(dir, "bad.yaml") + ": cannot parse it: "}},
		{"$ref into an empty file", h31 + "paths:\n  /a:\n    $ref: 'empty.yaml#/a'\n", 0, []string{`line 4: paths./a: cannot resolve $ref "empty.yaml#/a": not found`}},
		{"$ref to a text file", h31 + "paths:\n  /a:\n    $ref: 'notes.txt#/item'\n", 0, []string{`line 4: paths./a: cannot resolve $ref "notes.txt#/item": file ` + filepath.Join(dir, "notes.txt") + ": only .yaml, .yml and .json files are read"}},
		{"$refs between files in a circle", h31 + "paths:\n  /a:\n    $ref: 'back.yaml#/item'\n", 0, []string{filepath.Join(dir, "back.yaml") + ":1: item: circular $ref that can never end: #/item -> #/paths/~1a -> #/item"}},
		{"$ref in a file to itself", h31 + "paths:\n  /a:\n    $ref: 'self.yaml#/item'\n", 0, []string{filepath.Join(dir, "self.yaml") + ":1: item: circular $ref that can never end: #/item -> #/item"}},
		{"$ref chain through two files", h31 + "paths:\n  /a:\n    $ref: 'ok.yaml#/item'\n  /b:\n    $ref: 'ok.yaml#/nested'\n", 2, nil},
		{"webhooks only", h31 + "webhooks:\n  w: {post: {}}\npaths: {}\n", 0, []string{"line 5: paths: no operations: nothing to route"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan struct{})
			timer := time.AfterFunc(20*time.Second, func() { panic("ImportBytes hung on " + tc.name) })
			defer timer.Stop()
			defer close(done)
			if tc.want != nil {
				matchProblems(t, problemsOf(t, tc.doc, dir, Options{}), tc.want)
				return
			}
			routes, err := ImportBytes([]byte(tc.doc), dir, Options{Upstream: "u"})
			if err != nil || len(routes) != tc.routes {
				t.Fatalf("got %d routes, %v", len(routes), err)
			}
		})
	}
}
