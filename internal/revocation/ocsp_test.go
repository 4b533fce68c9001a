package revocation

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/mtlsgate/mtlsgate/internal/ocspresp"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// goOCSP is an OCSP responder on 127.0.0.1 backed by internal/ocspresp,
// with hooks: gate (when set, requests wait until it is closed), rewrite
// (replaces the response), mutateReq (changes the request first).
type goOCSP struct {
	srv      *httptest.Server
	ca       *testpki.CA
	resp     *ocspresp.Responder
	status   sync.Map // serial string -> ocspresp.Status
	requests atomic.Int32
	arrived  chan struct{}

	mu        sync.Mutex
	gate      chan struct{}
	rewrite   func(req []byte) (status int, ctype string, body []byte)
	mutateReq func([]byte) []byte
}

func newGoOCSP(t testing.TB) *goOCSP {
	t.Helper()
	g := &goOCSP{ca: testpki.NewRootCA(t, "Go OCSP CA"), arrived: make(chan struct{}, 100)}
	g.resp = ocspresp.New(g.ca.Cert, ocspresp.SourceFunc(func(sn *big.Int) ocspresp.Status {
		if v, ok := g.status.Load(sn.String()); ok {
			return v.(ocspresp.Status)
		}
		return ocspresp.Status{}
	}), ocspresp.Options{Logger: quietLogger, CacheSize: -1})
	g.resp.SetSigner(ocspresp.Signer{Cert: g.ca.Cert, Key: g.ca.Key})
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(func() {
		g.release()
		g.srv.Close()
	})
	return g
}

func (g *goOCSP) serve(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	body, _ := io.ReadAll(r.Body)
	g.mu.Lock()
	gate, rewrite, mutate := g.gate, g.rewrite, g.mutateReq
	g.mu.Unlock()
	select {
	case g.arrived <- struct{}{}:
	default:
	}
	if gate != nil {
		<-gate
	}
	if rewrite != nil {
		st, ct, b := rewrite(body)
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(st)
		_, _ = w.Write(b)
		return
	}
	if mutate != nil {
		body = mutate(body)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	g.resp.ServeHTTP(w, r)
}

// hold makes requests wait until release.
func (g *goOCSP) hold() {
	g.mu.Lock()
	g.gate = make(chan struct{})
	g.mu.Unlock()
}

func (g *goOCSP) release() {
	g.mu.Lock()
	if g.gate != nil {
		close(g.gate)
		g.gate = nil
	}
	g.mu.Unlock()
}

func (g *goOCSP) leaf(t testing.TB, cn string, st ocspresp.Status) *testpki.Leaf {
	l := g.ca.Issue(t, testpki.Options{CN: cn, OCSPServer: []string{g.srv.URL}})
	g.status.Store(l.Cert.SerialNumber.String(), st)
	return l
}

func (g *goOCSP) chain(l *testpki.Leaf) []*x509.Certificate {
	return []*x509.Certificate{l.Cert, g.ca.Cert}
}

func TestOCSPCacheHitAndCoalescing(t *testing.T) {
	g := newGoOCSP(t)
	leaf := g.leaf(t, "client", ocspresp.Status{State: ocspresp.Good})
	c := newChecker(t, Config{OCSP: OCSPRequire})

	// Ten concurrent checks while the responder is held: one request.
	g.hold()
	const n = 10
	results := make(chan Result, n)
	for range n {
		go func() { results <- c.Check(g.chain(leaf)) }()
	}
	waitFor(t, "every check to miss the cache", func() bool { return c.ocspMisses.load() == n })
	g.release()
	for range n {
		wantOK(t, <-results, g.srv.URL)
	}
	if got := g.requests.Load(); got != 1 {
		t.Fatalf("%d HTTP requests for %d concurrent checks, want 1", got, n)
	}
	// And later checks are cache hits.
	for range 5 {
		wantOK(t, c.Check(g.chain(leaf)), g.srv.URL)
	}
	if got := g.requests.Load(); got != 1 {
		t.Fatalf("%d HTTP requests after cache hits", got)
	}
	if c.ocspHits.load() != 5 {
		t.Errorf("hits %d, want 5", c.ocspHits.load())
	}
}

// TestOCSPPreferNeverBlocks: in prefer mode Check returns while the
// responder has not answered.
func TestOCSPPreferNeverBlocks(t *testing.T) {
	g := newGoOCSP(t)
	leaf := g.leaf(t, "client", ocspresp.Status{State: ocspresp.Good})
	c := newChecker(t, Config{OCSP: OCSPPrefer, OnUnavailable: FailOpen, OCSPTimeout: time.Minute})
	g.hold()
	done := make(chan Result, 1)
	go func() { done <- c.Check(g.chain(leaf)) }()
	var r Result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Check blocked on the held responder")
	}
	// The responder got the query, and is still holding it: Check did
	// not wait for the answer.
	<-g.arrived
	wantFailOpen(t, r, CodeOCSPUnavailable, "being asked in the background")
	wantFailOpen(t, c.Check(g.chain(leaf)), CodeOCSPUnavailable)
	g.release()
	waitFor(t, "the background answer", func() bool { return c.Check(g.chain(leaf)).Code == CodeOK })
	if got := g.requests.Load(); got != 1 {
		t.Errorf("%d requests, want 1", got)
	}
}

