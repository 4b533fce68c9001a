package openapi

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// problemsOf imports doc and returns its problems as strings.
func problemsOf(t *testing.T, doc, baseDir string, o Options) []string {
	t.Helper()
	if o.Upstream == "" {
		o.Upstream = "up"
	}
	routes, err := ImportBytes([]byte(doc), baseDir, o)
	if err == nil {
		t.Fatalf("no error; routes %+v", routes)
	}
	if routes != nil {
		t.Errorf("routes returned with an error: %+v", routes)
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %T %v", err, err)
	}
	var out []string
	for _, p := range ps {
		if p.Msg == "" {
			t.Errorf("empty message: %+v", p)
		}
		out = append(out, p.Error())
	}
	if strings.Join(out, "\n") != err.Error() {
		t.Errorf("Problems.Error() = %q, want the problems one per line", err.Error())
	}
	return out
}

// matchProblems compares problems with wants: a want is the whole problem,
// or, starting with "~", a part of it.
func matchProblems(t *testing.T, got, want []string) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		if w, part := strings.CutPrefix(want[i], "~"); part {
			ok = strings.Contains(got[i], w)
		} else {
			ok = got[i] == w
		}
	}
	if !ok {
		t.Errorf("got problems\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		o    Options
		want []string
	}{
		// The document as a whole.
		{"empty", "", Options{}, []string{"the document is empty"}},
		{"blank", "  \n\n", Options{}, []string{"the document is empty"}},
		{"yaml syntax", "openapi: 3.1.0\ninfo: [\n", Options{}, []string{"~line 3: cannot parse the document: "}},
		{"json syntax", "{\"openapi\": \"3.1.0\",\n \"info\": {\"title\": \"t\",\n \"version\": \"1\",}}", Options{}, []string{"~line 3: cannot parse the document: invalid character"}},
		{"duplicate key", h31 + "paths: {}\npaths: {}\n", Options{}, []string{`line 4: paths: duplicate key "paths" (first at line 3)`}},
		{"not a mapping", "- a\n- b\n", Options{}, []string{"line 1: the document must be an object (a YAML mapping or JSON object), got a list"}},
		{"no version", "info: {title: t}\npaths: {}\n", Options{}, []string{"not an OpenAPI document: no openapi (3.x) or swagger (2.0) field"}},
		{"asyncapi", "asyncapi: 2.6.0\ninfo: {title: t, version: '1'}\n", Options{}, []string{"line 1: asyncapi: an AsyncAPI document, not OpenAPI: no HTTP routes to import"}},
		{"openapi 4", "openapi: 4.0.0\npaths: {}\n", Options{}, []string{`line 1: openapi: unsupported version "4.0.0": want 3.0.x, 3.1.x or 3.2.x (or swagger: "2.0")`}},
		{"openapi 3.5", "openapi: 3.5.0\npaths: {}\n", Options{}, []string{`line 1: openapi: unsupported version "3.5.0": want 3.0.x, 3.1.x or 3.2.x (or swagger: "2.0")`}},
		{"openapi 3", "openapi: 3\npaths: {}\n", Options{}, []string{`line 1: openapi: unsupported version "3": want 3.0.x, 3.1.x or 3.2.x (or swagger: "2.0")`}},
		{"openapi list", "openapi: [3]\npaths: {}\n", Options{}, []string{"the openapi or swagger field must be a version string"}},
		{"swagger 1.2", "swagger: '1.2'\npaths: {}\n", Options{}, []string{`line 1: swagger: unsupported version "1.2": want "2.0" (or openapi: 3.x)`}},
		{"openapi and swagger", "openapi: 3.1.0\nswagger: '2.0'\npaths: {}\n", Options{}, []string{"line 2: swagger: both openapi and swagger are set: keep the one the document follows"}},
		{"no paths", h31, Options{}, []string{"no paths: nothing to route"}},
		{"no operations", h31 + "paths:\n  /a: {}\n  /b:\n    summary: s\n", Options{}, []string{"line 3: paths: no operations: nothing to route"}},
		{"paths not a mapping", h31 + "paths: [1]\n", Options{}, []string{"line 3: paths: must be an object (path templates to path items), got a list"}},

		// Path templates.
		{"path without /", h31 + "paths:\n  orders:\n    get: {}\n", Options{}, []string{`line 4: paths.orders: path "orders": must start with /`}},
		{"numeric path", h31 + "paths:\n  200:\n    get: {}\n", Options{}, []string{`line 4: paths.200: path "200": must start with /`}},
		{"unclosed brace", h31 + "paths:\n  /orders/{id:\n    get: {}\n", Options{}, []string{`line 4: paths./orders/{id: path "/orders/{id": segment "{id": '{' is never closed`}},
		{"stray closing brace", h31 + "paths:\n  /orders/id}:\n    get: {}\n", Options{}, []string{`line 4: paths./orders/id}: path "/orders/id}": segment "id}": '}' without '{'`}},
		{"empty parameter", h31 + "paths:\n  /orders/{}:\n    get: {}\n", Options{}, []string{`line 4: paths./orders/{}: path "/orders/{}": segment "{}": empty parameter name "{}"`}},
		{"nested braces", h31 + "paths:\n  /a/{{b}}:\n    get: {}\n", Options{}, []string{`line 4: paths./a/{{b}}: path "/a/{{b}}": segment "{{b}}": '{' inside a parameter name`}},
		{"two parameters in a segment", h31 + "paths:\n  /a/{x}-{y}:\n    get: {}\n", Options{}, []string{`line 4: paths./a/{x}-{y}: path "/a/{x}-{y}": segment "{x}-{y}": more than one parameter in one segment (the gateway matches one parameter per segment)`}},
		{"repeated parameter", h31 + "paths:\n  /a/{x}/b/{x}:\n    get: {}\n", Options{}, []string{`line 4: paths./a/{x}/b/{x}: path "/a/{x}/b/{x}": parameter {x} appears twice`}},
		{"empty segment", h31 + "paths:\n  /a//b:\n    get: {}\n", Options{}, []string{`line 4: paths./a//b: path "/a//b": empty segment ("//"): it can never match a cleaned request path`}},
		{"dot segment", h31 + "paths:\n  /a/../b:\n    get: {}\n", Options{}, []string{`line 4: paths./a/../b: path "/a/../b": dot segment "..": it can never match a cleaned request path`}},
		{"query in path", h31 + "paths:\n  /a?b=c:\n    get: {}\n", Options{}, []string{`line 4: paths./a?b=c: path "/a?b=c": contains '?': a query or fragment is not part of a path`}},
		{"same template", h31 + "paths:\n  /orders/{id}:\n    get: {}\n  /orders/{orderId}:\n    put: {}\n", Options{}, []string{"line 6: paths./orders/{orderId}: same path as paths./orders/{id} once parameter names are ignored: the gateway could not tell them apart"}},
		{"same template with affixes", h31 + "paths:\n  /f/{a}.json:\n    get: {}\n  /f/{b}.json:\n    get: {}\n", Options{}, []string{"line 6: paths./f/{b}.json: same path as paths./f/{a}.json once parameter names are ignored: the gateway could not tell them apart"}},
		{"servers make routes meet", h31 + "servers: [{url: /a}]\npaths:\n  /x:\n    servers: [{url: /a/x}]\n    get: {}\n  /x/x:\n    get: {}\n", Options{}, []string{"line 9: paths./x/x.get: GET /a/x/x is also the route of paths./x.get: with their servers, both match the same requests"}},

		// Path items and operations.
		{"path item not a mapping", h31 + "paths:\n  /a: 5\n", Options{}, []string{"line 4: paths./a: a path item must be an object, got a number"}},
		{"operation not a mapping", h31 + "paths:\n  /a:\n    get: 5\n    put:\n", Options{}, []string{"line 5: paths./a.get: an operation must be an object, got a number", "line 6: paths./a.put: an operation must be an object, got null"}},
		{"operationId not a string", h31 + "paths:\n  /a:\n    get: {operationId: [x]}\n", Options{}, []string{"line 5: paths./a.get.operationId: must be a string, got a list"}},
		{"duplicate operationId", h31 + "paths:\n  /a:\n    get: {operationId: x}\n  /b:\n    post: {operationId: x}\n", Options{}, []string{`line 7: paths./b.post.operationId: duplicate operationId "x" (also at paths./a.get.operationId)`}},
		{"operationId reused through a $ref", h31 + "paths:\n  /a:\n    get: {operationId: x}\n  /b:\n    $ref: '#/paths/~1a'\n", Options{}, []string{`line 5: paths./b.get.operationId: duplicate operationId "x" (also at paths./a.get.operationId)`}},
		{"$ref with siblings", h31 + "paths:\n  /a:\n    $ref: '#/components/pathItems/A'\n    get: {}\n    servers: []\ncomponents:\n  pathItems:\n    A: {get: {}}\n", Options{}, []string{"line 6: paths./a.get: beside a $ref: move it into the path item the $ref points to", "line 7: paths./a.servers: beside a $ref: move it into the path item the $ref points to"}},
		{"query operation", h31 + "paths:\n  /a:\n    query: {}\n", Options{}, []string{"line 5: paths./a.query: not supported: the gateway routes GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS and TRACE operations"}},

		// $refs.
		{"missing local $ref", h31 + "paths:\n  /a:\n    $ref: '#/components/pathItems/Nope'\n", Options{}, []string{`~line 4: paths./a: cannot resolve $ref "#/components/pathItems/Nope"`}},
		{"missing $ref deep in a schema", h31 + "paths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: '#/components/schemas/Nope'}\n", Options{}, []string{`~paths./a.get.responses.200.content.application/json.schema: cannot resolve $ref "#/components/schemas/Nope"`}},
		{"missing default response $ref", h31 + "paths:\n  /a:\n    get:\n      responses:\n        default: {$ref: '#/components/responses/Nope'}\n", Options{}, []string{`~line 7: paths./a.get.responses.default: cannot resolve $ref "#/components/responses/Nope"`}},
		{"missing $ref in a property named example", h31 + "paths:\n  /a:\n    get: {}\ncomponents:\n  schemas:\n    S:\n      properties:\n        example: {$ref: '#/components/schemas/Nope'}\n", Options{}, []string{`~line 10: components.schemas.S.properties.example: cannot resolve $ref "#/components/schemas/Nope"`}},
		{"missing security scheme $ref", h31 + "components:\n  securitySchemes:\n    m: {$ref: '#/components/securitySchemes/Nope'}\nsecurity: [m: []]\npaths:\n  /a:\n    get: {}\n", Options{}, []string{`~components.securitySchemes.m: cannot resolve $ref "#/components/securitySchemes/Nope"`}},
		{"remote $ref", h31 + "paths:\n  /a:\n    $ref: 'https://example.com/a.yaml#/x'\n", Options{}, []string{`line 5: paths./a: remote $ref "https://example.com/a.yaml#/x": only local files are read, never the network`}},
		{"remote $ref in a schema", h31 + "paths:\n  /a:\n    get:\n      responses:\n        '200': {$ref: 'http://127.0.0.1:1/r.yaml'}\n", Options{}, []string{`line 7: paths./a.get.responses.200: remote $ref "http://127.0.0.1:1/r.yaml": only local files are read, never the network`}},
		{"file $ref without a base directory", h31 + "paths:\n  /a:\n    $ref: 'a.yaml#/x'\n", Options{}, []string{`line 5: paths./a: file $ref "a.yaml#/x": no base directory to resolve it against`}},
		{"$ref not a string", h31 + "paths:\n  /a:\n    $ref: 5\n", Options{}, []string{"line 5: paths./a: $ref must be a string, got a number"}},
		{"circular path item $refs", h31 + "paths:\n  /a:\n    $ref: '#/paths/~1b'\n  /b:\n    $ref: '#/paths/~1a'\n", Options{}, []string{"~line 4: paths./a: circular $ref", "~line 6: paths./b: circular $ref"}},
		{"circular schema that can never end", h31 + "paths:\n  /a:\n    get: {}\ncomponents:\n  schemas:\n    A:\n      type: object\n      required: [b]\n      properties:\n        b: {$ref: '#/components/schemas/B'}\n    B:\n      type: object\n      required: [a]\n      properties:\n        a: {$ref: '#/components/schemas/A'}\n", Options{}, []string{"line 8: components.schemas.A: circular $ref that can never end: #/components/schemas/A -> #/components/schemas/B -> #/components/schemas/A"}},
		{"alias bomb", h31 + "x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\nx-b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nx-c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nx-d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nx-e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nx-f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\nx-g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\npaths:\n  /a:\n    get: {x-mtlsgate-allow: *g}\n", Options{}, []string{"~too many YAML aliases (an alias bomb?): refusing to expand them"}},

		// Servers.
		{"undefined server variable", h31 + "servers: [{url: 'https://{region}.example.com/v1'}]\npaths:\n  /a:\n    get: {}\n", Options{}, []string{`line 3: servers[0].url: "https://{region}.example.com/v1": variable {region} is not defined under variables`}},
		{"server variable without default", h31 + "servers:\n  - url: /{v}\n    variables:\n      v: {enum: [a]}\npaths:\n  /a:\n    get: {}\n", Options{}, []string{`line 4: servers[0].url: "/{v}": variable {v} has no default`}},
		{"server url unbalanced", h31 + "servers: [{url: '/{v'}]\npaths:\n  /a:\n    get: {}\n", Options{}, []string{`line 3: servers[0].url: "/{v": '{' is never closed`}},
		{"server url without a path", h31 + "servers: [{url: 'localhost:8080/api'}]\npaths:\n  /a:\n    get: {}\n", Options{}, []string{`line 3: servers[0].url: "localhost:8080/api": "localhost:8080/api" has no path a client could call (write https://host:port/path, //host/path or /path)`}},
		{"server url missing", h31 + "servers: [{description: x}]\npaths:\n  /a:\n    get: {}\n", Options{}, []string{"line 3: servers[0]: url is required"}},
		{"servers not a list", h31 + "paths:\n  /a:\n    servers: {url: /}\n    get: {}\n", Options{}, []string{"line 5: paths./a.servers: must be a list of servers, got an object"}},
		{"swagger basePath relative", h20 + "basePath: api\npaths:\n  /a:\n    get: {}\n", Options{}, []string{`line 3: basePath: "api": must start with /`}},

		// Security.
		{"unknown security scheme", h31 + "paths:\n  /orders/{id}:\n    get:\n      security: [mtls: []]\n", Options{}, []string{`line 6: paths./orders/{id}.get.security[0].mtls: unknown security scheme "mtls" (define it under components.securitySchemes)`}},
		{"unknown document security scheme", h31 + "security: [{m: [], k: []}]\npaths:\n  /a:\n    get: {}\n", Options{}, []string{`line 3: security[0].k: unknown security scheme "k" (define it under components.securitySchemes)`, `line 3: security[0].m: unknown security scheme "m" (define it under components.securitySchemes)`}},
		{"unknown swagger security scheme", h20 + "paths:\n  /a:\n    get: {security: [{x: []}]}\n", Options{}, []string{`line 5: paths./a.get.security[0].x: unknown security scheme "x" (define it under securityDefinitions)`}},
		{"security not a list", h31 + mtlsSchemes + "paths:\n  /a:\n    get: {security: 5}\n    put: {security: [5]}\n    post: {security: [{m: 5}]}\n    patch:\n      security:\n", Options{}, []string{
			"line 9: paths./a.get.security: must be a list of security requirements, got a number",
			"line 10: paths./a.put.security[0]: a security requirement must be an object (scheme names to scopes), got a number",
			"line 11: paths./a.post.security[0].m: must be a list of scopes, got a number",
			"line 13: paths./a.patch.security: must be a list of security requirements, got null",
		}},
		{"security scheme not an object", h31 + "components:\n  securitySchemes:\n    m: 5\npaths:\n  /a:\n    get: {}\n", Options{}, []string{"line 5: components.securitySchemes.m: a security scheme must be an object, got a number"}},
		{"security schemes not an object", h31 + "components:\n  securitySchemes: [m]\npaths:\n  /a:\n    get: {}\n", Options{}, []string{"line 4: components.securitySchemes: must be an object (names to security schemes), got a list"}},
		{"mutual-tls extension not a boolean", h30 + "components:\n  securitySchemes:\n    m: {type: http, scheme: x, x-mtlsgate-mutual-tls: 'yes'}\npaths:\n  /a:\n    get: {}\n", Options{}, []string{"line 5: components.securitySchemes.m.x-mtlsgate-mutual-tls: must be true or false, got a string"}},

		// Allow lists.
		{"allow entries", h31 + "paths:\n  /a:\n    get:\n      x-mtlsgate-allow: [{cn: 5, foo: bar}, {}, 3, {ou: ''}, {o: ~}]\n", Options{}, []string{
			"line 6: paths./a.get.x-mtlsgate-allow[0].cn: must be a string, got a number (quote it)",
			"line 6: paths./a.get.x-mtlsgate-allow[0].foo: unknown key \"foo\": want cn, o, ou, dns, uri, email, ip, spiffe_id, fingerprint_sha256, issuer_cn, serial",
			"line 6: paths./a.get.x-mtlsgate-allow[1]: empty allow entry: it would match every certificate",
			"line 6: paths./a.get.x-mtlsgate-allow[2]: an allow entry must be an object (keys cn, o, ou, dns, uri, email, ip, spiffe_id, fingerprint_sha256, issuer_cn, serial), got a number",
			"line 6: paths./a.get.x-mtlsgate-allow[3].ou: empty: leave the key out instead",
			"line 6: paths./a.get.x-mtlsgate-allow[4].o: must be a string, got null (quote it)",
		}},
		{"allow not a list", h31 + "x-mtlsgate-allow: {cn: a}\npaths:\n  /a:\n    get: {}\n", Options{}, []string{"line 3: x-mtlsgate-allow: must be a list of allow entries (objects with keys cn, o, ou, dns, uri, email, ip, spiffe_id, fingerprint_sha256, issuer_cn, serial), got an object"}},
		{"allow on an optional operation", h31 + mtlsSchemes + "paths:\n  /a:\n    get:\n      security: [m: [], k: []]\n      x-mtlsgate-allow: [{cn: a}]\n", Options{}, []string{"line 11: paths./a.get.x-mtlsgate-allow: set, but the operation's client_cert is optional: requests without a certificate would bypass the allow list (the gateway refuses that); make mutualTLS part of every security alternative"}},
		{"allow on an unsecured operation", h31 + "paths:\n  /a:\n    get: {x-mtlsgate-allow: [{cn: a}]}\n", Options{Unsecured: "none"}, []string{"line 5: paths./a.get.x-mtlsgate-allow: set, but the operation's client_cert is none: requests without a certificate would bypass the allow list (the gateway refuses that); make mutualTLS part of every security alternative"}},
		{"inherited allow on an unsecured operation", h31 + mtlsSchemes + "x-mtlsgate-allow: [{cn: a}]\npaths:\n  /a:\n    x-mtlsgate-allow: [{cn: b}]\n    get: {security: [m: []]}\n    put: {security: []}\n", Options{Unsecured: "optional"}, []string{"line 12: paths./a.put: inherits x-mtlsgate-allow from paths./a.x-mtlsgate-allow, but its client_cert is optional: requests without a certificate would bypass the allow list (the gateway refuses that); make mutualTLS part of every security alternative, or set x-mtlsgate-allow: [] on the operation"}},
		{"document allow on an unsecured operation", h31 + "x-mtlsgate-allow: [{cn: a}]\npaths:\n  /a:\n    get: {}\n", Options{Unsecured: "none"}, []string{"line 6: paths./a.get: inherits x-mtlsgate-allow from the document, but its client_cert is none: requests without a certificate would bypass the allow list (the gateway refuses that); make mutualTLS part of every security alternative, or set x-mtlsgate-allow: [] on the operation"}},

		// Extensions.
		{"misspelt extension", h31 + "x-mtlsgate-alow: []\npaths:\n  /a:\n    get: {x-MTLSGATE-Allow: []}\n", Options{}, []string{
			`line 3: x-mtlsgate-alow: unknown extension "x-mtlsgate-alow": mtlsgate reads x-mtlsgate-allow (document, path items, operations) and x-mtlsgate-mutual-tls (security schemes)`,
			`line 6: paths./a.get.x-MTLSGATE-Allow: unknown extension "x-MTLSGATE-Allow": mtlsgate reads x-mtlsgate-allow (document, path items, operations) and x-mtlsgate-mutual-tls (security schemes)`,
		}},
		{"extension in the wrong place", h31 + "x-mtlsgate-mutual-tls: true\ncomponents:\n  securitySchemes:\n    m: {type: mutualTLS, x-mtlsgate-allow: []}\npaths:\n  x-mtlsgate-allow: []\n  /a:\n    get: {}\n", Options{}, []string{
			"line 3: x-mtlsgate-mutual-tls: not read here: x-mtlsgate-mutual-tls goes on a security scheme",
			"line 6: components.securitySchemes.m.x-mtlsgate-allow: not read here: x-mtlsgate-allow goes on the document, a path item or an operation",
			"line 8: paths.x-mtlsgate-allow: mtlsgate reads x-mtlsgate-allow on the document, path items and operations, not on paths",
		}},

		// Everything at once: problems are collected, not just the first.
		{"many", h31 + "paths:\n  /a:\n    get: {operationId: x, security: [nope: []]}\n  /b:\n    get: {operationId: x}\n  c:\n    get: {}\n", Options{}, []string{
			`line 5: paths./a.get.security[0].nope: unknown security scheme "nope" (define it under components.securitySchemes)`,
			`line 7: paths./b.get.operationId: duplicate operationId "x" (also at paths./a.get.operationId)`,
			`line 8: paths.c: path "c": must start with /`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			matchProblems(t, problemsOf(t, tc.doc, "", tc.o), tc.want)
		})
	}
}

