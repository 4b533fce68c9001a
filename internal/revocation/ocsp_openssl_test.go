package revocation

import (
	"bufio"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ocspFixture is an openssl CA whose client certificates name an "openssl
// ocsp" responder on 127.0.0.1.
type ocspFixture struct {
	ca                 *osslCA
	url                string
	resp               *ocspResponder
	good, bad, unknown *x509.Certificate
	badAt              time.Time
}

func newOCSPFixture(t *testing.T) *ocspFixture {
	t.Helper()
	needOpenSSL(t)
	for attempt := 0; attempt < 5; attempt++ {
		port := freePort(t)
		f := &ocspFixture{ca: newOSSLCA(t, "OCSP Test CA", true), url: fmt.Sprintf("http://127.0.0.1:%d", port)}
		f.good, _ = f.ca.issue("good", leafOpts{OCSP: f.url})
		var badPath string
		f.bad, badPath = f.ca.issue("bad", leafOpts{OCSP: f.url})
		f.unknown, _ = f.ca.issue("unknown", leafOpts{OCSP: f.url, Unrecorded: true})
		f.ca.revoke(badPath, "keyCompromise")
		f.badAt = indexRevocationTime(t, f.ca, f.bad)
		var ok bool
		if f.resp, ok = f.ca.startOCSP(port); ok {
			return f
		}
	}
	t.Fatal("could not start openssl ocsp")
	return nil
}

// indexRevocationTime reads the revocation time of cert from index.txt
// (V|R, expiry, revocation[,reason], serial, file, subject).
func indexRevocationTime(t *testing.T, ca *osslCA, cert *x509.Certificate) time.Time {
	t.Helper()
	fh, err := os.Open(filepath.Join(ca.dir, "index.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) < 4 || fields[0] != "R" || !strings.EqualFold(fields[3], fmt.Sprintf("%X", cert.SerialNumber)) {
			continue
		}
		at, err := time.Parse("060102150405Z", strings.Split(fields[2], ",")[0])
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	t.Fatalf("serial %X not revoked in index.txt", cert.SerialNumber)
	return time.Time{}
}

func (f *ocspFixture) chain(leaf *x509.Certificate) []*x509.Certificate {
	return []*x509.Certificate{leaf, f.ca.cert}
}

func TestOpenSSLOCSP(t *testing.T) {
	f := newOCSPFixture(t)
	t.Run("require", func(t *testing.T) {
		c := newChecker(t, Config{OCSP: OCSPRequire})
		wantOK(t, c.Check(f.chain(f.good)), f.url)
		wantRevoked(t, c.Check(f.chain(f.bad)), f.badAt, 1, "keyCompromise", "OCSP responder "+f.url)
		wantRefused(t, c.Check(f.chain(f.unknown)), CodeOCSPUnknown, "does not know", "fail_closed")
		// Second checks are cache hits.
		misses := c.ocspMisses.load()
		wantOK(t, c.Check(f.chain(f.good)), f.url)
		wantRefused(t, c.Check(f.chain(f.bad)), CodeRevoked)
		if c.ocspMisses.load() != misses || c.ocspHits.load() < 2 {
			t.Errorf("hits %d misses %d", c.ocspHits.load(), c.ocspMisses.load())
		}
	})
	t.Run("require fail_open unknown", func(t *testing.T) {
		c := newChecker(t, Config{OCSP: OCSPRequire, OnUnavailable: FailOpen})
		wantFailOpen(t, c.Check(f.chain(f.unknown)), CodeOCSPUnknown)
	})
	t.Run("prefer", func(t *testing.T) {
		c := newChecker(t, Config{OCSP: OCSPPrefer, OnUnavailable: FailOpen})
		// Nothing cached yet: answered at once, query in the background.
		wantFailOpen(t, c.Check(f.chain(f.good)), CodeOCSPUnavailable, "no OCSP answer", "being asked in the background")
		waitFor(t, "the background answer", func() bool { return !c.Check(f.chain(f.good)).FailOpen })
		wantOK(t, c.Check(f.chain(f.good)), f.url)
		c.Check(f.chain(f.bad))
		waitFor(t, "the background answer", func() bool { return c.Check(f.chain(f.bad)).Revoked })
		wantRevoked(t, c.Check(f.chain(f.bad)), f.badAt, 1)
	})

	// The responder goes away.
	f.resp.stop()
	t.Run("down fail_open", func(t *testing.T) {
		c := newChecker(t, Config{OCSP: OCSPRequire, OnUnavailable: FailOpen})
		wantFailOpen(t, c.Check(f.chain(f.good)), CodeOCSPUnavailable, f.url, "could not be used")
	})
	t.Run("down fail_closed", func(t *testing.T) {
		c := newChecker(t, Config{OCSP: OCSPRequire})
		r := c.Check(f.chain(f.good))
		wantRefused(t, r, CodeOCSPUnavailable, f.url, "connection refused")
		if r.Source != f.url {
			t.Errorf("source %q", r.Source)
		}
	})
}
