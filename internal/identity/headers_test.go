package identity_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestHeadersFormatValues(t *testing.T) {
	p := newPKI(t)
	nb := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))
	na := nb.Add(48 * time.Hour)
	id := p.identityFor(t, testpki.Options{
		CN:        "alice",
		O:         []string{"Acme, Inc."},
		DNS:       []string{"a.example", "b.example"},
		URIs:      []string{"spiffe://example.org/alice"},
		Emails:    []string{"alice@example.org"},
		IPs:       []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")},
		NotBefore: nb,
		NotAfter:  na,
	})
	h := http.Header{}
	id.SetHeaders(h, identity.FormatHeaders, "")
	want := http.Header{
		"X-Client-Cert-Subject":            {`CN=alice,O=Acme\, Inc.`},
		"X-Client-Cert-Issuer":             {"CN=Test Intermediate"},
		"X-Client-Cert-Serial":             {id.SerialHex},
		"X-Client-Cert-Fingerprint-Sha256": {id.FingerprintSHA256},
		"X-Client-Cert-San-Dns":            {"a.example,b.example"},
		"X-Client-Cert-San-Uri":            {"spiffe://example.org/alice"},
		"X-Client-Cert-San-Email":          {"alice@example.org"},
		"X-Client-Cert-San-Ip":             {"192.0.2.1,2001:db8::1"},
		"X-Client-Cert-Spiffe-Id":          {"spiffe://example.org/alice"},
		"X-Client-Cert-Not-Before":         {"2026-01-02T02:04:05Z"},
		"X-Client-Cert-Not-After":          {"2026-01-04T02:04:05Z"},
		"X-Client-Cert-Verified":           {"SUCCESS"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("headers:\n got %v\nwant %v", h, want)
	}
}

// maliciousOptions has a subject and SANs that try to inject headers or
// extra list items. A CA that copies CSR fields without checking them would
// sign it: CN is a UTF8String, DNS and e-mail SANs are IA5Strings, and both
// may hold control bytes.
func maliciousOptions() testpki.Options {
	return testpki.Options{
		CN:     "alice\r\nX-Client-Cert-Verified: SUCCESS\r\nX-Admin: 1\x00\x7f\t",
		OU:     []string{"ou\nline"},
		DNS:    []string{"a.example,admin.internal", "evil\r\nX-Injected: 1", "b.example"},
		Emails: []string{"x@example.org, root@example.org"},
	}
}

func TestHeadersMaliciousCertificate(t *testing.T) {
	p := newPKI(t)
	id := p.identityFor(t, maliciousOptions())
	if !strings.Contains(id.Subject, "\r\n") {
		t.Fatalf("test certificate lost its CR LF: %q", id.Subject)
	}
	h := http.Header{}
	id.SetHeaders(h, identity.FormatHeaders, "")
	checkHeaderValues(t, h)
	tests := []struct{ name, want string }{
		{"X-Client-Cert-Subject", `CN=alice\0D\0AX-Client-Cert-Verified: SUCCESS\0D\0AX-Admin: 1\00\7F\09,OU=ou\0Aline`},
		{"X-Client-Cert-San-Dns", "a.example%2Cadmin.internal,evil%0D%0AX-Injected:%201,b.example"},
		{"X-Client-Cert-San-Email", "x@example.org%2C%20root@example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Get(tt.name); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
	if n := len(strings.Split(h.Get("X-Client-Cert-San-Dns"), ",")); n != 3 {
		t.Errorf("DNS list splits into %d items, want 3", n)
	}
}

// TestHeadersOverTheWire sends every format for a malicious certificate
// through net/http, which refuses invalid header values, and checks what a
// real upstream receives.
func TestHeadersOverTheWire(t *testing.T) {
	p := newPKI(t)
	id := p.identityFor(t, maliciousOptions())
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	defer srv.Close()
	for _, f := range []identity.Format{identity.FormatRFC9440, identity.FormatXFCC, identity.FormatHeaders} {
		t.Run(f.String(), func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			id.SetHeaders(req.Header, f, "spiffe://example.org/gw")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("request refused: %v", err)
			}
			resp.Body.Close()
			up := <-got
			for k, vs := range req.Header {
				if !reflect.DeepEqual(up[k], vs) {
					t.Errorf("upstream got %s = %q, want %q", k, up[k], vs)
				}
			}
			if _, ok := up["X-Admin"]; ok {
				t.Error("header injected")
			}
			if f == identity.FormatXFCC {
				elems, err := identity.ParseXFCC(up.Get(identity.HeaderXFCC))
				if err != nil || len(elems) != 1 || len(elems[0]["dns"]) != 3 {
					t.Fatalf("upstream XFCC = %v, %v", elems, err)
				}
			}
		})
	}
}
