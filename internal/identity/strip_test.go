package identity_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

func TestIsProtectedHeader(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"Client-Cert", true},
		{"client-cert", true},
		{"CLIENT-CERT", true},
		{"Client_Cert", true},
		{"client_cert", true},
		{"Client-Cert-Chain", true},
		{"client_cert_chain", true},
		{"X-Forwarded-Client-Cert", true},
		{"x_forwarded_client_cert", true},
		{"X-Client-Cert", true},
		{"X-Client-Cert-", true},
		{"X-Client-Cert-Subject", true},
		{"x-client-cert-subject", true},
		{"X_Client_Cert_Subject", true},
		{"X_client_cert_subject", true},
		{"X-Client-Cert_Verified", true},
		{"X-Client-Cert-Anything-New", true},
		{"X-Client-Certificate", false},
		{"X-Client-Certs", false},
		{"Client-Cert-Chains", false},
		{"Client-Certificate", false},
		{"X-Forwarded-Client-Certs", false},
		{"X-Forwarded-For", false},
		{"X-Client", false},
		{"Cert", false},
		{"", false},
		{" Client-Cert", false},
		{"Client-Cert ", false},
		{"Client\u2010Cert", false}, // Unicode hyphen: no upstream maps it to '-'
		{"X-Client-Cert-Subject\u017f", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := identity.IsProtectedHeader(tt.name); got != tt.want {
				t.Errorf("IsProtectedHeader(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestStripInbound(t *testing.T) {
	tests := []struct {
		name        string
		in          http.Header
		want        http.Header
		wantRemoved int
	}{
		{"nil", nil, nil, 0},
		{"clean", http.Header{"Accept": {"*/*"}}, http.Header{"Accept": {"*/*"}}, 0},
		{
			"canonical",
			http.Header{"Client-Cert": {":AA==:"}, "Client-Cert-Chain": {":AA==:"}, "Accept": {"*/*"}},
			http.Header{"Accept": {"*/*"}}, 2,
		},
		{
			"duplicates",
			http.Header{"X-Forwarded-Client-Cert": {"By=a", "By=b", "By=c"}},
			http.Header{}, 3,
		},
		{
			"non-canonical keys as built by hand or by HTTP/2",
			http.Header{
				"x-client-cert-subject":   {"CN=admin"},
				"X-CLIENT-CERT-VERIFIED":  {"SUCCESS"},
				"x-forwarded-client-cert": {"Subject=\"CN=admin\""},
				"content-type":            {"text/plain"},
			},
			http.Header{"content-type": {"text/plain"}}, 3,
		},
		{
			"underscores as Go's server keeps them",
			http.Header{
				"X_client_cert_subject":   {"CN=admin"},
				"Client_cert":             {":AA==:"},
				"X-Client-Cert_spiffe":    {"spiffe://evil"},
				"X_forwarded_client_cert": {"x"},
				"User-Agent":              {"curl"},
			},
			http.Header{"User-Agent": {"curl"}}, 4,
		},
		{
			"same header under several spellings",
			http.Header{
				"X-Client-Cert-Subject": {"a"},
				"x-client-cert-subject": {"b"},
				"X_CLIENT_CERT_SUBJECT": {"c"},
			},
			http.Header{}, 3,
		},
		{"empty value list", http.Header{"Client-Cert": {}}, http.Header{}, 0},
		{
			"lookalikes kept",
			http.Header{"X-Client-Certificate": {"x"}, "Client-Certs": {"y"}},
			http.Header{"X-Client-Certificate": {"x"}, "Client-Certs": {"y"}}, 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := identity.StripInbound(tt.in)
			if got != tt.wantRemoved {
				t.Errorf("removed = %d, want %d", got, tt.wantRemoved)
			}
			if !reflect.DeepEqual(tt.in, tt.want) {
				t.Errorf("header = %v, want %v", tt.in, tt.want)
			}
		})
	}
}

func TestStripInboundDoesNotAllocate(t *testing.T) {
	h := typicalRequestHeader()
	if n := testing.AllocsPerRun(100, func() { identity.StripInbound(h) }); n != 0 {
		t.Errorf("StripInbound allocates %v times on a clean request", n)
	}
}

// typicalRequestHeader is a 10-field browser-ish request header.
func typicalRequestHeader() http.Header {
	return http.Header{
		"Accept":            {"application/json"},
		"Accept-Encoding":   {"gzip, deflate, br"},
		"Accept-Language":   {"en-US,en;q=0.9"},
		"Authorization":     {"Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig"},
		"Cache-Control":     {"no-cache"},
		"Content-Type":      {"application/json"},
		"Cookie":            {"session=abc123"},
		"User-Agent":        {"Mozilla/5.0 (X11; Linux x86_64)"},
		"X-Request-Id":      {"5f0c2a1e-9b1d-4b1a-8c1e-0a1b2c3d4e5f"},
		"X-Forwarded-Proto": {"https"},
	}
}

// TestStripInboundRealServer sends forged headers in every spelling over a
// raw HTTP/1.1 connection, so the keys are whatever Go's server makes of
// them, and checks that none reaches the handler after StripInbound.
func TestStripInboundRealServer(t *testing.T) {
	type result struct {
		removed int
		left    http.Header
	}
	got := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := identity.StripInbound(r.Header)
		got <- result{n, r.Header.Clone()}
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	forged := []string{
		"client-cert: :AA==:",
		"CLIENT-CERT-CHAIN: :AA==:",
		"x-forwarded-client-cert: By=x",
		"X-Forwarded-Client-Cert: By=y",
		"x_client_cert_subject: CN=admin",
		"X_CLIENT_CERT_VERIFIED: SUCCESS",
		"x-client-cert_spiffe-id: spiffe://evil",
		"X-Client-Cert: x",
	}
	req := "GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n" + strings.Join(forged, "\r\n") + "\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	r := <-got
	if r.removed != len(forged) {
		t.Errorf("removed %d, want %d", r.removed, len(forged))
	}
	for k := range r.left {
		if k != "Accept" && k != "Connection" {
			t.Errorf("header %q survived", k)
		}
	}
}