func TestOCSPRequireTimeout(t *testing.T) {
	g := newGoOCSP(t)
	leaf := g.leaf(t, "client", ocspresp.Status{State: ocspresp.Good})
	for _, mode := range []FailMode{FailClosed, FailOpen} {
		c := newChecker(t, Config{OCSP: OCSPRequire, OnUnavailable: mode, OCSPTimeout: 100 * time.Millisecond})
		g.hold()
		r := c.Check(g.chain(leaf))
		if mode == FailClosed {
			wantRefused(t, r, CodeOCSPUnavailable, "no answer within 100ms")
		} else {
			wantFailOpen(t, r, CodeOCSPUnavailable, "no answer within 100ms")
		}
		// Within the retry delay the failure is answered at once.
		before := g.requests.Load()
		c.Check(g.chain(leaf))
		if g.requests.Load() != before {
			t.Error("a new query right after a failure")
		}
		g.release()
	}
}

// TestOCSPRefresh: an answer is refreshed in the background before it
// expires, for a certificate seen recently.
func TestOCSPRefresh(t *testing.T) {
	g := newGoOCSP(t)
	leaf := g.leaf(t, "client", ocspresp.Status{State: ocspresp.Good})
	clk := &clock{}
	c := newChecker(t, Config{OCSP: OCSPRequire, Now: clk.Now})
	wantOK(t, c.Check(g.chain(leaf)), g.srv.URL)
	g0 := c.Generation()
	// Revoked meanwhile; the cached answer still says good.
	g.status.Store(leaf.Cert.SerialNumber.String(), ocspresp.Status{State: ocspresp.Revoked, RevokedAt: time.Now().Add(-time.Minute), Reason: 1})
	wantOK(t, c.Check(g.chain(leaf)), g.srv.URL)
	clk.Add(45 * time.Minute) // past 2/3 of the responder's 1h validity
	c.maintainOCSP(clk.Now())
	waitFor(t, "the refresh", func() bool { return c.Check(g.chain(leaf)).Revoked })
	if c.Generation() == g0 {
		t.Error("generation unchanged after a changed answer")
	}
	if g.requests.Load() != 2 {
		t.Errorf("%d requests, want 2", g.requests.Load())
	}
}

