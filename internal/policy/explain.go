package policy

import (
	"fmt"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// Result says whether one allow entry matches an identity, and why not.
type Result struct {
	Rule    int    // index of the entry in the allow list
	Matched bool   // every key of the entry matches
	Key     string // first key that does not match ("cn", "dns", ...); empty when Matched or no certificate
	Reason  string // one sentence for logs and the diagnose command
}

// Explain checks id against every entry and returns one Result per entry, in
// order. For an entry that does not match, Reason names the first failing
// key, in the order cn, o, ou, dns, uri, email, ip, spiffe_id,
// fingerprint_sha256, issuer_cn, serial; for example
//
//	CN=bob does not match cn: "alice" in allow[0]
//
// Explain is for diagnostics: it allocates, and certificate values in its
// sentences are quoted when they contain control characters. It agrees with
// Allowed: the first Result with Matched set is the rule Allowed returns. It
// is safe for concurrent use; a nil Policy yields no results.
func (p *Policy) Explain(id *identity.Identity) []Result {
	if p == nil {
		return nil
	}
	out := make([]Result, len(p.rules))
	for i := range p.rules {
		out[i] = p.rules[i].explain(i, id)
	}
	return out
}

func (r *rule) explain(i int, id *identity.Identity) Result {
	res := Result{Rule: i}
	if id == nil {
		res.Reason = fmt.Sprintf("no client certificate; allow[%d] requires one", i)
		return res
	}
	for j := range r.keys {
		k := &r.keys[j]
		if k.matchID(id) {
			continue
		}
		sp := spec(k.f)
		res.Key = sp.key
		vs := k.idValues(id)
		if len(vs) == 0 {
			res.Reason = fmt.Sprintf("certificate has %s; %s: %q in allow[%d] requires one", sp.none, sp.key, k.raw, i)
			return res
		}
		res.Reason = fmt.Sprintf("%s=%s does not match %s: %q in allow[%d]", sp.label, showList(vs), sp.key, k.raw, i)
		return res
	}
	res.Matched = true
	parts := make([]string, len(r.keys))
	for j := range r.keys {
		parts[j] = fmt.Sprintf("%s: %q", spec(r.keys[j].f).key, r.keys[j].raw)
	}
	res.Reason = fmt.Sprintf("matches allow[%d] {%s}", i, strings.Join(parts, ", "))
	return res
}

// showList renders one value bare (quoted only if it must be) and several
// as ["a", "b"], quoted so that a value containing ", " stays readable.
func showList(vs []string) string {
	if len(vs) == 1 {
		return show(vs[0])
	}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprintf("%q", v)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