func TestDocumentTooBig(t *testing.T) {
	big := make([]byte, MaxDocumentSize+1)
	_, err := ImportBytes(big, "", Options{Upstream: "u"})
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].Msg, "more than the 16 MiB limit") {
		t.Fatalf("got %v", err)
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxDocumentSize + 1); err != nil { // sparse: cheap
		t.Fatal(err)
	}
	f.Close()
	_, err = Import(path, Options{Upstream: "u"})
	if !errors.As(err, &ps) || len(ps) != 1 || ps[0].File != path || !strings.Contains(ps[0].Msg, "more than the 16 MiB limit") {
		t.Fatalf("got %v", err)
	}
}

func TestImportNotAFile(t *testing.T) {
	if _, err := Import(t.TempDir(), Options{Upstream: "u"}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: got %v", err)
	}
	if _, err := Import(filepath.Join(t.TempDir(), "nope.yaml"), Options{Upstream: "u"}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v", err)
	}

}

func TestExternalFileCount(t *testing.T) {
	dir := t.TempDir()
	var doc strings.Builder
	doc.WriteString(h31 + "paths:\n")
	for i := range maxFiles + 2 {
		name := filepath.Join(dir, "p", strings.Repeat("x", 3)+strconv.Itoa(i)+".yaml")
		write(t, name, "item:\n  get: {}\n")
		doc.WriteString("  /p" + strconv.Itoa(i) + ":\n    $ref: 'p/xxx" + strconv.Itoa(i) + ".yaml#/item'\n")
	}
	got := problemsOf(t, doc.String(), dir, Options{})
	if len(got) != 2 || !strings.Contains(got[0], "more than 256 files referenced") || !strings.Contains(got[1], "more than 256 files referenced") {
		t.Errorf("got %d problems: %v", len(got), got)
	}
}

