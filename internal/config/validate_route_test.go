package config

import (
	"strings"
	"testing"
)

// routeYAML is goodYAML with its route replaced by extra.
func routeYAML(extra string) string {
	i := strings.Index(goodYAML, "routes:\n")
	return goodYAML[:i] + "routes:\n" + extra
}

func TestRouteLifecycleAndLimitsValid(t *testing.T) {
	cfg, _, err := Parse("good.yaml", []byte(routeYAML(`  - name: orders-by-id
    match: {path: "/v1/orders/{id}", methods: [GET]}
    upstream: orders
    rate_limit: {requests: 100, per: 1m, burst: 20}
    state: deprecated
    deprecation: {since: "2026-01-01T00:00:00Z", sunset: "2027-01-01T00:00:00Z", successor: "https://api.example.com/v2/orders"}
  - name: beta
    match: {path_prefix: /beta/}
    upstream: orders
    state: draft
    preview: [{cn: alice}]
routes_from:
  - {openapi: spec.yaml, upstream: orders, unsecured: optional, rate_limit: {requests: 5, per: 1s, key: fingerprint}}
`)))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(cfg); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	r := cfg.Routes[0]
	if r.Match.PathPrefix != "" || r.RateLimit.Key != RateKeyIdentity || cfg.Routes[1].State != StateDraft {
		t.Errorf("defaults: path_prefix=%q key=%q", r.Match.PathPrefix, r.RateLimit.Key)
	}
	if cfg.RoutesFrom[0].Forward.Format != "rfc9440" {
		t.Errorf("routes_from forward default: %q", cfg.RoutesFrom[0].Forward.Format)
	}
}

func TestRouteLifecycleAndLimitsInvalid(t *testing.T) {
	cases := []struct{ route, want string }{
		{`{name: a, upstream: orders, match: {path: /a, path_prefix: /a}}`, "routes[0].match: path and path_prefix are both set"},
		{`{name: a, upstream: orders, match: {path: "/a/{id"}}`, "routes[0].match.path:"},
		{`{name: a, upstream: orders, rate_limit: {requests: 0, per: 1m}}`, "routes[0].rate_limit.requests"},
		{`{name: a, upstream: orders, rate_limit: {requests: 1, per: 48h}}`, "routes[0].rate_limit.per"},
		{`{name: a, upstream: orders, rate_limit: {requests: 1, per: 1s, burst: -1}}`, "routes[0].rate_limit.burst"},
		{`{name: a, upstream: orders, rate_limit: {requests: 1, per: 1s, key: header}}`, `routes[0].rate_limit.key: "header"`},
		{`{name: a, upstream: orders, state: beta}`, `routes[0].state: "beta"`},
		{`{name: a, upstream: orders, state: draft}`, "routes[0].preview: required for a draft route"},
		{`{name: a, upstream: orders, preview: [{cn: x}]}`, "routes[0].preview: set, but state is published"},
		{`{name: a, upstream: orders, state: deprecated}`, "routes[0].deprecation.since: required"},
		{`{name: a, upstream: orders, deprecation: {since: "2026-01-01T00:00:00Z"}}`, "routes[0].deprecation: set, but state is published"},
		{`{name: a, upstream: orders, state: deprecated, deprecation: {since: yesterday}}`, "routes[0].deprecation.since: \"yesterday\""},
		{`{name: a, upstream: orders, state: deprecated, deprecation: {since: "2026-01-01T00:00:00Z", successor: "/v2"}}`, "routes[0].deprecation.successor"},
		{`{name: a, upstream: orders, state: deprecated, deprecation: {since: "2026-01-01T00:00:00Z", info: "https://x/a b"}}`, "routes[0].deprecation.info"},
	}
	for _, c := range cases {
		cfg, _, err := Parse("bad.yaml", []byte(routeYAML("  - "+c.route+"\n")))
		if err != nil {
			t.Fatalf("%s: %v", c.route, err)
		}
		err = Validate(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %q", c.route, err, c.want)
		}
	}
}

func TestRoutesFromInvalid(t *testing.T) {
	cases := []struct{ rf, want string }{
		{`{upstream: orders}`, "routes_from[0].openapi: required"},
		{`{openapi: a.yaml, upstream: nope}`, `routes_from[0].upstream: unknown upstream "nope"`},
		{`{openapi: a.yaml, upstream: orders, unsecured: maybe}`, `routes_from[0].unsecured: "maybe"`},
		{`{openapi: a.yaml, upstream: orders, host: "a:1"}`, `routes_from[0].host`},
		{`{openapi: a.yaml, upstream: orders, rate_limit: {requests: 1}}`, `routes_from[0].rate_limit.per`},
		{`{openapi: a.yaml, upstream: orders, name_prefix: "bill ing/"}`, `routes_from[0].name_prefix: "bill ing/"`},
		{`{openapi: a.yaml, upstream: orders, name_prefix: "` + strings.Repeat("p", 65) + `"}`, `routes_from[0].name_prefix: 65 characters: at most 64`},
	}
	for _, c := range cases {
		cfg, _, err := Parse("bad.yaml", []byte(goodYAML+"routes_from:\n  - "+c.rf+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.rf, err)
		}
		err = Validate(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %q", c.rf, err, c.want)
		}
	}
}

func TestShadowedTemplates(t *testing.T) {
	cfg, _, err := Parse("bad.yaml", []byte(routeYAML(`  - {name: a, upstream: orders, match: {path: "/o/{id}", methods: [GET, PUT]}}
  - {name: b, upstream: orders, match: {path: "/o/{orderId}", methods: [GET]}}
  - {name: c, upstream: orders, match: {path_prefix: "/p/"}}
  - {name: d, upstream: orders, match: {path_prefix: "/p/", methods: [GET]}}
`)))
	if err != nil {
		t.Fatal(err)
	}
	err = Validate(cfg)
	if err == nil || !strings.Contains(err.Error(), "routes[1].match: can never match: routes[0] (a)") {
		t.Errorf("got %v", err)
	}
	// A method-restricted route is tried before an open one, in any order.
	if strings.Contains(err.Error(), "routes[3]") {
		t.Errorf("routes[3] reported: %v", err)
	}
}
