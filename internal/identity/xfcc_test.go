package identity_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func TestXFCCEncoding(t *testing.T) {
	p := newPKI(t)
	id := p.identityFor(t, testpki.Options{
		CN:   "alice",
		OU:   []string{"payments"},
		DNS:  []string{"a.example", "b.example"},
		URIs: []string{"spiffe://example.org/alice", "https://example.org/x?a=b"},
	})
	h := http.Header{}
	id.SetHeaders(h, identity.FormatXFCC, "spiffe://example.org/gw")
	v := h.Get(identity.HeaderXFCC)
	wantPrefix := "By=spiffe://example.org/gw;Hash=" + id.FingerprintSHA256 + `;Cert="-----BEGIN%20CERTIFICATE-----%0A`
	wantSuffix := `-----END%20CERTIFICATE-----%0A";Subject="CN=alice,OU=payments";` +
		`URI=spiffe://example.org/alice;URI="https://example.org/x?a=b";DNS=a.example;DNS=b.example`
	if !strings.HasPrefix(v, wantPrefix) || !strings.HasSuffix(v, wantSuffix) {
		t.Fatalf("XFCC = %s\nwant %s...%s", v, wantPrefix, wantSuffix)
	}
	if strings.ContainsAny(v[len(wantPrefix):len(v)-len(wantSuffix)], "+/=\n\"") {
		t.Error("Cert value is not fully URL-encoded")
	}
}

// TestXFCCRoundTrip encodes identities with awkward subjects and SANs and
// parses them back.
func TestXFCCRoundTrip(t *testing.T) {
	p := newPKI(t)
	cns := map[string]string{
		"plain":         "alice",
		"comma":         "Doe, John",
		"quote":         `say "hi"`,
		"semicolon":     "a;b",
		"equals":        "a=b",
		"backslash":     `C:\path\`,
		"unicode":       "Jürgen 日本語 🔐",
		"injection":     `x";Hash=00;Subject="CN=admin`,
		"element break": `x",By=spiffe://evil,Subject="CN=admin`,
		"leading hash":  "#not hex",
		"outer spaces":  " padded ",
		"dn lookalike":  "admin,O=Acme",
		"only specials": `,;="\`,
		"empty":         "",
	}
	for name, cn := range cns {
		t.Run(name, func(t *testing.T) {
			id := p.identityFor(t, testpki.Options{
				CN:   cn,
				DNS:  []string{"a.example", "b.example"},
				URIs: []string{"spiffe://example.org/ns/a;b=c,d"},
			})
			h := http.Header{}
			id.SetHeaders(h, identity.FormatXFCC, "spiffe://example.org/gw")
			checkHeaderValues(t, h)
			elems, err := identity.ParseXFCC(h.Get(identity.HeaderXFCC))
			if err != nil {
				t.Fatalf("ParseXFCC(%q): %v", h.Get(identity.HeaderXFCC), err)
			}
			if len(elems) != 1 {
				t.Fatalf("got %d elements, want 1: %v", len(elems), elems)
			}
			e := elems[0]
			want := map[string][]string{
				"by":   {"spiffe://example.org/gw"},
				"hash": {id.FingerprintSHA256},
				"uri":  id.URIs,
				"dns":  id.DNSNames,
			}
			for k, w := range want {
				if !reflect.DeepEqual(e[k], w) {
					t.Errorf("%s = %q, want %q", k, e[k], w)
				}
			}
			if got := e["subject"]; len(got) != 1 || unescapeDN(got[0]) != unescapeDN(id.Subject) {
				t.Errorf("subject = %q, want a spelling of %q", got, id.Subject)
			} else if !strings.HasSuffix(id.Subject, " ") && got[0] != id.Subject {
				t.Errorf("subject = %q, want it unchanged: %q", got[0], id.Subject)
			}
			if len(e["cert"]) != 1 {
				t.Fatalf("cert = %q", e["cert"])
			}
			if c := certFromXFCC(t, e["cert"][0]); !c.Equal(id.Leaf) {
				t.Error("Cert does not decode to the leaf")
			}
			if len(e) != len(want)+2 {
				t.Errorf("unexpected keys in %v", e)
			}
		})
	}
}

