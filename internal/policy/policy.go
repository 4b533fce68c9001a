package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

// foldBuf is the size of the stack buffer Allowed lowercases DNS names and
// email addresses into before an index lookup. Exact dns and email keys are
// at most 253 and maxEmailKey bytes long, so a longer identity value cannot
// equal one of them and is not looked up.
const (
	foldBuf     = 320
	maxEmailKey = foldBuf
)

// Policy is a compiled allow list. It is immutable and safe for concurrent
// use; to change it, compile a new one and swap it in (for example with an
// atomic.Pointer), so a failed compile leaves the old policy in force.
//
// Rules that have at least one exact (glob-free) key, or an ip key, are
// indexed by that key: Allowed looks up the identity's values in one map per
// field and fully checks only the candidates found, so its cost does not grow
// with the number of such rules. Rules whose keys are all globs are checked
// in order on every call.
type Policy struct {
	rules []rule
	src   []Rule

	exact   [numFields]map[string][]int32 // field -> exact value -> rule indexes, ascending
	indexed uint16                        // bit f set when exact[f] is not empty
	ips     map[netip.Prefix][]int32      // ip prefix -> rule indexes, ascending
	bits4   []int                         // distinct IPv4 prefix lengths in ips
	bits6   []int                         // distinct IPv6 prefix lengths in ips
	scan    []int32                       // rules with no index anchor, ascending

	digest string // hash of the rules, see String
}

// rule is one compiled entry: all keys must match.
type rule struct {
	keys []key // in field order
}

func (r *rule) match(id *identity.Identity) bool {
	for i := range r.keys {
		if !r.keys[i].matchID(id) {
			return false
		}
	}
	return true
}