func TestProblemFormat(t *testing.T) {
	for _, tc := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.yaml", Line: 3, SpecPath: "paths./a", Msg: "m"}, "a.yaml:3: paths./a: m"},
		{Problem{File: "a.yaml", SpecPath: "paths./a", Msg: "m"}, "a.yaml: paths./a: m"},
		{Problem{Line: 3, SpecPath: "paths./a", Msg: "m"}, "line 3: paths./a: m"},
		{Problem{Line: 3, Msg: "m"}, "line 3: m"},
		{Problem{Msg: "m"}, "m"},
	} {
		if got := tc.p.Error(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.p, got, tc.want)
		}
	}
	ps := Problems{{File: "a", Line: 1, Msg: "x"}, {File: "a", Line: 2, Msg: "y"}}
	if got := ps.Error(); got != "a:1: x\na:2: y" {
		t.Errorf("Problems.Error() = %q", got)
	}
}

func TestProblemsBounded(t *testing.T) {
	var doc strings.Builder
	doc.WriteString(h31 + "paths:\n")
	for i := range 300 {
		doc.WriteString("  p" + strconv.Itoa(i) + ":\n    get: {}\n")
	}
	got := problemsOf(t, doc.String(), "", Options{})
	if len(got) != maxProblems+1 || got[maxProblems] != "100 more problems not shown" {
		t.Errorf("got %d problems, last %q", len(got), got[len(got)-1])
	}
}
