package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

func TestExplain(t *testing.T) {
	p := mustCompile(t,
		Rule{CN: "alice"},
		Rule{O: "Globex"},
		Rule{CN: "bob", OU: "payments"},
		Rule{DNS: "*.svc.example.com"},
		Rule{Email: "ops@example.com", IP: "10.0.0.0/8"},
		Rule{SPIFFEID: "spiffe://example.org/ns/prod/sa/*"},
		Rule{FingerprintSHA256: fpAlice, Serial: "0A:1B"},
	)
	bob := &identity.Identity{
		CommonName:         "bob",
		Organization:       []string{"Acme Corp", "Acme, Inc"},
		OrganizationalUnit: []string{"payments"},
		Emails:             []string{"ops@example.com"},
		IPs:                []string{"192.168.1.1"},
		SPIFFEID:           "spiffe://example.org/ns/prod/sa/orders",
		FingerprintSHA256:  fpAlice,
		SerialHex:          "a1c",
	}
	want := []Result{
		{0, false, "cn", `CN=bob does not match cn: "alice" in allow[0]`},
		{1, false, "o", `O=["Acme Corp", "Acme, Inc"] does not match o: "Globex" in allow[1]`},
		{2, true, "", `matches allow[2] {cn: "bob", ou: "payments"}`},
		{3, false, "dns", `certificate has no DNS SAN; dns: "*.svc.example.com" in allow[3] requires one`},
		{4, false, "ip", `IP=192.168.1.1 does not match ip: "10.0.0.0/8" in allow[4]`},
		{5, true, "", `matches allow[5] {spiffe_id: "spiffe://example.org/ns/prod/sa/*"}`},
		{6, false, "serial", `serial=a1c does not match serial: "0A:1B" in allow[6]`},
	}
	got := p.Explain(bob)
	if len(got) != len(want) {
		t.Fatalf("Explain returned %d results, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
	if ok, idx := p.Allowed(bob); !ok || idx != 2 {
		t.Errorf("Allowed = (%v, %d), want (true, 2) like Explain", ok, idx)
	}
}

func TestExplainQuotesHostileValues(t *testing.T) {
	p := mustCompile(t, Rule{CN: "alice"})
	res := p.Explain(&identity.Identity{CommonName: "bob\n2026-01-01 level=INFO msg=allowed"})
	want := `CN="bob\n2026-01-01 level=INFO msg=allowed" does not match cn: "alice" in allow[0]`
	if res[0].Reason != want {
		t.Errorf("Reason = %q, want %q", res[0].Reason, want)
	}
}

func TestExplainNoCertificate(t *testing.T) {
	p := mustCompile(t, Rule{CN: "alice"}, Rule{DNS: "**"})
	for i, r := range p.Explain(nil) {
		if r.Matched || r.Rule != i || !strings.Contains(r.Reason, "no client certificate") {
			t.Errorf("Explain(nil)[%d] = %+v", i, r)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		rules  []Rule
		id     *identity.Identity
		reason string // "" for allowed
		msg    string
	}{
		{"allowed", []Rule{{CN: "alice"}}, alice(), "", ""},
		{"no certificate", []Rule{{CN: "alice"}}, nil, ReasonNoCertificate,
			"policy: no client certificate, and the allow list requires one"},
		{"one rule", []Rule{{CN: "bob"}},
			&identity.Identity{Subject: "CN=carol", CommonName: "carol", DNSNames: []string{"c.example.com"}},
			ReasonNoMatch, "policy: client certificate CN=carol (DNS:c.example.com) does not match the allow entry"},
		{"several rules", []Rule{{CN: "bob"}, {CN: "dave"}},
			&identity.Identity{Subject: "CN=carol", CommonName: "carol"},
			ReasonNoMatch, "policy: client certificate CN=carol matches none of the 2 allow entries"},
		{"empty list", nil, &identity.Identity{Subject: "CN=carol"},
			ReasonNoMatch, "policy: client certificate CN=carol denied: the allow list is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := mustCompile(t, tt.rules...).Check(tt.id)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var de *DeniedError
			if !errors.As(err, &de) || !errors.Is(err, ErrDenied) {
				t.Fatalf("Check = %v (%T), want a *DeniedError wrapping ErrDenied", err, err)
			}
			if de.Reason != tt.reason || err.Error() != tt.msg {
				t.Errorf("Check = (%s) %q\n        want (%s) %q", de.Reason, err, tt.reason, tt.msg)
			}
		})
	}
}