// Compile validates rules and compiles them into a Policy. On failure it
// returns a nil Policy and every problem found, joined with errors.Join, each
// a *RuleError naming the entry and key ("allow[2].dns: ...").
//
// An entry with no keys is an error: it would allow every certificate. An
// empty list is not an error; it compiles to a Policy that denies everything.
func Compile(rules []Rule) (*Policy, error) {
	p := &Policy{rules: make([]rule, len(rules)), src: append([]Rule(nil), rules...)}
	var errs []error
	for i := range rules {
		vals := rules[i].values()
		for f, v := range vals {
			if v == "" {
				continue
			}
			k, err := compileKey(field(f), v)
			if err != nil {
				errs = append(errs, &RuleError{Index: i, Key: spec(field(f)).key, Msg: err.Error()})
				continue
			}
			p.rules[i].keys = append(p.rules[i].keys, k)
		}
		if vals == ([numFields]string{}) {
			errs = append(errs, &RuleError{Index: i, Msg: "entry has no keys; it would allow every certificate"})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p.index()
	p.digest = digestRules(rules)
	return p, nil
}

// anchor identifies the index bucket of a key.
type anchor struct {
	f   field
	s   string
	pfx netip.Prefix
}

func (k *key) anchor() (anchor, bool) {
	if k.f == fIP {
		return anchor{f: fIP, pfx: k.pfx}, true
	}
	s, ok := k.exact()
	return anchor{f: k.f, s: s}, ok
}

// index files each rule under its most selective anchor: the one shared by
// the fewest rules, ties going to the field most likely to be unique
// (fingerprint, serial, SPIFFE ID, ...). Rules are visited in order, so every
// bucket lists rule indexes in ascending order.
func (p *Policy) index() {
	count := make(map[anchor]int)
	for i := range p.rules {
		for j := range p.rules[i].keys {
			if a, ok := p.rules[i].keys[j].anchor(); ok {
				count[a]++
			}
		}
	}
	seen4, seen6 := map[int]bool{}, map[int]bool{}
	for i := range p.rules {
		best, found := anchor{}, false
		for j := range p.rules[i].keys {
			a, ok := p.rules[i].keys[j].anchor()
			if !ok {
				continue
			}
			if !found || count[a] < count[best] ||
				(count[a] == count[best] && spec(a.f).rank < spec(best.f).rank) {
				best, found = a, true
			}
		}
		switch {
		case !found:
			p.scan = append(p.scan, int32(i))
		case best.f == fIP:
			if p.ips == nil {
				p.ips = make(map[netip.Prefix][]int32)
			}
			p.ips[best.pfx] = append(p.ips[best.pfx], int32(i))
			bits, seen := best.pfx.Bits(), seen6
			if best.pfx.Addr().Is4() {
				seen = seen4
			}
			if !seen[bits] {
				seen[bits] = true
				if best.pfx.Addr().Is4() {
					p.bits4 = append(p.bits4, bits)
				} else {
					p.bits6 = append(p.bits6, bits)
				}
			}
		default:
			if p.exact[best.f] == nil {
				p.exact[best.f] = make(map[string][]int32)
			}
			p.exact[best.f][best.s] = append(p.exact[best.f][best.s], int32(i))
			p.indexed |= 1 << best.f
		}
	}
}

// Len returns the number of allow entries. A nil Policy has none.
func (p *Policy) Len() int {
	if p == nil {
		return 0
	}
	return len(p.rules)
}

// Rules returns a copy of the entries the policy was compiled from.
func (p *Policy) Rules() []Rule {
	if p == nil {
		return nil
	}
	return append([]Rule(nil), p.src...)
}

// Allowed reports whether id matches an allow entry and, if so, the index of
// the first (lowest) one that does; rule is -1 when ok is false. A nil id (no
// client certificate) or a nil Policy is never allowed.
//
// Allowed does not allocate and is safe for concurrent use. Its cost is a
// map lookup per identity value per indexed field, plus full checks of the
// candidates found and of the unindexed (all-glob) entries.
func (p *Policy) Allowed(id *identity.Identity) (ok bool, rule int) {
	if p == nil || id == nil || len(p.rules) == 0 {
		return false, -1
	}
	best := int32(len(p.rules))
	if m := p.indexed; m != 0 {
		if m&(1<<fCN) != 0 {
			best = p.lookup(fCN, id.CommonName, id, best)
		}
		if m&(1<<fO) != 0 {
			best = p.lookupAll(fO, id.Organization, id, best)
		}
		if m&(1<<fOU) != 0 {
			best = p.lookupAll(fOU, id.OrganizationalUnit, id, best)
		}
		if m&(1<<fURI) != 0 {
			best = p.lookupAll(fURI, id.URIs, id, best)
		}
		if m&(1<<fSPIFFE) != 0 {
			best = p.lookup(fSPIFFE, id.SPIFFEID, id, best)
		}
		if m&(1<<fFingerprint) != 0 {
			best = p.lookup(fFingerprint, id.FingerprintSHA256, id, best)
		}
		if m&(1<<fIssuerCN) != 0 {
			best = p.lookup(fIssuerCN, id.IssuerCN, id, best)
		}
		if m&(1<<fSerial) != 0 {
			best = p.lookup(fSerial, id.SerialHex, id, best)
		}
		if m&(1<<fDNS|1<<fEmail) != 0 {
			best = p.lookupFolded(id, best)
		}
	}
	if len(p.ips) > 0 {
		best = p.lookupIPs(id, best)
	}
	for _, i := range p.scan {
		if i >= best {
			break
		}
		if p.rules[i].match(id) {
			best = i
			break
		}
	}
	if best == int32(len(p.rules)) {
		return false, -1
	}
	return true, int(best)
}

// lookupFolded looks up the DNS names and email addresses of id, which need
// ASCII lowercasing (of the whole name, of the email domain) first. The
// lowercased copy lives in a stack buffer: m[string(b)] does not allocate.
func (p *Policy) lookupFolded(id *identity.Identity, best int32) int32 {
	var buf [foldBuf]byte
	if len(p.exact[fDNS]) > 0 {
		for _, v := range id.DNSNames {
			if v != "" && len(v) <= len(buf) {
				best = p.candidates(p.exact[fDNS][string(foldInto(&buf, v, 0))], id, best)
			}
		}
	}
	if len(p.exact[fEmail]) > 0 {
		for _, v := range id.Emails {
			at := strings.LastIndexByte(v, '@')
			if at >= 0 && len(v) <= len(buf) {
				best = p.candidates(p.exact[fEmail][string(foldInto(&buf, v, at+1))], id, best)
			}
		}
	}
	return best
}

func (p *Policy) lookup(f field, v string, id *identity.Identity, best int32) int32 {
	if v == "" {
		return best
	}
	return p.candidates(p.exact[f][v], id, best)
}

func (p *Policy) lookupAll(f field, vs []string, id *identity.Identity, best int32) int32 {
	for _, v := range vs {
		if v != "" {
			best = p.candidates(p.exact[f][v], id, best)
		}
	}
	return best
}

func (p *Policy) lookupIPs(id *identity.Identity, best int32) int32 {
	for _, s := range id.IPs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		a = a.Unmap()
		bits := p.bits6
		if a.Is4() {
			bits = p.bits4
		}
		for _, b := range bits {
			if pfx, err := a.Prefix(b); err == nil {
				best = p.candidates(p.ips[pfx], id, best)
			}
		}
	}
	return best
}

// candidates returns the lowest index in cands (ascending) below best whose
// rule matches id, or best.
func (p *Policy) candidates(cands []int32, id *identity.Identity, best int32) int32 {
	for _, i := range cands {
		if i >= best {
			break
		}
		if p.rules[i].match(id) {
			return i
		}
	}
	return best
}

// foldInto copies v into buf, ASCII-lowercasing from byte from on, and
// returns the filled part. len(v) must not exceed len(buf).
func foldInto(buf *[foldBuf]byte, v string, from int) []byte {
	b := buf[:len(v)]
	copy(b, v)
	for i := from; i < len(b); i++ {
		b[i] = lower(b[i])
	}
	return b
}

// Check is Allowed for callers that want an error: nil when id is allowed,
// else a *DeniedError (wrapping ErrDenied) saying why.
func (p *Policy) Check(id *identity.Identity) error {
	if ok, _ := p.Allowed(id); ok {
		return nil
	}
	return denied(id, p.Len())
}

// String summarises the policy for logs, with a digest of its rules:
// "policy: 3 allow entries (2 indexed), sha256:1f0c…" (32 hex digits).
// Policies compiled from equal rule lists have equal strings and, with
// overwhelming probability, different lists give different strings, so
// String can be compared to tell whether two routes admit the same clients.
// (Lists that differ only in spelling, such as a fingerprint with and
// without colons, compare different: safe for that use.)
func (p *Policy) String() string {
	if p == nil {
		return "policy: nil (denies everything)"
	}
	return fmt.Sprintf("policy: %d allow entries (%d indexed), sha256:%s",
		len(p.rules), len(p.rules)-len(p.scan), p.digest)
}

// digestRules hashes the rule list unambiguously: Rule.String quotes every
// value, and entries are newline-separated.
func digestRules(rules []Rule) string {
	h := sha256.New()
	for _, r := range rules {
		io.WriteString(h, r.String())
		io.WriteString(h, "\n")
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
