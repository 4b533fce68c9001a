package policy_test

import (
	"fmt"

	"github.com/mtlsgate/mtlsgate/internal/identity"
	"github.com/mtlsgate/mtlsgate/internal/policy"
)

func ExampleCompile() {
	_, err := policy.Compile([]policy.Rule{
		{CN: "alice"},
		{},
		{FingerprintSHA256: "AB:CD:EF:01:23:45"},
	})
	fmt.Println(err)
	// Output:
	// allow[1]: entry has no keys; it would allow every certificate
	// allow[2].fingerprint_sha256: want 64 hex digits, got 12
}

func ExamplePolicy_Allowed() {
	p, err := policy.Compile([]policy.Rule{
		{CN: "alice", OU: "payments"},
		{SPIFFEID: "spiffe://example.org/ns/*/sa/orders"},
		{DNS: "*.svc.example.com"},
	})
	if err != nil {
		panic(err)
	}
	id := &identity.Identity{
		CommonName: "orders",
		DNSNames:   []string{"orders.svc.example.com"},
		SPIFFEID:   "spiffe://example.org/ns/prod/sa/orders",
	}
	fmt.Println(p.Allowed(id))
	fmt.Println(p.Allowed(nil))
	// Output:
	// true 1
	// false -1
}

func ExamplePolicy_Explain() {
	p, err := policy.Compile([]policy.Rule{
		{CN: "alice"},
		{DNS: "*.svc.example.com"},
	})
	if err != nil {
		panic(err)
	}
	id := &identity.Identity{CommonName: "bob", DNSNames: []string{"bob.example.com"}}
	for _, r := range p.Explain(id) {
		fmt.Println(r.Reason)
	}
	// Output:
	// CN=bob does not match cn: "alice" in allow[0]
	// DNS=bob.example.com does not match dns: "*.svc.example.com" in allow[1]
}