// signedResponse makes a response signed by key; issuer names the
// CertID's issuer; responder, when not nil, is embedded in the response.
func signedResponse(t *testing.T, issuer, responder *x509.Certificate, key crypto.Signer, tmpl ocsp.Response) []byte {
	t.Helper()
	if tmpl.ThisUpdate.IsZero() {
		tmpl.ThisUpdate = time.Now().Add(-time.Minute)
	}
	if tmpl.NextUpdate.IsZero() {
		tmpl.NextUpdate = time.Now().Add(time.Hour)
	}
	idCert := responder
	if idCert == nil {
		idCert = issuer
	}
	tmpl.Certificate = responder
	der, err := ocsp.CreateResponse(issuer, idCert, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestOCSPBadResponses(t *testing.T) {
	g := newGoOCSP(t)
	leaf := g.leaf(t, "client", ocspresp.Status{State: ocspresp.Good})
	sn := leaf.Cert.SerialNumber
	other := testpki.NewRootCA(t, "Go OCSP CA") // same name, other key
	delegNoEKU := g.ca.Issue(t, testpki.Options{CN: "responder without EKU"})
	delegEKU := g.ca.Issue(t, testpki.Options{CN: "delegated responder", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})
	delegOther := other.Issue(t, testpki.Options{CN: "foreign responder", EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}})
	good := ocsp.Response{Status: ocsp.Good, SerialNumber: sn}
	fixed := func(body []byte) func([]byte) (int, string, []byte) {
		return func([]byte) (int, string, []byte) { return 200, "application/ocsp-response", body }
	}
	valid := signedResponse(t, g.ca.Cert, nil, g.ca.Key, good)
	cases := []struct {
		name    string
		rewrite func([]byte) (int, string, []byte)
		mutate  func([]byte) []byte
		want    string
	}{
		{name: "HTML", rewrite: func([]byte) (int, string, []byte) {
			return 200, "text/html", []byte("<html><body>proxy login</body></html>")
		}, want: "text/html"},
		{name: "500", rewrite: func([]byte) (int, string, []byte) { return 500, "text/plain", nil }, want: "HTTP 500"},
		{name: "garbage", rewrite: fixed([]byte("\x30\x82garbage")), want: "not a valid OCSP response"},
		{name: "truncated", rewrite: fixed(valid[:len(valid)-10]), want: "not a valid OCSP response"},
		{name: "tryLater", rewrite: fixed(ocsp.TryLaterErrorResponse), want: `answered "try later"`},
		{name: "signed by another CA", rewrite: fixed(signedResponse(t, g.ca.Cert, nil, other.Key, good)), want: "not signed by the issuer"},
		{name: "CertID of another issuer", rewrite: fixed(signedResponse(t, other.Cert, g.ca.Cert, g.ca.Key, good)), want: "another issuer"},
		{name: "another serial", rewrite: fixed(signedResponse(t, g.ca.Cert, g.ca.Cert, g.ca.Key,
			ocsp.Response{Status: ocsp.Good, SerialNumber: big.NewInt(42)})), want: "no response matching"},
		{name: "expired", rewrite: fixed(signedResponse(t, g.ca.Cert, g.ca.Cert, g.ca.Key, ocsp.Response{Status: ocsp.Good,
			SerialNumber: sn, ThisUpdate: time.Now().Add(-3 * time.Hour), NextUpdate: time.Now().Add(-time.Hour)})), want: "expired at"},
		{name: "future", rewrite: fixed(signedResponse(t, g.ca.Cert, g.ca.Cert, g.ca.Key, ocsp.Response{Status: ocsp.Good,
			SerialNumber: sn, ThisUpdate: time.Now().Add(time.Hour), NextUpdate: time.Now().Add(2 * time.Hour)})), want: "in the future"},
		{name: "delegated without EKU", rewrite: fixed(signedResponse(t, g.ca.Cert, delegNoEKU.Cert, delegNoEKU.Key, good)), want: "lacks the OCSPSigning"},
		{name: "delegated by another CA", rewrite: fixed(signedResponse(t, g.ca.Cert, delegOther.Cert, delegOther.Key, good)), want: "not signed by the issuer"},
		{name: "bad nonce", mutate: func(req []byte) []byte {
			out := append([]byte(nil), req...)
			out[len(out)-1] ^= 0xff // the nonce is the request's last field
			return out
		}, want: "nonce does not match"},
		{name: "oversize", rewrite: fixed(make([]byte, maxOCSPResponse+10)), want: "larger than the limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g.mu.Lock()
			g.rewrite, g.mutateReq = tc.rewrite, tc.mutate
			g.mu.Unlock()
			c := newChecker(t, Config{OCSP: OCSPRequire})
			wantRefused(t, c.Check(g.chain(leaf)), CodeOCSPUnavailable, tc.want)
		})
	}
	// The positive controls: delegated responder with the EKU, and the
	// issuer itself.
	for name, body := range map[string][]byte{
		"delegated": signedResponse(t, g.ca.Cert, delegEKU.Cert, delegEKU.Key, good),
		"issuer":    valid,
	} {
		t.Run(name, func(t *testing.T) {
			g.mu.Lock()
			g.rewrite, g.mutateReq = fixed(body), nil
			g.mu.Unlock()
			c := newChecker(t, Config{OCSP: OCSPRequire})
			wantOK(t, c.Check(g.chain(leaf)), g.srv.URL)
		})
	}
}

// TestOCSPAllowList: a responder host off OCSPAllowHosts is not queried.
func TestOCSPAllowList(t *testing.T) {
	g := newGoOCSP(t)
	leaf := g.leaf(t, "client", ocspresp.Status{State: ocspresp.Good})
	c := newChecker(t, Config{OCSP: OCSPRequire, OCSPAllowHosts: []string{"ocsp.example.com"}})
	wantRefused(t, c.Check(g.chain(leaf)), CodeOCSPUnavailable, "not on the allow list")
	if g.requests.Load() != 0 {
		t.Error("queried a responder off the allow list")
	}
}

// TestOCSPCacheBound: the cache never holds more than its size.
func TestOCSPCacheBound(t *testing.T) {
	g := newGoOCSP(t)
	c := newChecker(t, Config{OCSP: OCSPRequire, OCSPCacheSize: ocspShards})
	for i := range 3 * ocspShards {
		l := g.leaf(t, "c", ocspresp.Status{State: ocspresp.Good})
		wantOK(t, c.Check(g.chain(l)), g.srv.URL)
		if n := c.ocspLen(); n > ocspShards {
			t.Fatalf("after %d certificates the cache holds %d", i+1, n)
		}
	}
}

