package e2e

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// platformConfig exercises the API-platform features: routes imported from
// an OpenAPI 3.1 document at load, a rate-limited route and one route per
// lifecycle state. {{ADMIN}} is the admin address.
const platformConfig = `listeners:
  - name: public
    address: 127.0.0.1:0
    tls:
      cert: gateway.pem
      key: gateway.key
      client_ca: clients-ca.pem
      client_auth: request
admin:
  address: {{ADMIN}}
upstreams:
  - name: orders
    url: {{UPSTREAM}}
    tls:
      cert: gw-client.pem
      key: gw-client.key
      ca: backend-ca.pem
      server_name: orders.internal
routes:
  - name: limited
    match: {path_prefix: /limited/}
    upstream: orders
    rate_limit: {requests: 3, per: 1h, key: identity}
  - name: beta
    match: {path_prefix: /beta/}
    upstream: orders
    state: draft
    preview: [{cn: alice}]
  - name: old
    match: {path_prefix: /old/}
    upstream: orders
    state: deprecated
    deprecation:
      since: "2026-01-01T00:00:00Z"
      sunset: "2027-06-30T00:00:00Z"
      successor: "https://api.example.com/v2/"
  - name: gone
    match: {path_prefix: /gone/}
    upstream: orders
    state: retired
routes_from:
  - {openapi: orders-openapi.yaml, upstream: orders, unsecured: none}
`

const ordersOpenAPI = `openapi: 3.1.0
info: {title: Orders, version: "1"}
servers:
  - url: https://api.example.com/v1
components:
  securitySchemes:
    mtls: {type: mutualTLS}
security:
  - mtls: []
paths:
  /orders/{id}:
    get:
      operationId: getOrder
      x-mtlsgate-allow: [{cn: alice}]
      responses: {"200": {description: ok}}
    delete:
      operationId: deleteOrder
      x-mtlsgate-allow: [{cn: admin}]
      responses: {"204": {description: deleted}}
  /status:
    get:
      operationId: status
      security: []
      responses: {"200": {description: ok}}
`

func TestOpenAPIImportedRoutes(t *testing.T) {
	t.Parallel()
	e := newPlatformEnv(t)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice"})
	bob := e.p.client(t, "bob", testpki.Options{CN: "bob"})

	// mutualTLS in the document: no certificate → 401, the listed
	// identity → the upstream, another → 403.
	expectProblem(t, "no cert", e.curl(nil, "/v1/orders/17"), 401, "client_cert_required")
	r := e.curl(&alice, "/v1/orders/17")
	expect(t, "alice", r, 200)
	if got := e.up.Last().Path; got != "/v1/orders/17" {
		t.Errorf("upstream saw %q", got)
	}
	expectProblem(t, "bob", e.curl(&bob, "/v1/orders/17"), 403, "not_allowed")
	// One segment per parameter.
	expectProblem(t, "two segments", e.curl(&alice, "/v1/orders/17/items"), 404, "no_route")
	// A known path with a method the document does not list: 405 + Allow.
	r = e.curl(&alice, "/v1/orders/17", "-X", "PUT")
	expectProblem(t, "PUT", r, 405, "method_not_allowed")
	if allow := r.header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "DELETE") {
		t.Errorf("Allow = %q, want GET and DELETE", allow)
	}
	// security: [] with unsecured: none → no certificate needed.
	expect(t, "status without cert", e.curl(nil, "/v1/status"), 200)
}

func TestRateLimitPerIdentity(t *testing.T) {
	t.Parallel()
	e := newPlatformEnv(t)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice"})
	bob := e.p.client(t, "bob", testpki.Options{CN: "bob"})
	for i := range 3 {
		r := e.curl(&alice, "/limited/x")
		expect(t, "alice within the limit", r, 200)
		if got := r.header.Get("RateLimit"); !strings.Contains(got, "r="+strconv.Itoa(2-i)) {
			t.Errorf("request %d: RateLimit %q, want r=%d", i+1, got, 2-i)
		}
		if r.header.Get("RateLimit-Policy") == "" {
			t.Errorf("no RateLimit-Policy header")
		}
	}
	r := e.curl(&alice, "/limited/x")
	expectProblem(t, "alice over the limit", r, 429, "rate_limited")
	ra, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > 3600 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	// Another identity has its own bucket.
	expect(t, "bob", e.curl(&bob, "/limited/x"), 200)
	// A reload that leaves the limit alone keeps the buckets.
	e.g.Signal(syscall.SIGHUP)
	e.g.waitLog(10*time.Second, "reload", func(m map[string]any) bool { return m["msg"] == "configuration reloaded" })
	expectProblem(t, "alice after reload", e.curl(&alice, "/limited/x"), 429, "rate_limited")
	// Limited requests are counted per route.
	m := runCurl(t, "http://"+e.admin+"/metrics")
	if !strings.Contains(m.body, `mtlsgate_rate_limited_requests_total{route="limited"} 2`) ||
		!strings.Contains(m.body, `mtlsgate_rate_limit_keys{route="limited"} 2`) {
		t.Errorf("metrics lack the limited request:\n%s", grepLines(m.body, "rate_limit"))
	}
}