func TestParseXFCC(t *testing.T) {
	type elems = []map[string][]string
	tests := []struct {
		name    string
		in      string
		want    elems
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"blank", " \t", nil, ""},
		{
			"envoy doc example 3",
			`By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;` +
				`Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com;DNS=lyft.com;DNS=www.lyft.com`,
			elems{{
				"by":      {"http://frontend.lyft.com"},
				"hash":    {"468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688"},
				"subject": {"/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client"},
				"uri":     {"http://testclient.lyft.com"},
				"dns":     {"lyft.com", "www.lyft.com"},
			}},
			"",
		},
		{
			"two elements",
			"By=http://frontend.lyft.com;Hash=aa;URI=http://testclient.lyft.com,By=http://backend.lyft.com;Hash=bb;URI=http://frontend.lyft.com",
			elems{
				{"by": {"http://frontend.lyft.com"}, "hash": {"aa"}, "uri": {"http://testclient.lyft.com"}},
				{"by": {"http://backend.lyft.com"}, "hash": {"bb"}, "uri": {"http://frontend.lyft.com"}},
			},
			"",
		},
		{"joined header lines", "Hash=aa, Hash=bb", elems{{"hash": {"aa"}}, {"hash": {"bb"}}}, ""},
		{"key case", "HASH=aa;hAsH=bb;Subject=x", elems{{"hash": {"aa", "bb"}, "subject": {"x"}}}, ""},
		{"specials in quotes", `Subject="a,b;c=d"`, elems{{"subject": {"a,b;c=d"}}}, ""},
		{"escapes", `Subject="q\"b\\s\x"`, elems{{"subject": {`q"b\sx`}}}, ""},
		{"empty values", `URI=;Subject=""`, elems{{"uri": {""}, "subject": {""}}}, ""},
		{"ows", " Hash = aa ; URI=u \t,\tDNS=d ", nil, "identity: xfcc: expected '=' after key hash at byte 5"},
		{"trimmed value", " Hash=a a ; URI=u \t,\tDNS=d ", elems{{"hash": {"a a"}, "uri": {"u"}}, {"dns": {"d"}}}, ""},
		{"unquoted equals", "URI=https://x/?a=b", elems{{"uri": {"https://x/?a=b"}}}, ""},
		{"unterminated", `Hash=abc;Subject="CN=x`, nil, "identity: xfcc: unterminated quoted value at byte 17"},
		{"unterminated escape", `Subject="abc\`, nil, "identity: xfcc: unterminated quoted value at byte 8"},
		{"escaped final quote", `Subject="abc\"`, nil, "identity: xfcc: unterminated quoted value at byte 8"},
		{"junk after quote", `Subject="a"b;Hash=c`, nil, "identity: xfcc: unexpected 'b' after value at byte 11"},
		{"quote in token", `Subject=a"b"`, nil, `identity: xfcc: unexpected '"' in unquoted value at byte 9`},
		{"no equals", "Hash", nil, "identity: xfcc: expected '=' after key hash at byte 4"},
		{"empty key", "=a", nil, "identity: xfcc: expected a key, found '=' at byte 0"},
		{"empty pair", "Hash=a;;URI=b", nil, "identity: xfcc: empty element or pair at byte 7"},
		{"trailing semicolon", "Hash=a;", nil, "identity: xfcc: empty element or pair at byte 7"},
		{"empty element", "Hash=a,,Hash=b", nil, "identity: xfcc: empty element or pair at byte 7"},
		{"trailing comma", "Hash=a, ", nil, "identity: xfcc: empty element or pair at byte 8"},
		{"cr in token", "Hash=a\rb", nil, "identity: xfcc: control byte 0x0D at byte 6"},
		{"lf in quotes", "Subject=\"a\nb\"", nil, "identity: xfcc: control byte 0x0A at byte 10"},
		{"escaped nul", "Subject=\"a\\\x00\"", nil, "identity: xfcc: control byte 0x00 at byte 11"},
		{"non-token key", "Sub ject=a", nil, "identity: xfcc: expected '=' after key sub at byte 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := identity.ParseXFCC(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, identity.ErrSyntax) {
					t.Fatalf("ParseXFCC(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				if got != nil {
					t.Fatalf("elements returned with an error: %v", got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseXFCC(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