// TestOCSPNoResponder: a leaf naming no responder is judged by the CRLs,
// in require mode too; with no CRL it follows on_unavailable.
func TestOCSPNoResponder(t *testing.T) {
	ca := testpki.NewRootCA(t, "No AIA CA")
	leaf := ca.Issue(t, testpki.Options{CN: "no aia"})
	chain := []*x509.Certificate{leaf.Cert, ca.Cert}
	c := newChecker(t, Config{OCSP: OCSPRequire})
	wantRefused(t, c.Check(chain), CodeOCSPUnavailable, "names no http(s) OCSP responder")
	path := testpki.WriteFile(t, t.TempDir(), "ca.crl", goCRL(t, ca.Cert, ca.Key, x509.RevocationList{}))
	c = newChecker(t, Config{OCSP: OCSPRequire, CRLs: []CRLSource{{File: path}}})
	wantOK(t, c.Check(chain), path)
}

// A cached revoked answer is never replaced by a good one, and an answer
// older than the one in force (a replay) is ignored.
func TestOCSPAnswersNeverGoBack(t *testing.T) {
	ca := testpki.NewRootCA(t, "Downgrade CA")
	leaf := ca.Issue(t, testpki.Options{CN: "x"})
	c := newChecker(t, Config{Name: "l", OCSP: OCSPPrefer})
	serial := serialOf(leaf.Cert)
	k := c.ocsp.key(leaf.Cert.RawIssuer, ca.Cert.RawSubjectPublicKeyInfo, serial)
	q := c.newQuery(leaf.Cert, ca.Cert, serial, "http://r")
	now := time.Now()
	issuer := string(leaf.Cert.RawIssuer)
	c.ocspStore(k, q, issuer, ocspAnswer{status: ocsp.Good, thisUpdate: now.Add(-time.Minute), nextUpdate: now.Add(time.Hour)}, nil)
	if e := c.ocspStore(k, q, issuer, ocspAnswer{status: ocsp.Good, thisUpdate: now.Add(-2 * time.Hour), nextUpdate: now.Add(time.Hour)}, nil); !e.ans.thisUpdate.Equal(now.Add(-time.Minute)) {
		t.Fatal("an older answer replaced the one in force")
	}
	c.ocspStore(k, q, issuer, ocspAnswer{status: ocsp.Revoked, thisUpdate: now, nextUpdate: now.Add(time.Hour), revokedAt: now}, nil)
	if e := c.ocspStore(k, q, issuer, ocspAnswer{status: ocsp.Good, thisUpdate: now.Add(time.Minute), nextUpdate: now.Add(time.Hour)}, nil); e.ans.status != ocsp.Revoked {
		t.Fatalf("a good answer replaced a revoked one (status %d)", e.ans.status)
	}
}

// TestOCSPStartAfterAnswerStored: a check that found no answer, and asks
// for one just after another query stored it (and left inflight), starts
// no second query: it gets the stored answer.
func TestOCSPStartAfterAnswerStored(t *testing.T) {
	g := newGoOCSP(t)
	leaf := g.leaf(t, "client", ocspresp.Status{State: ocspresp.Good})
	c := newChecker(t, Config{OCSP: OCSPPrefer, OnUnavailable: FailOpen, OCSPTimeout: time.Minute})
	issuer := g.ca.Cert
	serial := serialOf(leaf.Cert)
	k := c.ocsp.key(leaf.Cert.RawIssuer, issuer.RawSubjectPublicKeyInfo, serial)
	q := c.newQuery(leaf.Cert, issuer, serial, g.srv.URL)
	now := time.Now()
	stored := c.ocspStore(k, q, string(leaf.Cert.RawIssuer),
		ocspAnswer{status: ocsp.Good, thisUpdate: now, nextUpdate: now.Add(time.Hour)}, nil)

	// The caller saw no entry (nil) before the answer was stored.
	for _, background := range []bool{true, false} {
		call := c.ocspStart(k, q, string(leaf.Cert.RawIssuer), background, nil)
		if call == nil || call.e != stored {
			t.Fatalf("background %v: got %+v, want the stored answer", background, call)
		}
		<-call.done
	}
	// A caller that saw the stored entry (a refresh) does query.
	call := c.ocspStart(k, q, string(leaf.Cert.RawIssuer), true, stored)
	if call == nil {
		t.Fatal("refresh not started")
	}
	<-call.done
	if got := g.requests.Load(); got != 1 {
		t.Errorf("%d requests, want 1 (the refresh only)", got)
	}
}
