package e2e

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// spoofMarker is in every forged value, so any leak is easy to find.
const spoofMarker = "SPOOF"

// identityHeaders returns the protected identity header names in h, sorted.
func identityHeaders(h http.Header) []string {
	var out []string
	for k := range h {
		if identity.IsProtectedHeader(k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// checkNoLeak fails if any header the upstream saw carries a forged value.
func checkNoLeak(t testing.TB, h http.Header, forged ...string) {
	t.Helper()
	for k, vs := range h {
		for _, v := range vs {
			for _, f := range append([]string{spoofMarker, "6.6.6.6"}, forged...) {
				if strings.Contains(k, f) || strings.Contains(v, f) {
					t.Errorf("forged value reached the upstream: %s: %s", k, v)
				}
			}
		}
	}
}

// TestSpoofedIdentityHeadersAreStripped: client-sent identity headers never
// reach the upstream, whatever their case, with '_' for '-', repeated, over
// HTTP/1.1 or HTTP/2, whatever the route's forward format; the upstream
// sees exactly the gateway's own identity headers. X-Forwarded-* and
// Forwarded are the gateway's, not the client's.
func TestSpoofedIdentityHeadersAreStripped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}, URIs: []string{aliceSPIFFE}})
	// A real certificate for "admin" from a CA nobody trusts, as an attacker
	// would paste it into Client-Cert.
	admin := testpki.NewRootCA(t, "Forger").Issue(t, testpki.Options{CN: "admin"})
	forgedCert := ":" + base64.StdEncoding.EncodeToString(admin.Cert.Raw) + ":"
	spoof := []string{
		"Client-Cert: " + forgedCert,
		"client-cert: " + forgedCert,
		"Client_Cert: :" + spoofMarker + ":",
		"Client-Cert-Chain: :" + spoofMarker + ":",
		`X-Forwarded-Client-Cert: Hash=` + spoofMarker + `1;Subject="CN=admin"`,
		`X-Forwarded-Client-Cert: Hash=` + spoofMarker + `2;URI=spiffe://example.org/ns/prod/sa/admin`,
		"X-Client-Cert-Subject: CN=admin " + spoofMarker,
		"x_client_cert_subject: CN=admin " + spoofMarker,
		"X-Client_Cert-Spiffe-Id: spiffe://" + spoofMarker,
		"X-CLIENT-CERT-VERIFIED: " + spoofMarker,
		"X-Client-Cert: " + spoofMarker,
		"X-Forwarded-For: 6.6.6.6",
		"Forwarded: for=6.6.6.6;proto=" + spoofMarker,
		"X-Forwarded-Proto: " + spoofMarker,
		"X-Forwarded-Host: " + spoofMarker + ".example.com",
	}
	var args []string
	for _, h := range spoof {
		args = append(args, "-H", h)
	}
	routes := []struct {
		path string
		want []string // identity headers the gateway sets for alice
	}{
		{"/api/secure/s", []string{"Client-Cert", "Client-Cert-Chain"}},
		{"/api/xfcc/s", []string{"X-Forwarded-Client-Cert"}},
		{"/api/headers/s", []string{"X-Client-Cert-Fingerprint-Sha256", "X-Client-Cert-Issuer", "X-Client-Cert-Not-After",
			"X-Client-Cert-Not-Before", "X-Client-Cert-San-Uri", "X-Client-Cert-Serial", "X-Client-Cert-Spiffe-Id",
			"X-Client-Cert-Subject", "X-Client-Cert-Verified"}},
		{"/api/none/s", nil},
		{"/public/s", nil},
	}
	// GET over HTTP/1.1 takes the gateway's body-less fast path; POST with
	// a body, and every HTTP/2 request, httputil.ReverseProxy. Both must
	// strip.
	for _, method := range []string{"GET", "POST"} {
		for _, proto := range []string{"--http1.1", "--http2"} {
			for _, rt := range routes {
				t.Run(method+"/"+proto[2:]+rt.path, func(t *testing.T) {
					checkSpoofedRequest(t, e, &alice, method, proto, rt.path, args, rt.want)
				})
			}
		}
	}
	// The access log counts what was stripped.
	e.g.waitAccess(tenSeconds, "stripped_identity_headers", func(m map[string]any) bool {
		n, _ := m["stripped_identity_headers"].(float64)
		return m["route"] == "secure-api" && n >= 10
	})
}

// checkSpoofedRequest sends one request with the forged headers in args and
// checks what the upstream received: only the gateway's identity headers
// (want), one value each, and forwarding headers from the connection.
func checkSpoofedRequest(t *testing.T, e *env, alice *clientFiles, method, proto, path string, args, want []string) {
	t.Helper()
	e.up.Reset()
	all := append([]string{proto}, args...)
	if method == "POST" {
		all = append(all, "--data-binary", `{"n":1}`)
	}
	expect(t, "alice with forged headers", e.curl(alice, path, all...), 200)
	seen := e.up.Last()
	if seen.Method != method {
		t.Fatalf("upstream saw %s, want %s", seen.Method, method)
	}
	h := seen.Header
	checkNoLeak(t, h, "admin")
	if got := identityHeaders(h); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("identity headers at upstream %q, want %q", got, want)
	}
	for _, k := range want {
		if n := len(h.Values(k)); n != 1 {
			t.Errorf("%s has %d values, want 1", k, n)
		}
	}
	if len(want) > 0 && want[0] == "Client-Cert" {
		if c, err := identity.ParseClientCert(h.Get("Client-Cert")); err != nil || !c.Equal(alice.leaf.Cert) {
			t.Errorf("Client-Cert is not alice's certificate (err %v)", err)
		}
	}
	if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want [127.0.0.1]", got)
	}
	if got := h.Values("X-Forwarded-Proto"); len(got) != 1 || got[0] != "https" {
		t.Errorf("X-Forwarded-Proto = %q, want [https]", got)
	}
	if got := h.Values("X-Forwarded-Host"); len(got) != 1 || got[0] != e.g.Addr("public") {
		t.Errorf("X-Forwarded-Host = %q, want [%s]", got, e.g.Addr("public"))
	}
	fwd := h.Values("Forwarded")
	if len(fwd) != 1 || !strings.HasPrefix(fwd[0], "for=127.0.0.1;") || !strings.HasSuffix(fwd[0], ";proto=https") {
		t.Errorf("Forwarded = %q, want one for=127.0.0.1;...;proto=https", fwd)
	}
}

