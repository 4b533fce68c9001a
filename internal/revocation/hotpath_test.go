package revocation

import (
	"crypto/x509"
	"math/big"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ocspresp"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// TestCheckDoesNotAllocate: an OK answer from cached state allocates
// nothing, with an intermediate in the chain, from CRLs and from OCSP.
func TestCheckDoesNotAllocate(t *testing.T) {
	root := testpki.NewRootCA(t, "Alloc root")
	inter := root.NewIntermediate(t, "Alloc issuing CA")
	leaf := inter.Issue(t, testpki.Options{CN: "leaf"})
	dir := t.TempDir()
	crlLeaf := testpki.WriteFile(t, dir, "inter.crl", goCRL(t, inter.Cert, inter.Key, x509.RevocationList{
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(99), RevocationTime: time.Now()}}}))
	crlInter := testpki.WriteFile(t, dir, "root.crl", goCRL(t, root.Cert, root.Key, x509.RevocationList{}))
	c := newChecker(t, Config{CRLs: []CRLSource{{File: crlLeaf}, {File: crlInter}}})
	chain := []*x509.Certificate{leaf.Cert, inter.Cert, root.Cert}
	wantOK(t, c.Check(chain), crlLeaf) // verifies the signatures once
	if n := testing.AllocsPerRun(1000, func() { c.Check(chain) }); n != 0 {
		t.Errorf("CRL path: %v allocations per Check", n)
	}

	g := newGoOCSP(t)
	ol := g.leaf(t, "ocsp", ocspresp.Status{State: ocspresp.Good})
	oc := newChecker(t, Config{OCSP: OCSPRequire})
	ochain := []*x509.Certificate{ol.Cert, g.ca.Cert}
	wantOK(t, oc.Check(ochain), g.srv.URL)
	if n := testing.AllocsPerRun(1000, func() { oc.Check(ochain) }); n != 0 {
		t.Errorf("OCSP path: %v allocations per Check", n)
	}
}
