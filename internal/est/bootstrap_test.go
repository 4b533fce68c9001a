package est

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/testpki"
)

// bootstrapHeader marks test requests whose connection "has" the bootstrap
// chain (the gateway decides that from the TLS connection).
const bootstrapHeader = "X-Test-Bootstrap"

func bootstrapServer(t *testing.T, a *ca.Authority, leaf *x509.Certificate, allow []string, auth Authenticator, manual bool) *Server {
	t.Helper()
	o := Options{
		Signer: FromAuthority(a), Auth: auth, DefaultProfile: "client",
		Bootstrap: func(r *http.Request) []*x509.Certificate {
			if r.Header.Get(bootstrapHeader) == "" {
				return nil
			}
			return []*x509.Certificate{leaf}
		},
		BootstrapAllowCN: allow,
	}
	if manual {
		o.ManualApproval, o.Queue = map[string]bool{"": true}, a.Store()
	}
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withBootstrap(r *http.Request) { r.Header.Set(bootstrapHeader, "1") }

func TestBootstrapEnroll(t *testing.T) {
	a := newAuthority(t)
	idev := testpki.NewRootCA(t, "Factory CA").Issue(t, testpki.Options{CN: "sensor-0042"})
	const p = PathPrefix + "simpleenroll"

	s := bootstrapServer(t, a, idev.Cert, nil, nil, false)
	certs := certsFrom(t, do(t, s, "POST", p, wrapped(csrFor(t, "sensor-0042", "sensor-0042")), withBootstrap))
	if certs[0].Subject.CommonName != "sensor-0042" || certs[0].CheckSignatureFrom(a.Intermediate()) != nil {
		t.Fatalf("bootstrap enrollment issued %s", certs[0].Subject)
	}
	for name, csr := range map[string][]byte{
		"other CN":  csrFor(t, "sensor-0043"),
		"other SAN": csrFor(t, "sensor-0042", "evil.example"),
	} {
		if r := do(t, s, "POST", p, wrapped(csr), withBootstrap); r.code != http.StatusForbidden {
			t.Errorf("%s: %d %s", name, r.code, r.body)
		}
	}
	// Without the certificate (and no accounts): 401.
	if r := do(t, s, "POST", p, wrapped(csrFor(t, "sensor-0042")), nil); r.code != http.StatusUnauthorized {
		t.Errorf("no bootstrap certificate: %d %s", r.code, r.body)
	}
	// Re-enrollment is not what a bootstrap certificate is for.
	if r := do(t, s, "POST", PathPrefix+"simplereenroll", wrapped(csrFor(t, "sensor-0042")), withBootstrap); r.code != http.StatusForbidden {
		t.Errorf("simplereenroll with a bootstrap certificate: %d", r.code)
	}

	// bootstrap_allow_cn replaces "its own CN".
	s = bootstrapServer(t, a, idev.Cert, []string{"sensor-*"}, &BasicAuth{Accounts: testAccounts}, false)
	certsFrom(t, do(t, s, "POST", p, wrapped(csrFor(t, "sensor-7")), withBootstrap))
	if r := do(t, s, "POST", p, wrapped(csrFor(t, "gateway")), withBootstrap); r.code != http.StatusForbidden {
		t.Errorf("name outside bootstrap_allow_cn: %d", r.code)
	}
	// HTTP Basic credentials, when sent, decide (a wrong password is not
	// rescued by the certificate).
	both := func(r *http.Request) { withBootstrap(r); r.SetBasicAuth("alice", "wrong") }
	if r := do(t, s, "POST", p, wrapped(csrFor(t, "sensor-7")), both); r.code != http.StatusUnauthorized {
		t.Errorf("wrong password with a bootstrap certificate: %d", r.code)
	}
}

// Under manual approval a bootstrap certificate's retries find its request.
func TestBootstrapPending(t *testing.T) {
	a := newAuthority(t)
	root := testpki.NewRootCA(t, "Factory CA")
	one := root.Issue(t, testpki.Options{CN: "sensor-1"})
	two := root.Issue(t, testpki.Options{CN: "sensor-1"}) // same name, another certificate
	der := csrFor(t, "sensor-1")
	const p = PathPrefix + "simpleenroll"
	s1 := bootstrapServer(t, a, one.Cert, nil, nil, true)
	id := queued30(t, do(t, s1, "POST", p, wrapped(der), withBootstrap))
	if again := queued30(t, do(t, s1, "POST", p, wrapped(der), withBootstrap)); again != id {
		t.Fatalf("retry: %s, want %s", again, id)
	}
	s2 := bootstrapServer(t, a, two.Cert, nil, nil, true)
	if other := queued30(t, do(t, s2, "POST", p, wrapped(der), withBootstrap)); other == id {
		t.Fatal("another bootstrap certificate found the first one's request")
	}
}

// queued30 is queued with the default Retry-After.
func queued30(t *testing.T, r resp) string {
	t.Helper()
	if r.code != http.StatusAccepted || r.h.Get("Retry-After") != fmt.Sprint(int(DefaultRetryAfter/time.Second)) {
		t.Fatalf("want 202 with Retry-After, got %d %v: %s", r.code, r.h, r.body)
	}
	m := requestID.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no request ID in %q", r.body)
	}
	return m[1]
}

