package revocation

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// crlFixture is an openssl CA with a good and a revoked client
// certificate and a first CRL.
type crlFixture struct {
	ca              *osslCA
	good, bad       *x509.Certificate
	goodPath        string
	crl1            []byte // DER, CRL number 1, "bad" revoked
	badAt           time.Time
	crlFile, crlDER string
}

func newCRLFixture(t *testing.T) *crlFixture {
	t.Helper()
	f := &crlFixture{ca: newOSSLCA(t, "Partner CA", true)}
	f.good, f.goodPath = f.ca.issue("good", leafOpts{})
	var badPath string
	f.bad, badPath = f.ca.issue("bad", leafOpts{})
	f.ca.revoke(badPath, "keyCompromise")
	dir := t.TempDir()
	f.crlFile = filepath.Join(dir, "partner.crl")
	f.crl1 = f.ca.gencrl(f.crlFile)
	f.crlDER = filepath.Join(dir, "partner.der")
	if err := os.WriteFile(f.crlDER, f.crl1, 0o600); err != nil {
		t.Fatal(err)
	}
	rl, err := x509.ParseRevocationList(f.crl1)
	if err != nil {
		t.Fatal(err)
	}
	f.badAt = rl.RevokedCertificateEntries[0].RevocationTime
	return f
}

func (f *crlFixture) chain(leaf *x509.Certificate) []*x509.Certificate {
	return []*x509.Certificate{leaf, f.ca.cert}
}

func newChecker(t *testing.T, cfg Config) *Checker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func wantOK(t *testing.T, r Result, source string) {
	t.Helper()
	if r.Revoked || r.Code != CodeOK || r.FailOpen || r.Source != source {
		t.Fatalf("want OK from %q, got %+v", source, r)
	}
}

func wantRefused(t *testing.T, r Result, code string, in ...string) {
	t.Helper()
	if !r.Revoked || r.Code != code || r.FailOpen {
		t.Fatalf("want refused with %q, got %+v", code, r)
	}
	for _, s := range in {
		if !strings.Contains(r.Reason, s) {
			t.Errorf("reason %q lacks %q", r.Reason, s)
		}
	}
}

func wantFailOpen(t *testing.T, r Result, code string, in ...string) {
	t.Helper()
	if r.Revoked || r.Code != code || !r.FailOpen {
		t.Fatalf("want fail-open with %q, got %+v", code, r)
	}
	for _, s := range in {
		if !strings.Contains(r.Reason, s) {
			t.Errorf("reason %q lacks %q", r.Reason, s)
		}
	}
}

func wantRevoked(t *testing.T, r Result, at time.Time, reason int, in ...string) {
	t.Helper()
	wantRefused(t, r, CodeRevoked, in...)
	if !r.RevokedAt.Equal(at) || r.RevocationReason != reason {
		t.Fatalf("revoked at %s reason %d, want %s reason %d", r.RevokedAt, r.RevocationReason, at, reason)
	}
}

func TestOpenSSLCRLFile(t *testing.T) {
	f := newCRLFixture(t)
	for _, path := range []string{f.crlFile, f.crlDER} {
		t.Run(filepath.Ext(path), func(t *testing.T) {
			c := newChecker(t, Config{Name: "l1", CRLs: []CRLSource{{File: path}}})
			wantOK(t, c.Check(f.chain(f.good)), path)
			wantRevoked(t, c.Check(f.chain(f.bad)), f.badAt, 1,
				"keyCompromise", `"CN=bad"`, f.bad.SerialNumber.Text(16), "CRL file "+path, "CRL number 1",
				f.badAt.UTC().Format(time.RFC3339))
		})
	}
}

