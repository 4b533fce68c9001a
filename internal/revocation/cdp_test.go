package revocation

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCDPAllowed: a leaf naming a CDP on an allowed host gets its CRL
// fetched in the background; the first check follows on_unavailable.
func TestCDPAllowed(t *testing.T) {
	ca := newOSSLCA(t, "CDP CA", true)
	srv := newCRLServer(t, nil)
	url := srv.URL + "/ca.crl"
	good, _ := ca.issue("good", leafOpts{CDP: url})
	bad, badPath := ca.issue("bad", leafOpts{CDP: url})
	ca.revoke(badPath, "cessationOfOperation")
	crlPath := filepath.Join(t.TempDir(), "ca.crl")
	ca.gencrl(crlPath)
	data, _ := os.ReadFile(crlPath)
	srv.set(200, "application/pkix-crl", data)

	c := newChecker(t, Config{UseCDP: true, CDPAllowHosts: []string{"127.0.0.0/8"}, OnUnavailable: FailOpen})
	r := c.Check([]*x509.Certificate{good, ca.cert})
	wantFailOpen(t, r, CodeCRLUnavailable, url)
	waitFor(t, "the CDP fetch", func() bool { return c.Check([]*x509.Certificate{good, ca.cert}).Code == CodeOK })
	wantOK(t, c.Check([]*x509.Certificate{good, ca.cert}), url)
	r = c.Check([]*x509.Certificate{bad, ca.cert})
	wantRefused(t, r, CodeRevoked, "cessationOfOperation", "CRL distribution point "+url)
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// TestCDPRefused: CDP URLs off the allow list, or not http(s), are never
// fetched, and the reason is logged and given.
func TestCDPRefused(t *testing.T) {
	ca := newOSSLCA(t, "CDP CA", true)
	srv := newCRLServer(t, []byte("never served"))
	cases := []struct {
		name  string
		cdp   string
		allow []string
		want  string
	}{
		{"empty allow list", srv.URL + "/ca.crl", nil, "the allow list is empty"},
		{"host not allowed", srv.URL + "/ca.crl", []string{"crl.example.com", "10.0.0.0/8"}, "not on the allow list"},
		{"file scheme", "file:///etc/passwd", []string{"127.0.0.1"}, "only http and https"},
		{"ldap scheme", "ldap://127.0.0.1/cn=CDP%20CA?certificateRevocationList", []string{"127.0.0.1"}, "only http and https"},
		{"user info", strings.Replace(srv.URL, "http://", "http://user:pw@", 1) + "/ca.crl", []string{"127.0.0.1"}, "user information"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leaf, _ := ca.issue("leaf"+string(rune('a'+i)), leafOpts{CDP: tc.cdp})
			lb, log := newLogBuffer()
			c := newChecker(t, Config{UseCDP: true, CDPAllowHosts: tc.allow, Logger: log})
			wantRefused(t, c.Check([]*x509.Certificate{leaf, ca.cert}), CodeCRLUnavailable)
			waitFor(t, "the refusal to be logged", func() bool { return strings.Contains(lb.String(), "refused") })
			if !strings.Contains(lb.String(), tc.want) {
				t.Errorf("log lacks %q:\n%s", tc.want, lb)
			}
			for range 3 {
				wantRefused(t, c.Check([]*x509.Certificate{leaf, ca.cert}), CodeCRLUnavailable, tc.want)
			}
			time.Sleep(20 * time.Millisecond)
			if n := srv.requests.Load(); n != 0 {
				t.Fatalf("the server saw %d requests", n)
			}
			if n := strings.Count(lb.String(), "refused"); n != 1 {
				t.Errorf("refusal logged %d times", n)
			}
		})
	}
}

// TestCDPLimit: at most MaxCDPURLs distinct URLs are fetched.
func TestCDPLimit(t *testing.T) {
	ca := newOSSLCA(t, "CDP CA", true)
	srv := newCRLServer(t, nil)
	crlPath := filepath.Join(t.TempDir(), "ca.crl")
	ca.gencrl(crlPath)
	data, _ := os.ReadFile(crlPath)
	srv.set(200, "application/pkix-crl", data)
	a, _ := ca.issue("a", leafOpts{CDP: srv.URL + "/a.crl"})
	b, _ := ca.issue("b", leafOpts{CDP: srv.URL + "/b.crl"})
	lb, log := newLogBuffer()
	c := newChecker(t, Config{UseCDP: true, CDPAllowHosts: []string{"127.0.0.1"}, MaxCDPURLs: 1, Logger: log})
	c.Check([]*x509.Certificate{a, ca.cert})
	waitFor(t, "the first CDP", func() bool { return c.Check([]*x509.Certificate{a, ca.cert}).Code == CodeOK })
	c.Check([]*x509.Certificate{b, ca.cert})
	waitFor(t, "the refusal", func() bool { return strings.Contains(lb.String(), "limit of 1 distinct CDP URLs") })
	if n := srv.requests.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
	// b is covered anyway by the CRL fetched for a (same issuer, full scope).
	wantOK(t, c.Check([]*x509.Certificate{b, ca.cert}), srv.URL+"/a.crl")
}
