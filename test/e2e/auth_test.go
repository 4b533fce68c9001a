package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net/url"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

const aliceSPIFFE = "spiffe://example.org/ns/prod/sa/orders"

// TestNoClientCertificate: a route that requires a certificate answers 401
// problem+json to a client without one, and never calls the upstream.
func TestNoClientCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	for _, proto := range []string{"--http1.1", "--http2"} {
		r := e.curl(nil, "/api/secure/orders", proto)
		prob := expectProblem(t, "no cert "+proto, r, 401, "client_cert_required")
		if prob["route"] != "secure-api" || prob["instance"] != "/api/secure/orders" {
			t.Errorf("%s: problem names route %v instance %v", proto, prob["route"], prob["instance"])
		}
	}
	if e.up.count.Load() != 0 {
		t.Errorf("upstream was called %d times for unauthenticated requests", e.up.count.Load())
	}
	// A route with client_cert: none is reachable without a certificate.
	expect(t, "public route", e.curl(nil, "/public/readme"), 200)
}

// TestAllowedClientForwardsIdentity: an allowed client gets the upstream's
// answer, and the upstream receives the verified identity in the route's
// format: RFC 9440 Client-Cert (the leaf) and Client-Cert-Chain (the
// intermediate the client sent), XFCC with the leaf's hash, subject and
// SPIFFE URI, or X-Client-Cert-* headers. Format none forwards nothing.
func TestAllowedClientForwardsIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}, URIs: []string{aliceSPIFFE}, DNS: []string{"alice.example.com"}})
	leaf, inter := alice.leaf.Cert, e.p.clientsInt.Cert
	sum := sha256.Sum256(leaf.Raw)
	fingerprint := hex.EncodeToString(sum[:])

	t.Run("rfc9440", func(t *testing.T) {
		r := e.curl(&alice, "/api/secure/orders/1")
		expect(t, "alice", r, 200)
		if !strings.Contains(r.body, "upstream ok /api/secure/orders/1") {
			t.Errorf("body %q is not the upstream's", r.body)
		}
		h := e.up.Last().Header
		got, err := identity.ParseClientCert(h.Get("Client-Cert"))
		if err != nil || !got.Equal(leaf) {
			t.Fatalf("Client-Cert is not alice's leaf (err %v): %q", err, h.Get("Client-Cert"))
		}
		chain, err := identity.ParseClientCertChain(h.Get("Client-Cert-Chain"))
		if err != nil || len(chain) != 1 || !chain[0].Equal(inter) {
			t.Fatalf("Client-Cert-Chain is not [intermediate] (err %v, %d certs): %q", err, len(chain), h.Get("Client-Cert-Chain"))
		}
		if len(h.Values("Client-Cert")) != 1 || len(h.Values("Client-Cert-Chain")) != 1 {
			t.Errorf("identity headers repeated: %v", h)
		}
	})

	t.Run("xfcc", func(t *testing.T) {
		expect(t, "alice", e.curl(&alice, "/api/xfcc/orders"), 200)
		v := e.up.Last().Header.Values("X-Forwarded-Client-Cert")
		if len(v) != 1 {
			t.Fatalf("want one X-Forwarded-Client-Cert, got %q", v)
		}
		elems, err := identity.ParseXFCC(v[0])
		if err != nil || len(elems) != 1 {
			t.Fatalf("XFCC %q: %d elements, err %v", v[0], len(elems), err)
		}
		el := elems[0]
		checkOne := func(key, want string) {
			t.Helper()
			if got := el[key]; len(got) != 1 || got[0] != want {
				t.Errorf("XFCC %s = %q, want %q", key, got, want)
			}
		}
		checkOne("hash", fingerprint)
		checkOne("subject", leaf.Subject.String())
		checkOne("uri", aliceSPIFFE)
		checkOne("dns", "alice.example.com")
		checkOne("by", "spiffe://example.org/gateway")
		if len(el["cert"]) != 1 {
			t.Fatalf("XFCC Cert missing: %q", v[0])
		}
		p, err := url.PathUnescape(el["cert"][0])
		if err != nil {
			t.Fatalf("XFCC Cert is not URL-encoded: %v", err)
		}
		if blk, _ := pem.Decode([]byte(p)); blk == nil || string(blk.Bytes) != string(leaf.Raw) {
			t.Errorf("XFCC Cert is not alice's leaf PEM: %q", p)
		}
	})

	t.Run("headers", func(t *testing.T) {
		expect(t, "alice", e.curl(&alice, "/api/headers/orders"), 200)
		h := e.up.Last().Header
		want := map[string]string{
			"X-Client-Cert-Subject":            leaf.Subject.String(),
			"X-Client-Cert-Issuer":             inter.Subject.String(),
			"X-Client-Cert-Fingerprint-Sha256": fingerprint,
			"X-Client-Cert-Serial":             leaf.SerialNumber.Text(16),
			"X-Client-Cert-Spiffe-Id":          aliceSPIFFE,
			"X-Client-Cert-San-Uri":            aliceSPIFFE,
			"X-Client-Cert-San-Dns":            "alice.example.com",
			"X-Client-Cert-Verified":           "SUCCESS",
		}
		for k, v := range want {
			if got := h.Values(k); len(got) != 1 || got[0] != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
	})

	t.Run("none", func(t *testing.T) {
		expect(t, "alice", e.curl(&alice, "/api/none/orders"), 200)
		for k := range e.up.Last().Header {
			if identity.IsProtectedHeader(k) {
				t.Errorf("format none forwarded %s", k)
			}
		}
	})

	t.Run("access log", func(t *testing.T) {
		e.g.waitAccess(tenSeconds, "alice's 200 with identity", func(m map[string]any) bool {
			c, _ := m["client"].(map[string]any)
			return m["route"] == "secure-api" && m["status"] == float64(200) && c != nil &&
				c["subject"] == leaf.Subject.String() && c["fingerprint_sha256"] == fingerprint
		})
	})
}

