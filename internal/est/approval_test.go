package est

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

// approvalServer serves a's CA with manual approval on label "iot" (and on
// the unlabelled path when all), tokens from a, and the clock now.
func approvalServer(t *testing.T, a *ca.Authority, all bool, now func() time.Time) *Server {
	t.Helper()
	tokens := &Tokens{
		Lookup: func(tok string) (string, error) { return asUnauth(a.EnrollmentTokenCN(context.Background(), tok)) },
		Spend:  func(tok string) error { return a.SpendEnrollmentToken(context.Background(), tok) },
		Used:   func(tok string) (string, error) { return asUnauth(a.UsedEnrollmentTokenCN(context.Background(), tok)) },
	}
	s, err := NewServer(Options{
		Signer: FromAuthority(a), Auth: AnyOf{&BasicAuth{Accounts: testAccounts}, tokens},
		DefaultProfile: "client", Labels: map[string]string{"iot": "client", "srv": "server"},
		ManualApproval: map[string]bool{"iot": true, "": all}, Queue: a.Store(),
		RetryAfter: 30 * time.Second, ServerKeygen: true, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func asUnauth(cn string, err error) (string, error) {
	if errors.Is(err, ca.ErrBadToken) {
		return "", ErrUnauthenticated
	}
	return cn, err
}

func approver(t *testing.T, a *ca.Authority, now func() time.Time) *Approver {
	t.Helper()
	ap, err := OpenApprover(a.Dir(), ApproverOptions{Actor: "cli:test", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ap.Close() })
	return ap
}

var requestID = regexp.MustCompile(`request ([0-9a-f]{16}) is waiting`)

// queued checks a 202 and returns the request ID it names.
func queued(t *testing.T, r resp) string {
	t.Helper()
	if r.code != http.StatusAccepted {
		t.Fatalf("want 202, got %d: %s", r.code, r.body)
	}
	if r.h.Get("Retry-After") != "30" || !strings.HasPrefix(r.h.Get("Content-Type"), "text/plain") {
		t.Errorf("202 headers: %v", r.h)
	}
	m := requestID.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("202 body names no request ID: %q", r.body)
	}
	return m[1]
}

func TestPendingApprovalFlow(t *testing.T) {
	a := newAuthority(t)
	s := approvalServer(t, a, false, time.Now)
	ap := approver(t, a, time.Now)
	const p = PathPrefix + "iot/simpleenroll"
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-1"}, DNSNames: []string{"device-1.example"}}
	key, der := makeCSR(t, tmpl)
	resigned, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	alice := basic("alice", "s3cret")

	id := queued(t, do(t, s, "POST", p, wrapped(der), alice))
	// The same CSR again, and a new CSR for the same key and names (as a
	// client re-signing it would send): the same request, no second row.
	for _, retry := range [][]byte{der, resigned} {
		if again := queued(t, do(t, s, "POST", p, wrapped(retry), alice)); again != id {
			t.Fatalf("retry got request %s, want %s", again, id)
		}
	}
	list, err := ap.List(context.Background(), false)
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].CN != "device-1" || list[0].KeyType != "ecdsa-p256" ||
		list[0].Credential != "basic:alice" || list[0].Label != "iot" || strings.Join(list[0].SANs, ",") != "dns:device-1.example" {
		t.Fatalf("pending list: %+v, %v", list, err)
	}
	// Names are checked before anything is queued.
	if r := do(t, s, "POST", p, wrapped(csrFor(t, "server-1")), alice); r.code != http.StatusForbidden {
		t.Fatalf("name outside allow_cn: %d %s", r.code, r.body)
	}
	// Another account with the same CSR is another request (bob may ask
	// for bob only, so use a CSR he may ask for).
	bobCSR := csrFor(t, "bob")
	idBob := queued(t, do(t, s, "POST", p, wrapped(bobCSR), basic("bob", "hunter2")))
	if idBob == id {
		t.Fatal("two credentials share a request")
	}
	// Labels without approval still issue at once.
	certsFrom(t, do(t, s, "POST", PathPrefix+"simpleenroll", wrapped(csrFor(t, "device-2")), alice))

	p1, cert, err := ap.Approve(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if p1.Status != store.PendingApproved || p1.Serial != store.SerialHex(cert.SerialNumber) || cert.Subject.CommonName != "device-1" {
		t.Fatalf("approved: %+v", p1)
	}
	got := certsFrom(t, do(t, s, "POST", p, wrapped(der), alice))
	if len(got) != 1 || !got[0].Equal(cert) {
		t.Fatal("the retry after approval did not return the approved certificate")
	}
	// Every later retry returns the same certificate (clients that lost
	// the answer ask again).
	if again := certsFrom(t, do(t, s, "POST", p, wrapped(der), alice)); !again[0].Equal(cert) {
		t.Fatal("a second retry returned another certificate")
	}
	if _, _, err := ap.Approve(context.Background(), id); !errors.Is(err, store.ErrPendingDecided) {
		t.Fatalf("approve twice: %v", err)
	}
	if _, _, err := ap.Approve(context.Background(), "00000000deadbeef"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("approve unknown: %v", err)
	}
	if _, _, err := ap.Approve(context.Background(), "not-an-id"); err == nil {
		t.Fatal("approve of a malformed ID succeeded")
	}
	if n := len(mustList(t, a, "device-1")); n != 1 {
		t.Fatalf("%d certificates for device-1, want 1", n)
	}

	// Reject: the retry gets 403 with the reason.
	if _, err := ap.Reject(context.Background(), idBob, "unknown\ndevice"); err == nil {
		t.Fatal("a reason with a newline was accepted")
	}
	if _, err := ap.Reject(context.Background(), idBob, "not on the inventory"); err != nil {
		t.Fatal(err)
	}
	r := do(t, s, "POST", p, wrapped(bobCSR), basic("bob", "hunter2"))
	if r.code != http.StatusForbidden || !strings.Contains(r.body, "not on the inventory") || !strings.Contains(r.body, idBob) {
		t.Fatalf("retry after rejection: %d %s", r.code, r.body)
	}
	if _, err := ap.Reject(context.Background(), idBob, "again"); !errors.Is(err, store.ErrPendingDecided) {
		t.Fatalf("reject twice: %v", err)
	}
	log := auditActions(t, a)
	for _, want := range []string{"est-queue", "est-approve", "est-reject", "est-enroll"} {
		if !strings.Contains(log, want) {
			t.Errorf("audit log has no %s: %s", want, log)
		}
	}
}

func mustList(t *testing.T, a *ca.Authority, cn string) []store.Certificate {
	t.Helper()
	l, err := a.Store().List(context.Background(), store.Filter{CN: cn})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func auditActions(t *testing.T, a *ca.Authority) string {
	t.Helper()
	log, err := a.Store().AuditLog(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range log {
		out = append(out, e.Action)
	}
	return strings.Join(out, " ")
}

// A one-time token is used up when its request is queued: it cannot queue
// a second request, but it collects the outcome of the first.
func TestPendingToken(t *testing.T) {
	a := newAuthority(t)
	s := approvalServer(t, a, true, time.Now)
	ap := approver(t, a, time.Now)
	tok, err := a.CreateEnrollmentToken(context.Background(), "device-9", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	der := csrFor(t, "device-9")
	const p = PathPrefix + "simpleenroll"
	id := queued(t, do(t, s, "POST", p, wrapped(der), basic("x", tok)))
	if _, err := a.EnrollmentTokenCN(context.Background(), tok); !errors.Is(err, ca.ErrBadToken) {
		t.Fatalf("the token was not used up when its request was queued: %v", err)
	}
	if again := queued(t, do(t, s, "POST", p, wrapped(der), basic("x", tok))); again != id {
		t.Fatalf("retry with the used token: %s, want %s", again, id)
	}
	if r := do(t, s, "POST", p, wrapped(csrFor(t, "device-9")), basic("x", tok)); r.code != http.StatusUnauthorized {
		t.Fatalf("the used token queued a second request: %d %s", r.code, r.body)
	}
	// Without approval, a used token is refused as before.
	if r := do(t, s, "POST", PathPrefix+"srv/simpleenroll", wrapped(csrFor(t, "device-9", "device-9")), basic("x", tok)); r.code != http.StatusUnauthorized {
		t.Fatalf("used token on a label without approval: %d %s", r.code, r.body)
	}
	if _, _, err := ap.Approve(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if c := certsFrom(t, do(t, s, "POST", p, wrapped(der), basic("x", tok))); c[0].Subject.CommonName != "device-9" {
		t.Fatalf("collected %s", c[0].Subject)
	}
	// serverkeygen never waits for approval (the key would have to wait in
	// the store).
	if r := do(t, s, "POST", PathPrefix+"serverkeygen", wrapped(csrFor(t, "device-3")), basic("alice", "s3cret")); r.code != http.StatusForbidden {
		t.Fatalf("serverkeygen under approval: %d %s", r.code, r.body)
	}
}

func TestPendingExpiry(t *testing.T) {
	a := newAuthority(t)
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s := approvalServer(t, a, false, now)
	ap := approver(t, a, now)
	der := csrFor(t, "device-4")
	const p = PathPrefix + "iot/simpleenroll"
	id := queued(t, do(t, s, "POST", p, wrapped(der), basic("alice", "s3cret")))
	offset.Store(int64(PendingLifetime + time.Minute))
	if _, _, err := ap.Approve(context.Background(), id); !errors.Is(err, store.ErrPendingExpired) {
		t.Fatalf("approve after expiry: %v", err)
	}
	if _, err := ap.Reject(context.Background(), id, ""); !errors.Is(err, store.ErrPendingExpired) {
		t.Fatalf("reject after expiry: %v", err)
	}
	if l, _ := ap.List(context.Background(), false); len(l) != 0 {
		t.Fatalf("expired request still listed: %+v", l)
	}
	if l, _ := ap.List(context.Background(), true); len(l) != 1 {
		t.Fatalf("--all does not list the expired request: %+v", l)
	}
	// The device is still asking: a new request is queued.
	if again := queued(t, do(t, s, "POST", p, wrapped(der), basic("alice", "s3cret"))); again == id {
		t.Fatal("an expired request answered the retry")
	}
}

// Of concurrent approvals of one request, one issues; the others fail and
// store nothing.
func TestPendingConcurrentApprove(t *testing.T) {
	a := newAuthority(t)
	s := approvalServer(t, a, false, time.Now)
	id := queued(t, do(t, s, "POST", PathPrefix+"iot/simpleenroll", wrapped(csrFor(t, "device-5")), basic("alice", "s3cret")))
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		ap := approver(t, a, time.Now) // separate stores, as separate CLI processes
		wg.Go(func() {
			_, _, err := ap.Approve(context.Background(), id)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrPendingDecided):
				t.Errorf("Approve: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || len(mustList(t, a, "device-5")) != 1 {
		t.Fatalf("%d approvals won, %d certificates", wins.Load(), len(mustList(t, a, "device-5")))
	}
}

// A request the profile refuses stays pending when approved.
func TestPendingApproveRefused(t *testing.T) {
	a := newAuthority(t)
	s, err := NewServer(Options{Signer: FromAuthority(a), Auth: &BasicAuth{Accounts: testAccounts},
		Labels: map[string]string{"srv": "server"}, ManualApproval: map[string]bool{"srv": true}, Queue: a.Store()})
	if err != nil {
		t.Fatal(err)
	}
	_, der := makeCSR(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "device-6"}})
	r := do(t, s, "POST", PathPrefix+"srv/simpleenroll", wrapped(der), basic("alice", "s3cret"))
	m := requestID.FindStringSubmatch(r.body)
	if r.code != http.StatusAccepted || m == nil {
		t.Fatalf("%d %s", r.code, r.body)
	}
	ap := approver(t, a, time.Now)
	if _, _, err := ap.Approve(context.Background(), m[1]); !errors.Is(err, ca.ErrNotPermitted) {
		t.Fatalf("approving a request the server profile refuses: %v", err)
	}
	if p, _ := a.Store().Pending(context.Background(), m[1]); p.Status != store.PendingWaiting {
		t.Fatalf("refused approval changed the request: %+v", p)
	}
	if _, err := NewServer(Options{Signer: FromAuthority(a), ManualApproval: map[string]bool{"": true}}); err == nil {
		t.Fatal("manual approval without a queue accepted")
	}
	if _, err := NewServer(Options{Signer: FromAuthority(a), ManualApproval: map[string]bool{"nope": true}, Queue: a.Store()}); err == nil {
		t.Fatal("manual approval for an unknown label accepted")
	}
}
