package identity_test

import (
	"crypto/x509"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func headerNames(h http.Header) []string {
	var names []string
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func TestSetHeadersNames(t *testing.T) {
	p := newPKI(t)
	full := p.identityFor(t, testpki.Options{
		CN:     "alice",
		DNS:    []string{"alice.example"},
		URIs:   []string{"spiffe://example.org/alice"},
		Emails: []string{"alice@example.org"},
	})
	bare := identity.FromChain(p.issue(t, p.root, testpki.Options{CN: "bob"}))
	tests := []struct {
		name   string
		id     *identity.Identity
		format identity.Format
		want   []string
	}{
		{"rfc9440 with intermediate", full, identity.FormatRFC9440, []string{"Client-Cert", "Client-Cert-Chain"}},
		{"rfc9440 issued by root", bare, identity.FormatRFC9440, []string{"Client-Cert"}},
		{"xfcc", full, identity.FormatXFCC, []string{"X-Forwarded-Client-Cert"}},
		{"headers full", full, identity.FormatHeaders, []string{
			"X-Client-Cert-Fingerprint-Sha256", "X-Client-Cert-Issuer", "X-Client-Cert-Not-After",
			"X-Client-Cert-Not-Before", "X-Client-Cert-San-Dns", "X-Client-Cert-San-Email",
			"X-Client-Cert-San-Uri", "X-Client-Cert-Serial", "X-Client-Cert-Spiffe-Id",
			"X-Client-Cert-Subject", "X-Client-Cert-Verified",
		}},
		{"headers bare", bare, identity.FormatHeaders, []string{
			"X-Client-Cert-Fingerprint-Sha256", "X-Client-Cert-Issuer", "X-Client-Cert-Not-After",
			"X-Client-Cert-Not-Before", "X-Client-Cert-Serial", "X-Client-Cert-Subject", "X-Client-Cert-Verified",
		}},
		{"none", full, identity.FormatNone, nil},
		{"unknown format", full, identity.Format(42), nil},
		{"nil identity rfc9440", nil, identity.FormatRFC9440, nil},
		{"nil identity xfcc", nil, identity.FormatXFCC, nil},
		{"nil identity headers", nil, identity.FormatHeaders, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			tt.id.SetHeaders(h, tt.format, "spiffe://example.org/gw")
			if got := headerNames(h); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("headers = %q, want %q", got, tt.want)
			}
			for k := range h {
				if !identity.IsProtectedHeader(k) {
					t.Errorf("SetHeaders set %s, which StripInbound would not remove", k)
				}
			}
			checkHeaderValues(t, h)
		})
	}
}

func TestSetHeadersNilHeader(t *testing.T) {
	id := newPKI(t).identityFor(t, testpki.Options{CN: "alice"})
	id.SetHeaders(nil, identity.FormatHeaders, "") // must not panic
}

func TestSetHeadersReplacesAndSharedValuesAreSafe(t *testing.T) {
	id := newPKI(t).identityFor(t, testpki.Options{CN: "alice"})
	h := http.Header{"X-Client-Cert-Subject": {"CN=forged", "CN=forged2"}}
	id.SetHeaders(h, identity.FormatHeaders, "")
	if got := h.Values("X-Client-Cert-Subject"); len(got) != 1 || got[0] != "CN=alice" {
		t.Fatalf("subject = %q, want [CN=alice]", got)
	}
	// A later handler appending must not write into the cached array.
	h.Add("X-Client-Cert-Subject", "CN=appended")
	h2 := http.Header{}
	id.SetHeaders(h2, identity.FormatHeaders, "")
	if got := h2.Values("X-Client-Cert-Subject"); len(got) != 1 || got[0] != "CN=alice" {
		t.Fatalf("cached subject changed to %q", got)
	}
}