// stubSigner fails with err.
type stubSigner struct {
	chain []*x509.Certificate
	err   error
}

func (s stubSigner) Chain() []*x509.Certificate { return s.chain }
func (s stubSigner) SignCSR(context.Context, []byte, string, func(*ca.IssueRequest)) (*x509.Certificate, error) {
	return nil, s.err
}

// TestSigningErrorClasses: the CA's error classes become 400, 403 or a
// generic 500, and every request is observed.
func TestSigningErrorClasses(t *testing.T) {
	a := newAuthority(t)
	var mu sync.Mutex
	seen := map[string]int{}
	observe := func(op, result string) {
		mu.Lock()
		seen[op+"/"+result]++
		mu.Unlock()
	}
	der := csrFor(t, "device-1")
	for name, tc := range map[string]struct {
		err    error
		code   int
		body   string
		result string
	}{
		"malformed":      {fmt.Errorf("x: %w", ca.ErrMalformedCSR), 400, "certificate request refused: x", "bad_request"},
		"invalid":        {fmt.Errorf("bad name: %w", ca.ErrInvalidRequest), 400, "bad name", "bad_request"},
		"not permitted":  {fmt.Errorf("profile says no: %w", ca.ErrNotPermitted), 403, "profile says no", "refused"},
		"issuer revoked": {fmt.Errorf("issuing CA revoked: %w", ca.ErrIssuerRevoked), 403, "issuing CA revoked", "refused"},
		"store failure":  {errors.New("store: put certificate in /var/lib/pki/ca.db: disk I/O error"), 500, "internal error", "error"},
	} {
		t.Run(name, func(t *testing.T) {
			clear(seen)
			s, err := NewServer(Options{Signer: stubSigner{chain: []*x509.Certificate{a.Intermediate()}, err: tc.err},
				Auth: &BasicAuth{Accounts: testAccounts}, DefaultProfile: "client", Observe: observe})
			if err != nil {
				t.Fatal(err)
			}
			r := do(t, s, "POST", PathPrefix+"simpleenroll", wrapped(der), basic("alice", "s3cret"))
			if r.code != tc.code || !strings.Contains(r.body, tc.body) {
				t.Fatalf("%d %q", r.code, r.body)
			}
			if tc.code == 500 && strings.Contains(r.body, "disk") {
				t.Fatal("internal details in the answer")
			}
			if seen["simpleenroll/"+tc.result] != 1 {
				t.Fatalf("observed %v", seen)
			}
		})
	}
	// The real CA: a weak key is refused by policy (403), garbage is 400.
	clear(seen)
	s, _ := NewServer(Options{Signer: FromAuthority(a), Auth: &BasicAuth{Accounts: testAccounts}, DefaultProfile: "client", Observe: observe})
	do(t, s, "GET", PathPrefix+"cacerts", "", nil)
	do(t, s, "GET", PathPrefix+"nothing", "", nil)
	do(t, s, "POST", PathPrefix+"simpleenroll", "junk!", basic("alice", "s3cret"))
	do(t, s, "POST", PathPrefix+"simpleenroll", wrapped(der), nil)
	do(t, s, "POST", PathPrefix+"serverkeygen", wrapped(der), nil)
	want := map[string]int{"cacerts/ok": 1, "unknown/not_found": 1, "simpleenroll/bad_request": 1, "simpleenroll/unauthorized": 1, "serverkeygen/not_found": 1}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("observed %v, want %v", seen, want)
	}
}
