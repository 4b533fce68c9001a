package openapi

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/config"
)

const (
	h31 = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"
	h30 = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
	h20 = "swagger: '2.0'\ninfo: {title: t, version: '1'}\n"

	// mtlsSchemes defines m (mutual TLS) and k (API key).
	mtlsSchemes = "components:\n  securitySchemes:\n    m: {type: mutualTLS}\n    k: {type: apiKey, in: header, name: X-Key}\n"
)

// rt is the part of a route the mapping tests look at.
type rt struct {
	name, method, path, cc string
	allow                  []config.AllowRule
}

func (r rt) String() string {
	return fmt.Sprintf("{%s %s %s cc=%q allow=%v}", r.name, r.method, r.path, r.cc, r.allow)
}

func summarize(t *testing.T, routes []config.Route, o Options) []rt {
	t.Helper()
	var out []rt
	for _, r := range routes {
		if len(r.Match.Methods) != 1 {
			t.Fatalf("route %s: methods %v, want one", r.Name, r.Match.Methods)
		}
		if r.Upstream != o.Upstream || r.Match.Host != o.Host || r.Match.PathPrefix != "" {
			t.Fatalf("route %s: upstream %q host %q path_prefix %q", r.Name, r.Upstream, r.Match.Host, r.Match.PathPrefix)
		}
		out = append(out, rt{r.Name, r.Match.Methods[0], r.Match.Path, r.ClientCert, r.Allow})
	}
	return out
}

func importString(t *testing.T, doc string, o Options) []config.Route {
	t.Helper()
	if o.Upstream == "" {
		o.Upstream = "up"
	}
	routes, err := ImportBytes([]byte(doc), "", o)
	if err != nil {
		t.Fatalf("ImportBytes: %v\n%s", err, doc)
	}
	out, err := MarshalRoutes(routes, "test")
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, routes, out)
	return routes
}

