package openapi

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/config"
)

func TestMarshalRoutesEveryField(t *testing.T) {
	routes := []config.Route{
		{
			Name: "everything",
			Match: config.Match{
				Host:       "*.example.com",
				PathPrefix: "/p/",
				Methods:    []string{"GET", "HEAD"},
			},
			Upstream:   "up",
			ClientCert: "required",
			Allow: []config.AllowRule{
				{CN: "a", O: "O", OU: "OU", DNS: "*.d", URI: "spiffe://x/y", Email: "e@x", IP: "10.0.0.0/8", SPIFFEID: "spiffe://x/*", FingerprintSHA256: "AB:CD", IssuerCN: "CA", Serial: "0123"},
			},
			Forward:    config.Forward{Format: "xfcc"},
			Revocation: &config.RouteRevocation{OnUnavailable: "fail_closed"},
			RateLimit:  &config.RateLimit{Requests: 10, Per: config.Duration(90 * time.Second), Burst: 20, Key: "ip"},
			State:      "deprecated",
			Preview:    []config.AllowRule{{CN: "tester"}},
			Deprecation: &config.Deprecation{
				Since: "2025-01-01T00:00:00Z", Sunset: "2026-01-01T00:00:00Z",
				Successor: "https://x/v2", Info: "https://x/info",
			},
		},
		// Values YAML would read as something else unless quoted.
		{Name: "tricky", Match: config.Match{Path: "/{id}", Methods: []string{"GET"}}, Upstream: "yes",
			ClientCert: "null", Allow: []config.AllowRule{
				{CN: "true"}, {CN: "123"}, {CN: "1e3"}, {CN: "~"}, {CN: "*"}, {CN: "&a"}, {CN: "!x"}, {CN: "a: b"},
				{CN: "#c"}, {CN: " lead"}, {CN: "trail "}, {CN: "é ü"}, {CN: "line\nbreak"}, {CN: "'q\""}, {CN: "- x"},
				{CN: "[x]"}, {CN: "{x}"}, {CN: "%x"}, {CN: "@x"}, {CN: "`x"}, {CN: "0x1F"}, {CN: "0o17"}, {CN: ".inf"}, {CN: "NaN"},
				{CN: "2025-01-01"}, {CN: "on"}, {CN: "No"}, {CN: "<<"}, {CN: "a\tb"}, {CN: "\x00"}, {CN: "\\"},
			}},
		// A pointer to an empty struct stays a pointer.
		{Name: "empty-pointer", RateLimit: &config.RateLimit{}, Revocation: &config.RouteRevocation{}},
		{}, // an empty route still round-trips
	}
	out, err := MarshalRoutes(routes, "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, routes, out)
	again, _ := MarshalRoutes(routes, "x.yaml")
	if !bytes.Equal(out, again) {
		t.Error("not deterministic")
	}
	for _, want := range []string{"rate_limit:\n      requests: 10\n      per: \"1m30s\"", "path_prefix: /p/", "fingerprint_sha256:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"origin", "Origin", ": \"\"", "path:\n"} {
		if strings.Contains(string(out), unwanted) {
			t.Errorf("output has %q:\n%s", unwanted, out)
		}
	}
}

func TestMarshalRoutesHeader(t *testing.T) {
	for _, tc := range []struct {
		routes []config.Route
		source string
		want   string
	}{
		{nil, "a.yaml", "# Routes imported from a.yaml (0 routes) by mtlsgate import openapi.\n# Change the API description and import again rather than editing these.\nroutes: []\n"},
		{[]config.Route{{Name: "r", Upstream: "u"}}, "", "# Routes imported from an API description for upstream u (1 route) by mtlsgate import openapi.\n"},
		{[]config.Route{{Name: "r", Upstream: "b"}, {Name: "s", Upstream: "a"}, {Name: "t", Upstream: "b"}}, "evil\n- name: injected", "# Routes imported from evil - name: injected for upstreams a, b (3 routes) by mtlsgate import openapi.\n"},
	} {
		out, err := MarshalRoutes(tc.routes, tc.source)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(out), tc.want) {
			t.Errorf("got\n%s\nwant prefix\n%s", out, tc.want)
		}
		checkRoundTrip(t, tc.routes, out)
	}
}

// TestQuoteRoundTrip writes many short strings, quoted or plain, and
// reads them back as the config loader would.
func TestQuoteRoundTrip(t *testing.T) {
	alphabet := []string{"a", "Z", "0", "9", "/", "_", ".", "-", "+", "=", ",", "@", "*", "{", "}", " ", ":", "#", "'", "\"", "\\", "!", "&", "%", "|", ">", "?", "[", "]", "~", "é", "\t", "\n", "e", "x", "o", "n", "y"}
	var values []string
	for _, a := range alphabet {
		values = append(values, a)
		for _, b := range alphabet {
			values = append(values, a+b)
			for _, c := range []string{"a", "0", " ", ":", "#", "."} {
				values = append(values, a+b+c)
			}
		}
	}
	for w := range yamlSpecial {
		values = append(values, w, strings.ToUpper(w), strings.ToUpper(w[:1])+w[1:])
	}
	values = append(values, "0x10", "1_000", "1e3", ".inf", "-.INF", ".NaN", "2025-01-01", "12:30:00", "0o17", "+1", "-1", "Null", "NULL", "<<", "=")
	var allow []config.AllowRule
	for _, v := range values {
		allow = append(allow, config.AllowRule{CN: v})
	}
	routes := []config.Route{{Name: "r", Allow: allow}}
	out, err := MarshalRoutes(routes, "")
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, routes, out)
	if _, err := MarshalRoutes([]config.Route{{Name: "\xff"}}, ""); err == nil {
		t.Error("invalid UTF-8: want an error")
	}
}