func TestSetHeadersXFCCBy(t *testing.T) {
	id := newPKI(t).identityFor(t, testpki.Options{CN: "alice"})
	for _, by := range []string{"spiffe://a/gw", "", "spiffe://b/gw", "spiffe://b/gw", "x;y"} {
		h := http.Header{}
		id.SetHeaders(h, identity.FormatXFCC, by)
		elems, err := identity.ParseXFCC(h.Get(identity.HeaderXFCC))
		if err != nil || len(elems) != 1 {
			t.Fatalf("by %q: ParseXFCC = %v, %v", by, elems, err)
		}
		got, ok := elems[0]["by"]
		if by == "" {
			if ok {
				t.Errorf("by empty: got By=%q", got)
			}
			continue
		}
		if len(got) != 1 || got[0] != by {
			t.Errorf("By = %q, want %q", got, by)
		}
	}
}

// TestSetHeadersConcurrent runs the lazy computation from many goroutines
// at once; run it with -race.
func TestSetHeadersConcurrent(t *testing.T) {
	id := newPKI(t).identityFor(t, testpki.Options{CN: "alice", DNS: []string{"a.example"}})
	formats := []identity.Format{identity.FormatRFC9440, identity.FormatXFCC, identity.FormatHeaders}
	var wg sync.WaitGroup
	results := make([]http.Header, 32)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := http.Header{}
			for _, f := range formats {
				by := "spiffe://example.org/gw"
				if i%2 == 0 {
					by = "spiffe://example.org/other"
				}
				id.SetHeaders(h, f, by)
			}
			h.Del(identity.HeaderXFCC) // depends on by
			results[i] = h
		}()
	}
	wg.Wait()
	for i := 1; i < len(results); i++ {
		if !reflect.DeepEqual(results[i], results[0]) {
			t.Fatalf("goroutine %d got %v, goroutine 0 got %v", i, results[i], results[0])
		}
	}
}

func TestSetHeadersDoesNotAllocate(t *testing.T) {
	id := newPKI(t).identityFor(t, testpki.Options{CN: "alice", DNS: []string{"a.example"}})
	for _, f := range []identity.Format{identity.FormatRFC9440, identity.FormatXFCC, identity.FormatHeaders, identity.FormatNone} {
		t.Run(f.String(), func(t *testing.T) {
			h := http.Header{}
			id.SetHeaders(h, f, "spiffe://example.org/gw") // warm the cache and the map
			if n := testing.AllocsPerRun(100, func() { id.SetHeaders(h, f, "spiffe://example.org/gw") }); n != 0 {
				t.Errorf("SetHeaders allocates %v times per call", n)
			}
		})
	}
}

func TestAppendHeadersMatchesSetHeaders(t *testing.T) {
	ca := testpki.NewRootCA(t, "Root")
	leaf := ca.NewIntermediate(t, "Int").Issue(t, testpki.Options{CN: "alice", DNS: []string{"a.example.com"}, URIs: []string{"spiffe://td/x"}})
	id := identity.FromChain(append([]*x509.Certificate{leaf.Cert}, append(leaf.Chain, ca.Cert)...))
	for _, f := range []identity.Format{identity.FormatRFC9440, identity.FormatXFCC, identity.FormatHeaders, identity.FormatNone} {
		h := http.Header{}
		id.SetHeaders(h, f, "spiffe://gw")
		var want []byte
		for _, k := range slices.Sorted(maps.Keys(h)) {
			for _, v := range h[k] {
				want = append(want, k+": "+v+"\r\n"...)
			}
		}
		got := strings.Split(string(id.AppendHeaders(nil, f, "spiffe://gw")), "\r\n")
		slices.Sort(got)
		wantLines := strings.Split(string(want), "\r\n")
		slices.Sort(wantLines)
		if !slices.Equal(got, wantLines) {
			t.Errorf("%v: AppendHeaders\n%q\nwant\n%q", f, got, wantLines)
		}
	}
	if b := (*identity.Identity)(nil).AppendHeaders(nil, identity.FormatRFC9440, ""); len(b) != 0 {
		t.Error("nil identity appended headers")
	}
}