func TestMapping(t *testing.T) {
	cn := func(s string) []config.AllowRule { return []config.AllowRule{{CN: s}} }
	for _, tc := range []struct {
		name string
		doc  string
		o    Options
		want []rt
	}{
		// Paths and base paths.
		{"no servers", h31 + "paths:\n  /a/{id}:\n    get: {}\n", Options{}, []rt{{"get-a-id", "GET", "/a/{id}", "", nil}}},
		{"absolute server url", h31 + "servers: [{url: 'https://x.example.com/api/v1/'}]\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/api/v1/a", "", nil}}},
		{"relative server url", h31 + "servers: [{url: api/v1}]\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/api/v1/a", "", nil}}},
		{"dot relative server url", h31 + "servers: [{url: ./api/../v2}]\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/v2/a", "", nil}}},
		{"scheme-relative server url", h31 + "servers: [{url: '//x.example.com/api'}]\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/api/a", "", nil}}},
		{"root server url", h31 + "servers: [{url: /}, {url: 'https://x.example.com'}]\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/a", "", nil}}},
		{"empty servers list", h31 + "servers: []\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/a", "", nil}}},
		{"server variables take their defaults", h31 + "servers:\n  - url: 'https://{host}/{base}/{v}'\n    variables:\n      host: {default: x.example.com}\n      base: {default: /api}\n      v: {default: v3, enum: [v2, v3]}\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/api/v3/a", "", nil}}},
		{"several servers, same base path once", h31 + "servers: [{url: 'https://a.example.com/v1'}, {url: 'https://b.example.com/v1/'}]\npaths:\n  /a:\n    get: {operationId: getA}\n", Options{}, []rt{{"getA", "GET", "/v1/a", "", nil}}},
		{"several base paths: a route each", h31 + "servers: [{url: /v2}, {url: /v1}]\npaths:\n  /a:\n    get: {operationId: getA}\n    post: {}\n", Options{}, []rt{
			{"getA-v1", "GET", "/v1/a", "", nil},
			{"post-a-v1", "POST", "/v1/a", "", nil},
			{"getA-v2", "GET", "/v2/a", "", nil},
			{"post-a-v2", "POST", "/v2/a", "", nil},
		}},
		{"path item servers override", h31 + "servers: [{url: /v1}]\npaths:\n  /a:\n    servers: [{url: /other}]\n    get: {}\n  /b:\n    get: {}\n", Options{}, []rt{
			{"get-a", "GET", "/other/a", "", nil},
			{"get-b", "GET", "/v1/b", "", nil},
		}},
		{"operation servers override", h31 + "servers: [{url: /v1}]\npaths:\n  /a:\n    servers: [{url: /p}]\n    get:\n      servers: [{url: /o}]\n    put: {}\n", Options{}, []rt{
			{"get-a", "GET", "/o/a", "", nil},
			{"put-a", "PUT", "/p/a", "", nil},
		}},
		{"empty operation servers inherit", h31 + "servers: [{url: /v1}]\npaths:\n  /a:\n    get:\n      servers: []\n", Options{}, []rt{{"get-a", "GET", "/v1/a", "", nil}}},
		{"root path under a base keeps its slash", h31 + "servers: [{url: /api}]\npaths:\n  /:\n    get: {}\n", Options{}, []rt{{"get-root", "GET", "/api/", "", nil}}},
		{"affix template", h31 + "paths:\n  /files/{name}.json:\n    get: {}\n", Options{}, []rt{{"get-files-name-.json", "GET", "/files/{name}.json", "", nil}}},
		{"swagger basePath", h20 + "basePath: /api/v1/\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/api/v1/a", "", nil}}},
		{"swagger basePath /", h20 + "basePath: /\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/a", "", nil}}},
		{"swagger ignores host", h20 + "host: x.example.com:8443\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/a", "", nil}}},

		// Methods, order, host and upstream.
		{"method order", h31 + "paths:\n  /b:\n    trace: {}\n    options: {}\n    delete: {}\n    patch: {}\n    put: {}\n    post: {}\n    head: {}\n    get: {}\n  /a:\n    get: {}\n", Options{Host: "api.example.com", Upstream: "orders"}, []rt{
			{"get-a", "GET", "/a", "", nil},
			{"get-b", "GET", "/b", "", nil},
			{"head-b", "HEAD", "/b", "", nil},
			{"post-b", "POST", "/b", "", nil},
			{"put-b", "PUT", "/b", "", nil},
			{"patch-b", "PATCH", "/b", "", nil},
			{"delete-b", "DELETE", "/b", "", nil},
			{"options-b", "OPTIONS", "/b", "", nil},
			{"trace-b", "TRACE", "/b", "", nil},
		}},
		{"non-operation keys ignored", h31 + "paths:\n  /a:\n    summary: s\n    description: d\n    parameters: []\n    x-other: 1\n    get: {}\n  x-paths-extension: {}\n", Options{}, []rt{{"get-a", "GET", "/a", "", nil}}},
		{"path item and security scheme $refs", h31 + "paths:\n  /a:\n    $ref: '#/components/pathItems/A'\n  /b:\n    $ref: '#/paths/~1a'\ncomponents:\n  pathItems:\n    A:\n      get: {security: [s: []]}\n  securitySchemes:\n    s: {$ref: '#/components/securitySchemes/m'}\n    m: {type: mutualTLS}\n", Options{}, []rt{
			{"get-a", "GET", "/a", "required", nil},
			{"get-b", "GET", "/b", "required", nil},
		}},
		{"$ref keys inside literal values are values", h31 + "paths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: x\n          content:\n            application/json:\n              example: {$ref: 'https://json-schema.org/x'}\n              schema: {type: object, example: {$ref: '#/nope'}, default: {$ref: '#/nope'}, const: {$ref: '#/nope'}, enum: [{$ref: '#/nope'}], examples: [{$ref: '#/nope'}]}\n              examples: {e: {value: {$ref: '#/nope'}}}\n", Options{}, []rt{{"get-a", "GET", "/a", "", nil}}},
		{"yaml anchors and merge keys", h31 + mtlsSchemes + "x-common: &common\n  security: [m: []]\n  x-mtlsgate-allow: [{cn: a}]\npaths:\n  /a:\n    get:\n      <<: *common\n    put: *common\n", Options{}, []rt{
			{"get-a", "GET", "/a", "required", cn("a")},
			{"put-a", "PUT", "/a", "required", cn("a")},
		}},

		// Names.
		{"operationId kept", h31 + "paths:\n  /a:\n    get: {operationId: List_Things.v2-beta}\n", Options{}, []rt{{"List_Things.v2-beta", "GET", "/a", "", nil}}},
		{"operationId made safe", h31 + "paths:\n  /a:\n    get: {operationId: 'list things/all é'}\n", Options{}, []rt{{"list-things-all--", "GET", "/a", "", nil}}},
		{"safe operationIds that meet get a number", h31 + "paths:\n  /a:\n    get: {operationId: 'a b'}\n  /b:\n    get: {operationId: 'a-b'}\n", Options{}, []rt{
			{"a-b", "GET", "/a", "", nil},
			{"a-b-2", "GET", "/b", "", nil},
		}},
		{"generated names yield to operationIds", h31 + "paths:\n  /a:\n    get: {}\n  /b:\n    get: {operationId: get-a}\n", Options{}, []rt{
			{"get-a-2", "GET", "/a", "", nil},
			{"get-a", "GET", "/b", "", nil},
		}},
		{"generated names that meet", h31 + "paths:\n  /a-b:\n    get: {}\n  /a/b:\n    get: {}\n  /a/{b}:\n    get: {}\n", Options{}, []rt{
			{"get-a-b", "GET", "/a-b", "", nil},
			{"get-a-b-2", "GET", "/a/b", "", nil},
			{"get-a-b-3", "GET", "/a/{b}", "", nil},
		}},
		{"long operationId cut to 128", h31 + "paths:\n  /a:\n    get: {operationId: " + strings.Repeat("x", 200) + "}\n  /b:\n    get: {operationId: " + strings.Repeat("x", 201) + "}\n", Options{}, []rt{
			{strings.Repeat("x", 128), "GET", "/a", "", nil},
			{strings.Repeat("x", 126) + "-2", "GET", "/b", "", nil},
		}},

		// Security.
		{"document security applies", h31 + mtlsSchemes + "security: [m: []]\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/a", "required", nil}}},
		{"operation security overrides", h31 + mtlsSchemes + "security: [m: []]\npaths:\n  /a:\n    get: {security: [k: []]}\n", Options{Unsecured: "none"}, []rt{{"get-a", "GET", "/a", "none", nil}}},
		{"empty operation security: no security", h31 + mtlsSchemes + "security: [m: []]\npaths:\n  /a:\n    get: {security: []}\n", Options{Unsecured: "optional"}, []rt{{"get-a", "GET", "/a", "optional", nil}}},
		{"no security at all: unsecured left empty", h31 + mtlsSchemes + "paths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/a", "", nil}}},
		{"unsecured required", h31 + mtlsSchemes + "paths:\n  /a:\n    get: {security: [k: []]}\n", Options{Unsecured: "required"}, []rt{{"get-a", "GET", "/a", "required", nil}}},
		{"mtls AND api key: required", h31 + mtlsSchemes + "paths:\n  /a:\n    get: {security: [{m: [], k: []}]}\n", Options{Unsecured: "none"}, []rt{{"get-a", "GET", "/a", "required", nil}}},
		{"mtls OR api key: optional", h31 + mtlsSchemes + "paths:\n  /a:\n    get: {security: [m: [], k: []]}\n", Options{Unsecured: "none"}, []rt{{"get-a", "GET", "/a", "optional", nil}}},
		{"mtls OR anonymous: optional", h31 + mtlsSchemes + "paths:\n  /a:\n    get: {security: [m: [], {}]}\n", Options{Unsecured: "none"}, []rt{{"get-a", "GET", "/a", "optional", nil}}},
		{"only anonymous: unsecured", h31 + mtlsSchemes + "paths:\n  /a:\n    get: {security: [{}]}\n", Options{Unsecured: "none"}, []rt{{"get-a", "GET", "/a", "none", nil}}},
		{"mtls in every alternative: required", h31 + mtlsSchemes + "paths:\n  /a:\n    get: {security: [m: [], {m: [], k: []}]}\n", Options{Unsecured: "none"}, []rt{{"get-a", "GET", "/a", "required", nil}}},
		{"3.0 extension", h30 + "components:\n  securitySchemes:\n    c: {type: http, scheme: mutual, x-mtlsgate-mutual-tls: true}\n    d: {type: http, scheme: basic, x-mtlsgate-mutual-tls: false}\npaths:\n  /a:\n    get: {security: [c: []]}\n    put: {security: [d: []]}\n", Options{Unsecured: "none"}, []rt{
			{"get-a", "GET", "/a", "required", nil},
			{"put-a", "PUT", "/a", "none", nil},
		}},
		{"3.0 with type mutualTLS", h30 + "components:\n  securitySchemes:\n    c: {type: mutualTLS}\npaths:\n  /a:\n    get: {security: [c: []]}\n", Options{}, []rt{{"get-a", "GET", "/a", "required", nil}}},
		{"3.1 extension also works", h31 + "components:\n  securitySchemes:\n    c: {type: http, scheme: mutual, x-mtlsgate-mutual-tls: true}\npaths:\n  /a:\n    get: {security: [c: []]}\n", Options{}, []rt{{"get-a", "GET", "/a", "required", nil}}},
		{"2.0 extension", h20 + "securityDefinitions:\n  c: {type: basic, x-mtlsgate-mutual-tls: true}\n  k: {type: apiKey, in: header, name: k}\nsecurity: [c: []]\npaths:\n  /a:\n    get: {}\n    put: {security: [c: [], k: []]}\n    post: {security: []}\n", Options{Unsecured: "none"}, []rt{
			{"get-a", "GET", "/a", "required", nil},
			{"post-a", "POST", "/a", "none", nil},
			{"put-a", "PUT", "/a", "optional", nil},
		}},

		// Allow lists.
		{"operation allow", h31 + mtlsSchemes + "security: [m: []]\npaths:\n  /a:\n    get:\n      x-mtlsgate-allow: [{cn: a, o: Org, ou: Unit, dns: d.example.com, uri: 'spiffe://x/y', email: e@example.com, ip: 10.0.0.1, spiffe_id: 'spiffe://x/*', fingerprint_sha256: ab12, issuer_cn: CA, serial: '0123'}, {cn: b}]\n", Options{}, []rt{
			{"get-a", "GET", "/a", "required", []config.AllowRule{{CN: "a", O: "Org", OU: "Unit", DNS: "d.example.com", URI: "spiffe://x/y", Email: "e@example.com", IP: "10.0.0.1", SPIFFEID: "spiffe://x/*", FingerprintSHA256: "ab12", IssuerCN: "CA", Serial: "0123"}, {CN: "b"}}},
		}},
		{"allow: operation over path item over document", h31 + mtlsSchemes + "security: [m: []]\nx-mtlsgate-allow: [{cn: doc}]\npaths:\n  /a:\n    x-mtlsgate-allow: [{cn: path}]\n    get: {x-mtlsgate-allow: [{cn: op}]}\n    put: {}\n  /b:\n    get: {}\n    put: {x-mtlsgate-allow: []}\n", Options{}, []rt{
			{"get-a", "GET", "/a", "required", cn("op")},
			{"put-a", "PUT", "/a", "required", cn("path")},
			{"get-b", "GET", "/b", "required", cn("doc")},
			{"put-b", "PUT", "/b", "required", nil},
		}},
		{"allow with the gateway default (required)", h31 + "x-mtlsgate-allow: [{cn: doc}]\npaths:\n  /a:\n    get: {}\n", Options{}, []rt{{"get-a", "GET", "/a", "", cn("doc")}}},
		{"allow with unsecured required", h31 + mtlsSchemes + "paths:\n  /a:\n    get: {security: [k: []], x-mtlsgate-allow: [{cn: a}]}\n", Options{Unsecured: "required"}, []rt{{"get-a", "GET", "/a", "required", cn("a")}}},
		{"opting out of an inherited allow", h31 + mtlsSchemes + "x-mtlsgate-allow: [{cn: doc}]\npaths:\n  /a:\n    get: {security: [], x-mtlsgate-allow: []}\n", Options{Unsecured: "none"}, []rt{{"get-a", "GET", "/a", "none", nil}}},
		{"allow values in JSON", `{"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"x-mtlsgate-allow": [{"cn": "a\u00e9"}]}}}}`, Options{}, []rt{{"get-a", "GET", "/a", "", cn("aé")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.o.Upstream == "" {
				tc.o.Upstream = "up"
			}
			got := summarize(t, importString(t, tc.doc, tc.o), tc.o)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func TestRouteOrigin(t *testing.T) {
	routes := importString(t, h31+"paths:\n  /a/{id}:\n    get: {}\n", Options{})
	if got := routes[0].Origin; got != "paths./a/{id}.get" {
		t.Errorf("Origin = %q", got)
	}
}

func TestOptions(t *testing.T) {
	doc := []byte(h31 + "paths:\n  /a:\n    get: {}\n")
	for _, o := range []Options{{}, {Upstream: "u", Unsecured: "sometimes"}} {
		_, err := ImportBytes(doc, "", o)
		var ps Problems
		if err == nil || errors.As(err, &ps) {
			t.Errorf("%+v: want a plain error, got %v", o, err)
		}
		if _, err := Import("testdata/orders-3.1.yaml", o); err == nil {
			t.Errorf("Import %+v: want an error", o)
		}
	}
}
