package identity_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// testPKI is a root with one intermediate, and a second intermediate below
// the first, minted once per test.
type testPKI struct {
	root, inter, inter2 *testpki.CA
}

func newPKI(tb testing.TB) *testPKI {
	tb.Helper()
	root := testpki.NewRootCA(tb, "Test Root")
	inter := root.NewIntermediate(tb, "Test Intermediate")
	return &testPKI{root: root, inter: inter, inter2: inter.NewIntermediate(tb, "Test Intermediate 2")}
}

// issue mints a leaf with ca and returns its chain, leaf first, up to and
// including the root, as crypto/tls would put in VerifiedChains.
func (p *testPKI) issue(tb testing.TB, ca *testpki.CA, o testpki.Options) []*x509.Certificate {
	tb.Helper()
	leaf := ca.Issue(tb, o)
	chain := append([]*x509.Certificate{leaf.Cert}, leaf.Chain...)
	return append(chain, p.root.Cert)
}

// identityFor mints a leaf below the first intermediate.
func (p *testPKI) identityFor(tb testing.TB, o testpki.Options) *identity.Identity {
	tb.Helper()
	return identity.FromChain(p.issue(tb, p.inter, o))
}

// checkHeaderValues fails if any value could not be sent as is: a control
// byte other than HTAB (RFC 9110 §5.5), or leading or trailing whitespace.
func checkHeaderValues(tb testing.TB, h map[string][]string) {
	tb.Helper()
	for k, vs := range h {
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if c := v[i]; c < 0x20 && c != '\t' || c == 0x7f {
					tb.Errorf("%s: control byte 0x%02x at %d in %q", k, c, i, v)
				}
			}
			if strings.TrimSpace(v) != v {
				tb.Errorf("%s: surrounding whitespace in %q", k, v)
			}
		}
	}
}

// certFromXFCC decodes an XFCC Cert value (URL-encoded PEM).
func certFromXFCC(tb testing.TB, v string) *x509.Certificate {
	tb.Helper()
	p, err := url.QueryUnescape(v)
	if err != nil {
		tb.Fatalf("unescaping Cert: %v", err)
	}
	block, rest := pem.Decode([]byte(p))
	if block == nil || len(rest) != 0 {
		tb.Fatalf("Cert is not one PEM block: %q", p)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		tb.Fatalf("parsing Cert: %v", err)
	}
	return c
}