func TestOpenSSLCRLFileReload(t *testing.T) {
	f := newCRLFixture(t)
	lb, log := newLogBuffer()
	c := newChecker(t, Config{CRLs: []CRLSource{{File: f.crlFile}}, Logger: log})
	wantOK(t, c.Check(f.chain(f.good)), f.crlFile)
	g0 := c.Generation()

	// Revoke "good" too; publish CRL number 2 by renaming over the file.
	f.ca.revoke(f.goodPath, "superseded")
	tmp := f.crlFile + ".new"
	der2 := f.ca.gencrl(tmp)
	if err := os.Rename(tmp, f.crlFile); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Generation() == g0 {
		t.Fatal("generation did not change after a new CRL")
	}
	rl, _ := x509.ParseRevocationList(der2)
	var goodAt time.Time
	for _, e := range rl.RevokedCertificateEntries {
		if e.SerialNumber.Cmp(f.good.SerialNumber) == 0 {
			goodAt = e.RevocationTime
		}
	}
	wantRevoked(t, c.Check(f.chain(f.good)), goodAt, 4, "superseded", "CRL number 2")

	// An unchanged file does not move the generation.
	g1 := c.Generation()
	if err := c.Reload(context.Background()); err != nil || c.Generation() != g1 {
		t.Fatalf("unchanged reload: %v, generation %d -> %d", err, g1, c.Generation())
	}

	// CRL number 1 again: refused, number 2 stays in force.
	if err := os.WriteFile(f.crlFile, f.crl1, 0o600); err != nil {
		t.Fatal(err)
	}
	err := c.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "CRL number 1 is lower than 2") {
		t.Fatalf("rollback: %v", err)
	}
	if !strings.Contains(lb.String(), "previous CRL stays in force") {
		t.Errorf("rejection not logged:\n%s", lb)
	}
	wantRevoked(t, c.Check(f.chain(f.good)), goodAt, 4)
	if c.Generation() != g1 {
		t.Error("a rejected CRL moved the generation")
	}
}

