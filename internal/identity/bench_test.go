package identity_test

import (
	"net/http"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

func benchOptions() testpki.Options {
	return testpki.Options{
		CN:   "payments-api",
		OU:   []string{"payments"},
		O:    []string{"Acme"},
		DNS:  []string{"payments.internal", "payments.svc.cluster.local"},
		URIs: []string{"spiffe://example.org/ns/prod/sa/payments"},
	}
}

func BenchmarkFromChain(b *testing.B) {
	p := newPKI(b)
	chain := p.issue(b, p.inter, benchOptions())
	b.ReportAllocs()
	for b.Loop() {
		identity.FromChain(chain)
	}
}

// BenchmarkSetHeaders measures the per-request cost once the identity's
// values are cached (the first request on a connection pays for them; see
// BenchmarkFirstSetHeaders).
func BenchmarkSetHeaders(b *testing.B) {
	p := newPKI(b)
	id := p.identityFor(b, benchOptions())
	for _, f := range []identity.Format{identity.FormatRFC9440, identity.FormatXFCC, identity.FormatHeaders, identity.FormatNone} {
		b.Run(f.String(), func(b *testing.B) {
			h := typicalRequestHeader()
			id.SetHeaders(h, f, "spiffe://example.org/gateway")
			b.ReportAllocs()
			for b.Loop() {
				id.SetHeaders(h, f, "spiffe://example.org/gateway")
			}
		})
	}
}

// BenchmarkFirstSetHeaders measures the one-time encoding per identity.
func BenchmarkFirstSetHeaders(b *testing.B) {
	p := newPKI(b)
	chain := p.issue(b, p.inter, benchOptions())
	for _, f := range []identity.Format{identity.FormatRFC9440, identity.FormatXFCC, identity.FormatHeaders} {
		b.Run(f.String(), func(b *testing.B) {
			h := http.Header{}
			b.ReportAllocs()
			for b.Loop() {
				identity.FromChain(chain).SetHeaders(h, f, "spiffe://example.org/gateway")
			}
		})
	}
}

func BenchmarkStripInbound(b *testing.B) {
	b.Run("clean", func(b *testing.B) {
		h := typicalRequestHeader()
		b.ReportAllocs()
		for b.Loop() {
			identity.StripInbound(h)
		}
	})
	b.Run("forged", func(b *testing.B) {
		h := typicalRequestHeader()
		forged := []string{"CN=admin"}
		b.ReportAllocs()
		for b.Loop() {
			h["X_client_cert_subject"] = forged
			h["Client-Cert"] = forged
			if identity.StripInbound(h) != 2 {
				b.Fatal("not stripped")
			}
		}
	})
}