// TestObsFoldCannotSmuggleIdentity sends raw HTTP/1.1 over TLS (openssl
// s_client) with obsolete line folding: a folded identity header, a fold
// that looks like an identity header, and a request whose first field line
// is a continuation. The gateway must answer 400 or strip the header; the
// upstream must never see a forged value.
func TestObsFoldCannotSmuggleIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})
	args := []string{"-cert", alice.cert, "-key", alice.key, "-cert_chain", e.p.path("clients-int.pem"),
		"-CAfile", e.p.path("server-ca.pem"), "-verify_return_error"}
	cases := []struct{ name, fields string }{
		{"folded identity header", "X-Client-Cert-Subject: CN=admin\r\n  " + spoofMarker + "\r\n"},
		{"fold that looks like a header", "X-Note: a\r\n X-Client-Cert-Subject: CN=admin " + spoofMarker + "\r\n"},
		{"fold of a forged Client-Cert", "Client-Cert: :\r\n\t" + spoofMarker + ":\r\n"},
		{"leading continuation", " X-Client-Cert-Subject: CN=admin " + spoofMarker + "\r\n"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := "/api/headers/fold" + string(rune('a'+i))
			e.up.Reset()
			first := "GET " + path + " HTTP/1.1\r\n"
			var req string
			if strings.HasPrefix(tc.fields, " ") {
				req = first + tc.fields + "Host: 127.0.0.1\r\nConnection: close\r\n\r\n"
			} else {
				req = first + "Host: 127.0.0.1\r\n" + tc.fields + "Connection: close\r\n\r\n"
			}
			resp := sClient(t, e.g.Addr("public"), args, req)
			status, _, _ := strings.Cut(resp, "\r\n")
			t.Logf("gateway answered %q", status)
			last := e.up.Last()
			switch status {
			case "HTTP/1.1 400 Bad Request":
				if last != nil {
					t.Errorf("400, yet the upstream was called with %v", last.Header)
				}
			case "HTTP/1.1 200 OK":
				if last == nil || last.Path != path {
					t.Fatalf("200 but the upstream saw %+v", last)
				}
				// RFC 9112 §5.2 lets a server replace obs-fold by SP: the
				// folded text then belongs to the header it continues,
				// which is harmless unless that header is an identity one.
				for k, vs := range last.Header {
					if identity.IsProtectedHeader(k) && strings.Contains(strings.Join(vs, ","), spoofMarker) {
						t.Errorf("forged identity reached the upstream: %s: %q", k, vs)
					}
				}
				if got := last.Header.Values("X-Client-Cert-Subject"); len(got) != 1 || got[0] != alice.leaf.Cert.Subject.String() {
					t.Errorf("X-Client-Cert-Subject = %q, want alice's", got)
				}
			default:
				t.Fatalf("want 400 or 200, got %q (full response %q)", status, resp)
			}
		})
	}
}

// TestRegressionForwardingHeadersWithUnderscores — regression test (security) for a gateway
// bug found by this suite and fixed.
//
// The gateway strips client-sent identity headers also when spelled with
// '_' for '-', because CGI, WSGI, PHP and Rack upstreams read both
// spellings as the same variable (internal/identity/strip.go). It does not
// do the same for the forwarding headers it promises to set from the
// connection: a client sending "X_Forwarded_For: 6.6.6.6" gets it to the
// upstream as "X_forwarded_for" next to the gateway's X-Forwarded-For,
// and a CGI-style upstream may read HTTP_X_FORWARDED_FOR=6.6.6.6 (client
// IP spoofing: IP allow lists, rate limits, audit logs). Both proxy paths
// are affected: internal/proxy/fasthandler.go dropRequestHeader compares
// exact canonical names, and the ReverseProxy path only removes the
// canonical spellings. nginx drops header names with underscores by
// default for this reason.
func TestRegressionForwardingHeadersWithUnderscores(t *testing.T) {
	t.Parallel()
	e := newEnv(t, baseConfig, nil)
	alice := e.p.client(t, "alice", testpki.Options{CN: "alice", OU: []string{"payments"}})
	forged := []string{
		"X_Forwarded_For: 6.6.6.6",
		"x_forwarded_proto: " + spoofMarker,
		"X-Forwarded_Host: " + spoofMarker + ".example.com",
	}
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			args := []string{"--http1.1"}
			for _, h := range forged {
				args = append(args, "-H", h)
			}
			if method == "POST" {
				args = append(args, "--data-binary", "x")
			}
			expect(t, method, e.curl(&alice, "/api/secure/fwd", args...), 200)
			for k, vs := range e.up.Last().Header {
				folded := strings.ReplaceAll(strings.ToLower(k), "_", "-")
				switch folded {
				case "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded":
					if k != http.CanonicalHeaderKey(folded) {
						t.Errorf("client-sent %s: %q reached the upstream next to the gateway's own %s",
							k, vs, http.CanonicalHeaderKey(folded))
					}
				}
			}
		})
	}
}