// TestCRLFilePoll checks that Start notices a changed file by itself.
func TestCRLFilePoll(t *testing.T) {
	f := newCRLFixture(t)
	c := newChecker(t, Config{CRLs: []CRLSource{{File: f.crlFile}}, FilePoll: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Start(ctx)
	g0 := c.Generation()
	f.ca.revoke(f.goodPath, "keyCompromise")
	tmp := f.crlFile + ".new"
	f.ca.gencrl(tmp)
	if err := os.Rename(tmp, f.crlFile); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the file change to be picked up", func() bool { return c.Generation() != g0 })
	wantRefused(t, c.Check(f.chain(f.good)), CodeRevoked)
}

// crlServer serves whatever body/status is set, counting requests.
type crlServer struct {
	*httptest.Server
	body     atomic.Pointer[[]byte]
	status   atomic.Int32
	ctype    atomic.Pointer[string]
	requests atomic.Int32
}

func newCRLServer(t *testing.T, body []byte) *crlServer {
	s := &crlServer{}
	s.set(http.StatusOK, "application/pkix-crl", body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		w.Header().Set("Content-Type", *s.ctype.Load())
		w.WriteHeader(int(s.status.Load()))
		_, _ = w.Write(*s.body.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *crlServer) set(status int, ctype string, body []byte) {
	s.body.Store(&body)
	s.ctype.Store(&ctype)
	s.status.Store(int32(status))
}

func TestOpenSSLCRLURL(t *testing.T) {
	f := newCRLFixture(t)
	pemCRL, _ := os.ReadFile(f.crlFile)
	srv := newCRLServer(t, pemCRL)
	url := srv.URL + "/partner.crl"
	c := newChecker(t, Config{CRLs: []CRLSource{{URL: url, Refresh: time.Hour}}, MaxCRLBytes: 64 << 10})
	waitFor(t, "the first fetch", func() bool { return c.Generation() > 0 })
	wantOK(t, c.Check(f.chain(f.good)), url)
	wantRevoked(t, c.Check(f.chain(f.bad)), f.badAt, 1, "CRL URL "+url)

	// A new CRL (DER this time) is picked up by a refresh.
	f.ca.revoke(f.goodPath, "keyCompromise")
	der2 := f.ca.gencrl(filepath.Join(t.TempDir(), "2.crl"))
	srv.set(http.StatusOK, "application/pkix-crl", der2)
	g := c.Generation()
	if err := c.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Generation() == g {
		t.Fatal("generation unchanged")
	}
	wantRefused(t, c.Check(f.chain(f.good)), CodeRevoked, "CRL number 2")
	g = c.Generation()

	other := newOSSLCA(t, "Partner CA", false) // same name, other key
	forged := other.gencrl(filepath.Join(t.TempDir(), "forged.crl"))
	big := append(append([]byte(nil), der2...), make([]byte, 70<<10)...)
	cases := []struct {
		name, ctype string
		status      int
		body        []byte
		want        string
	}{
		{"HTML", "text/html; charset=utf-8", 200, []byte("<!doctype html><html><body>Login</body></html>"), "looks like HTML"},
		{"500", "text/plain", 500, []byte("oops"), "HTTP 500 Internal Server Error"},
		{"404", "text/plain", 404, nil, "HTTP 404"},
		{"truncated", "application/pkix-crl", 200, der2[:len(der2)/2], "not a DER CRL"},
		{"garbage", "application/octet-stream", 200, []byte("\x30\x03\x02\x01\x01garbage"), "trailing data"},
		{"empty", "application/pkix-crl", 200, nil, "empty CRL"},
		{"wrong PEM type", "text/plain", 200, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.good.Raw}), `"CERTIFICATE"`},
		{"oversize", "application/pkix-crl", 200, big, "larger than the limit"},
		{"rolled back", "application/pkix-crl", 200, f.crl1, "lower than"},
		{"signed by another CA", "application/pkix-crl", 200, forged, "does not verify against issuer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv.set(tc.status, tc.ctype, tc.body)
			err := c.Reload(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			wantRefused(t, c.Check(f.chain(f.good)), CodeRevoked, "CRL number 2")
			wantRefused(t, c.Check(f.chain(f.bad)), CodeRevoked)
			if c.Generation() != g {
				t.Error("generation moved")
			}
		})
	}
	var errs uint64
	for _, s := range c.allSources() {
		errs += s.loadsErr.Load()
	}
	if errs != uint64(len(cases)) {
		t.Errorf("%d load errors counted, want %d", errs, len(cases))
	}
}

// TestCRLNeverLoaded: a certificate whose CRL never loaded follows
// on_unavailable.
func TestCRLNeverLoaded(t *testing.T) {
	f := newCRLFixture(t)
	srv := newCRLServer(t, nil)
	srv.set(500, "text/plain", []byte("down"))
	for _, mode := range []FailMode{FailClosed, FailOpen} {
		c := newChecker(t, Config{CRLs: []CRLSource{{URL: srv.URL}}, OnUnavailable: mode})
		if err := c.Reload(context.Background()); err == nil {
			t.Fatal("want a load error")
		}
		r := c.Check(f.chain(f.good))
		want := []string{`no usable CRL for issuer "CN=Partner CA"`, "has never loaded (last error: HTTP 500"}
		if mode == FailClosed {
			wantRefused(t, r, CodeCRLUnavailable, append(want, "on_unavailable is fail_closed")...)
		} else {
			wantFailOpen(t, r, CodeCRLUnavailable, append(want, "on_unavailable is fail_open")...)
		}
	}
}

func TestOpenSSLCRLStale(t *testing.T) {
	f := newCRLFixture(t)
	now := time.Now()
	expired := filepath.Join(t.TempDir(), "expired.crl")
	f.ca.gencrl(expired, "-crl_lastupdate", osslTime(now.Add(-2*time.Hour)), "-crl_nextupdate", osslTime(now.Add(-time.Hour)))
	for _, mode := range []FailMode{FailClosed, FailOpen} {
		t.Run(mode.String(), func(t *testing.T) {
			lb, log := newLogBuffer()
			c := newChecker(t, Config{CRLs: []CRLSource{{File: expired}}, StaleCRL: mode, Logger: log})
			if !strings.Contains(lb.String(), "already past its nextUpdate") {
				t.Errorf("no warning for an expired CRL:\n%s", lb)
			}
			r := c.Check(f.chain(f.good))
			if mode == FailClosed {
				wantRefused(t, r, CodeCRLStale, "expired at", "CRL file "+expired)
			} else {
				wantFailOpen(t, r, CodeCRLStale, "expired at", "stale_crl is fail_open")
			}
			// A revocation in a stale CRL is still a revocation.
			wantRefused(t, c.Check(f.chain(f.bad)), CodeRevoked)
		})
	}

	// A fresh CRL becomes stale when the clock passes nextUpdate; the
	// background loop moves the generation.
	clk := &clock{}
	c := newChecker(t, Config{CRLs: []CRLSource{{File: f.crlFile}}, Now: clk.Now})
	wantOK(t, c.Check(f.chain(f.good)), f.crlFile)
	g := c.Generation()
	clk.Add(25 * time.Hour)
	c.maintain()
	if c.Generation() == g {
		t.Error("generation did not move when the CRL went stale")
	}
	wantRefused(t, c.Check(f.chain(f.good)), CodeCRLStale)
}

// TestCRLForgedLazy: a CRL in the issuer's name whose signature does not
// verify is unavailable for that issuer, logged once.
func TestCRLForgedLazy(t *testing.T) {
	f := newCRLFixture(t)
	other := newOSSLCA(t, "Partner CA", false)
	forged := filepath.Join(t.TempDir(), "forged.crl")
	other.gencrl(forged)
	lb, log := newLogBuffer()
	c := newChecker(t, Config{CRLs: []CRLSource{{File: forged}}, Logger: log})
	for range 3 {
		wantRefused(t, c.Check(f.chain(f.good)), CodeCRLUnavailable, "does not verify against this issuer")
	}
	if n := strings.Count(lb.String(), "CRL does not verify"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, lb)
	}
	// With the issuer known at load, the forged file is refused by New.
	_, err := New(Config{CRLs: []CRLSource{{File: forged}}, Issuers: []*x509.Certificate{f.ca.cert}, Logger: quietLogger})
	if err == nil || !strings.Contains(err.Error(), "does not verify against issuer") {
		t.Fatalf("New: %v", err)
	}
	// And after a lazy verification, the source knows its issuer too.
	c2 := newChecker(t, Config{CRLs: []CRLSource{{File: f.crlFile}}})
	wantOK(t, c2.Check(f.chain(f.good)), f.crlFile)
	data, _ := os.ReadFile(forged)
	if err := os.WriteFile(f.crlFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c2.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("Reload: %v", err)
	}
	wantOK(t, c2.Check(f.chain(f.good)), f.crlFile)
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.crl")
	_ = os.WriteFile(garbage, []byte("not a crl"), 0o600)
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{CRLs: []CRLSource{{File: filepath.Join(dir, "missing.crl")}}}, "no such file"},
		{Config{CRLs: []CRLSource{{File: garbage}}}, "not a DER CRL"},
		{Config{CRLs: []CRLSource{{File: garbage, URL: "http://x/"}}}, "exactly one of file and url"},
		{Config{CRLs: []CRLSource{{URL: "ftp://x/a.crl"}}}, "only http and https"},
		{Config{CDPAllowHosts: []string{"10.0.0.0/33"}}, "cdp_allow_hosts"},
		{Config{CDPAllowHosts: []string{"*.example.com"}}, "no wildcards"},
		{Config{OCSP: Mode(7)}, "invalid OCSP mode"},
		{Config{MaxCRLBytes: -1}, "must not be negative"},
	}
	for i, tc := range cases {
		tc.cfg.Logger = quietLogger
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("case %d: got %v, want %q", i, err, tc.want)
		}
	}
}

func TestCheckEdgeCases(t *testing.T) {
	f := newCRLFixture(t)
	c := newChecker(t, Config{CRLs: []CRLSource{{File: f.crlFile}}})
	wantRefused(t, c.Check(nil), CodeInvalidChain)
	wantRefused(t, c.Check([]*x509.Certificate{nil}), CodeInvalidChain)
	if r := c.Check([]*x509.Certificate{f.ca.cert}); r.Revoked || r.Code != "" {
		t.Errorf("trust anchor alone: %+v", r)
	}
	// A hand-built certificate without raw bytes must not panic.
	r := c.Check([]*x509.Certificate{{}, {}})
	if !r.Revoked {
		t.Errorf("empty certificates: %+v", r)
	}
	// Disabled checker: everything passes.
	off := newChecker(t, Config{})
	wantOK(t, off.Check(f.chain(f.bad)), "")
}