// TestAllowRules: allow entries are OR'ed and the keys within an entry
// AND'ed; a valid certificate that matches no entry gets 403 problem+json
// naming the identity the gateway saw, never the policy.
func TestAllowRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	cases := []struct {
		name   string
		opts   testpki.Options
		status int
	}{
		{"alice-payments", testpki.Options{CN: "alice", OU: []string{"payments"}}, 200},
		{"workload-by-spiffe-id", testpki.Options{CN: "carol", URIs: []string{"spiffe://example.org/ns/staging/sa/orders"}}, 200},
		{"bob", testpki.Options{CN: "bob", OU: []string{"payments"}}, 403},
		{"alice-wrong-ou", testpki.Options{CN: "alice", OU: []string{"sales"}}, 403},
		{"other-service", testpki.Options{CN: "dave", URIs: []string{"spiffe://example.org/ns/prod/sa/billing"}}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.p.client(t, tc.name, tc.opts)
			r := e.curl(&c, "/api/secure/orders")
			if tc.status == 200 {
				expect(t, tc.name, r, 200)
				return
			}
			prob := expectProblem(t, tc.name, r, 403, "not_allowed")
			id, _ := prob["identity"].(map[string]any)
			if id == nil || id["subject"] != c.leaf.Cert.Subject.String() {
				t.Errorf("403 identity %v, want subject %q", prob["identity"], c.leaf.Cert.Subject.String())
			}
			for _, secret := range []string{"alice", "ns/*/sa"} {
				if !strings.Contains(c.leaf.Cert.Subject.String(), secret) && strings.Contains(r.body, secret) {
					t.Errorf("403 body reveals the policy (%q): %s", secret, r.body)
				}
			}
		})
	}
	// Any verified certificate passes a route without allow rules.
	bob := e.p.client(t, "bob2", testpki.Options{CN: "bob"})
	expect(t, "bob on any-cert route", e.curl(&bob, "/api/any/x"), 200)
}

// TestRoutingStatuses: unknown paths are 404 and a wrong method on a
// matched path is 405 with Allow, both problem+json.
func TestRoutingStatuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})
	expectProblem(t, "no route", e.curl(&alice, "/nowhere"), 404, "no_route")
	r := e.curl(&alice, "/api/secure/orders", "-X", "DELETE")
	expectProblem(t, "DELETE", r, 405, "method_not_allowed")
	if got := r.header.Get("Allow"); got != "GET, POST" {
		t.Errorf("405 Allow = %q, want \"GET, POST\"", got)
	}
}

// TestDotSegmentsCannotEscapeRoutePolicy: paths with (possibly encoded)
// dot segments are matched and forwarded in their resolved form, so a
// request that resolves into /api/secure/ is judged by that route's policy
// however it is spelled, and the upstream sees the resolved path.
func TestDotSegmentsCannotEscapeRoutePolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	bob := e.p.client(t, "bob", testpki.Options{CN: "bob"})
	escapes := []string{
		"/public/../api/secure/x",
		"/public/%2e%2e/api/secure/x",
		"/public/%2E./api/secure/x",
		"/public/..%2fapi/secure/x",
		"/public/./.././api/secure/x",
		"/api/any/..//secure/x",
		"//api//secure/x",
	}
	for _, method := range []string{"GET", "POST"} {
		for _, proto := range []string{"--http1.1", "--http2"} {
			args := []string{"--path-as-is", "-X", method, proto}
			if method == "POST" {
				args = append(args, "--data-binary", "x")
			}
			for _, p := range escapes {
				e.up.Reset()
				expectProblem(t, method+" bob "+p, e.curl(&bob, p, args...), 403, "not_allowed")
				expectProblem(t, method+" anonymous "+p, e.curl(nil, p, args...), 401, "client_cert_required")
				if last := e.up.Last(); last != nil {
					t.Errorf("%s %s: upstream called with %s", method, p, last.RequestURI)
				}
			}
			// Resolving the other way round: from a secure prefix into the
			// any-certificate route; the upstream gets the resolved path.
			e.up.Reset()
			expect(t, method+" bob into /api/any/", e.curl(&bob, "/api/secure/../any/x", args...), 200)
			if last := e.up.Last(); last == nil || last.RequestURI != "/api/any/x" {
				t.Errorf("%s: upstream saw %+v, want request-target /api/any/x", method, last)
			}
		}
	}
}