func TestRouteLifecycle(t *testing.T) {
	t.Parallel()
	e := newPlatformEnv(t)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice"})
	bob := e.p.client(t, "bob", testpki.Options{CN: "bob"})

	// Draft: only the preview list sees it; for everyone else it does
	// not exist.
	expect(t, "alice previews", e.curl(&alice, "/beta/x"), 200)
	expectProblem(t, "bob", e.curl(&bob, "/beta/x"), 404, "no_route")
	expectProblem(t, "anonymous", e.curl(nil, "/beta/x"), 404, "no_route")

	// Deprecated: still answers, with the headers.
	r := e.curl(&bob, "/old/x")
	expect(t, "deprecated", r, 200)
	if got := r.header.Get("Deprecation"); got != "@1767225600" {
		t.Errorf("Deprecation = %q", got)
	}
	if got := r.header.Get("Sunset"); got != "Wed, 30 Jun 2027 00:00:00 GMT" {
		t.Errorf("Sunset = %q", got)
	}
	if got := r.header.Get("Link"); got != `<https://api.example.com/v2/>; rel="successor-version"` {
		t.Errorf("Link = %q", got)
	}
	// Retired: 410.
	expectProblem(t, "retired", e.curl(&alice, "/gone/x"), 410, "route_retired")

	// Who still calls the deprecated route: the admin statistics.
	expect(t, "alice on old", e.curl(&alice, "/old/y"), 200)
	s := runCurl(t, "http://"+e.admin+"/api/stats?window=1h&route=old")
	expect(t, "stats", s, 200)
	var rep struct {
		Routes []struct {
			Route      string
			Requests   int
			Identities []struct {
				Identity string
				Requests int
			}
		}
	}
	if err := json.Unmarshal([]byte(s.body), &rep); err != nil {
		t.Fatalf("stats: %v: %s", err, s.body)
	}
	if len(rep.Routes) != 1 || rep.Routes[0].Route != "old" || rep.Routes[0].Requests != 2 || len(rep.Routes[0].Identities) != 2 {
		t.Fatalf("stats for old: %s", s.body)
	}
	for _, id := range rep.Routes[0].Identities {
		if (id.Identity != "CN=alice" && id.Identity != "CN=bob") || id.Requests != 1 {
			t.Errorf("identity %+v", id)
		}
	}
	expect(t, "bad window", runCurl(t, "http://"+e.admin+"/api/stats?window=forever"), 400)
}

// TestOpenAPIReloadKeepsRoutes: a broken document on reload is refused
// with the place in the spec, and the old routes keep serving.
func TestOpenAPIReloadKeepsRoutes(t *testing.T) {
	t.Parallel()
	e := newPlatformEnv(t)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice"})
	bad := strings.Replace(ordersOpenAPI, "- mtls: []", "- nosuch: []", 1)
	if err := os.WriteFile(e.p.path("orders-openapi.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	e.g.waitLog(10*time.Second, "reload failure", func(m map[string]any) bool {
		return strings.Contains(strings.ToLower(m["msg"].(string)), "reload") && strings.Contains(jsonString(m), "nosuch")
	})
	expect(t, "old routes", e.curl(&alice, "/v1/orders/1"), 200)
}

type platformEnv struct {
	*env
	admin string
}

func newPlatformEnv(t *testing.T) platformEnv {
	t.Helper()
	p := newPKI(t)
	up := newUpstream(t, p, p.gwClientCA)
	if err := os.WriteFile(p.path("orders-openapi.yaml"), []byte(ordersOpenAPI), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freePort(t)
	g := startGateway(t, p.dir, fill(platformConfig, map[string]string{"UPSTREAM": up.URL(), "ADMIN": admin}))
	return platformEnv{env: &env{t: t, p: p, up: up, g: g}, admin: admin}
}

func jsonString(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestImportOpenAPICommand: the CLI prints the routes serve would import,
// and validate names the place in the document of a mistake.
func TestImportOpenAPICommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := dir + "/orders.yaml"
	if err := os.WriteFile(spec, []byte(ordersOpenAPI), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runBinary(t, 30*time.Second, "import", "openapi", spec, "--upstream", "orders", "--unsecured", "none")
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"name: getOrder", "path: /v1/orders/{id}", "- GET", "client_cert: required", "cn: alice", "name: status", "client_cert: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	_, again, _ := runBinary(t, 30*time.Second, "import", "openapi", spec, "--upstream", "orders", "--unsecured", "none")
	if again != out {
		t.Errorf("import output is not stable")
	}
	// The output is a valid routes section: --out then validate a config
	// that includes it.
	code, _, errOut = runBinary(t, 30*time.Second, "import", "openapi", spec, "--upstream", "orders", "--out", dir+"/routes.yaml")
	if code != 0 {
		t.Fatalf("import --out: exit %d: %s", code, errOut)
	}
	if b, err := os.ReadFile(dir + "/routes.yaml"); err != nil || !strings.Contains(string(b), "routes:") {
		t.Fatalf("routes.yaml: %v %q", err, b)
	}

	bad := strings.Replace(ordersOpenAPI, "x-mtlsgate-allow: [{cn: admin}]", "x-mtlsgate-allow: [{cn: admin}]\n      security: [{nosuch: []}]", 1)
	if err := os.WriteFile(spec, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runBinary(t, 30*time.Second, "import", "openapi", spec, "--upstream", "orders")
	if code == 0 || !strings.Contains(errOut, "paths./orders/{id}.delete.security[0].nosuch") {
		t.Errorf("bad document: exit %d, stderr %s", code, errOut)
	}
}
