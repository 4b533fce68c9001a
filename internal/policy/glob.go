package policy

import (
	"errors"
	"fmt"
	"strings"
)

// maxPatternLen bounds every pattern. It is far above any real CN, SAN or
// SPIFFE ID and keeps a hostile or mistaken config from producing patterns
// whose matching cost is noticeable.
const maxPatternLen = 1024

// glob is one compiled pattern. It is immutable after compileGlob and safe
// for concurrent use. Matching never allocates and runs in time bounded by
// len(pattern)*len(input) (no exponential backtracking).
//
// A pattern with stars is split into a literal head and tail, compared
// directly, and a middle that starts with the first star (or the start of
// its label or segment) and ends with the last one (or the end of its label
// or segment). Because head and tail hold no star and, where there is a
// separator, end and start at separators, every match of the pattern is
// head + (a match of mid) + tail, so only mid needs the general matcher;
// for the usual patterns ("*.example.com", "spiffe://td/ns/*/sa/web") mid is
// a lone star and matching is two comparisons and an IndexByte.
type glob struct {
	pat   string // normalised: ASCII-lowercased when fold; "**" collapsed to "*" when sep == 0
	sep   byte   // segment separator; 0 when a star may match anything
	fold  bool   // ASCII case-insensitive
	exact bool   // no star: compare pat

	head, mid, tail string
	midKind         midKind
}

type midKind uint8

const (
	midAny    midKind = iota // "*" without separator, or a whole-segment "**": anything
	midOneSeg                // "*" with a separator: anything without one
	midStar                  // one segment (or no separator) with stars: matchStar
	midSegs                  // several segments: matchSegs
)

// compileGlob validates and compiles pattern p. sep is the key's separator
// (0 for none), fold makes matching ASCII case-insensitive. Errors are plain
// sentences without a key path; the caller adds it.
func compileGlob(p string, sep byte, fold bool) (glob, error) {
	if err := checkPattern(p, sep); err != nil {
		return glob{}, err
	}
	if fold {
		p = lowerASCII(p)
	}
	if sep == 0 {
		for strings.Contains(p, "**") {
			p = strings.ReplaceAll(p, "**", "*")
		}
	}
	g := glob{pat: p, sep: sep, fold: fold}
	first, last := strings.IndexByte(p, '*'), strings.LastIndexByte(p, '*')
	if first < 0 {
		g.exact = true
		return g, nil
	}
	i, j := first, last+1
	if sep != 0 {
		i = strings.LastIndexByte(p[:first], sep) + 1
		if k := strings.IndexByte(p[last:], sep); k >= 0 {
			j = last + k
		} else {
			j = len(p)
		}
	}
	g.head, g.mid, g.tail = p[:i], p[i:j], p[j:]
	switch {
	case g.mid == "*" && sep == 0, g.mid == "**":
		g.midKind = midAny
	case g.mid == "*":
		g.midKind = midOneSeg
	case sep == 0 || strings.IndexByte(g.mid, sep) < 0:
		g.midKind = midStar
	default:
		g.midKind = midSegs
	}
	return g, nil
}

// checkPattern rejects what can only be a mistake: an empty or overlong
// pattern, control characters (they cannot appear in a name the pattern is
// meant to match, and would corrupt logs), "***", and, where a separator
// exists, a "**" that is not a whole label or segment ("a**b" has no clear
// meaning; write "a*b" or "a.**.b").
func checkPattern(p string, sep byte) error {
	if strings.TrimSpace(p) == "" {
		return errors.New("value is blank")
	}
	if len(p) > maxPatternLen {
		return fmt.Errorf("pattern is %d bytes long, want at most %d", len(p), maxPatternLen)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("control character %q at byte %d", c, i)
		}
	}
	if i := strings.Index(p, "***"); i >= 0 {
		return fmt.Errorf(`"***" at byte %d; use "*" within a %s or "**" across them`, i, segName(sep))
	}
	if sep == 0 {
		return nil
	}
	for i := 0; i+1 < len(p); i++ {
		if p[i] != '*' || p[i+1] != '*' {
			continue
		}
		if (i > 0 && p[i-1] != sep) || (i+2 < len(p) && p[i+2] != sep) {
			return fmt.Errorf(`"**" at byte %d must be a whole %s (between %q separators); use "*" inside a %s`,
				i, segName(sep), sep, segName(sep))
		}
		i++
	}
	return nil
}

func segName(sep byte) string {
	switch sep {
	case '.':
		return "label"
	case '/':
		return "segment"
	}
	return "value"
}

// match reports whether s matches the pattern.
func (g *glob) match(s string) bool {
	if g.exact {
		return g.eq(g.pat, s)
	}
	n := len(s) - len(g.tail)
	if n < len(g.head) || !g.eq(g.head, s[:len(g.head)]) || !g.eq(g.tail, s[n:]) {
		return false
	}
	m := s[len(g.head):n]
	switch g.midKind {
	case midAny:
		return true
	case midOneSeg:
		return strings.IndexByte(m, g.sep) < 0
	case midStar:
		return (g.sep == 0 || strings.IndexByte(m, g.sep) < 0) && matchStar(g.mid, m, g.fold)
	default:
		return matchSegs(g.mid, m, g.sep, g.fold)
	}
}

func (g *glob) eq(lit, s string) bool {
	if g.fold {
		return equalFold(lit, s)
	}
	return lit == s
}

// matchStar matches s against p where every '*' matches any run of bytes
// (including none). It is the classic greedy matcher with one backtrack
// point: when a later star is reached, earlier stars never need to grow, so
// the cost is O(len(p)*len(s)) at worst and O(len(p)+len(s)) typically.
func matchStar(p, s string, fold bool) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && byteEq(p[pi], s[si], fold):
			pi++
			si++
		case star >= 0:
			mark++
			pi, si = star+1, mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchSegs matches s against p segment by segment: both are split at sep,
// a "**" segment of p matches one or more whole segments of s (which is what
// "any run of bytes, separators included" means for a whole-segment "**"),
// and every other segment of p matches exactly one segment of s with
// matchStar. The walk is the same greedy algorithm as matchStar, one level
// up, with "**" as the star; positions are byte offsets, so nothing is
// allocated. An offset past the end means "no segments left".
func matchSegs(p, s string, sep byte, fold bool) bool {
	pi, si := 0, 0
	starP, starS := -1, 0
	for {
		advanced := false
		switch {
		case pi > len(p):
			if si > len(s) {
				return true
			}
		case si <= len(s):
			pseg, pnext := nextSeg(p, pi, sep)
			if pseg == "**" {
				_, si = nextSeg(s, si, sep) // "**" takes at least one segment
				starP, starS, pi = pnext, si, pnext
				advanced = true
				break
			}
			if sseg, snext := nextSeg(s, si, sep); matchStar(pseg, sseg, fold) {
				pi, si = pnext, snext
				advanced = true
			}
		}
		if advanced {
			continue
		}
		if starP < 0 || starS > len(s) {
			return false
		}
		_, starS = nextSeg(s, starS, sep) // let the last "**" take one more segment
		pi, si = starP, starS
	}
}

// nextSeg returns the segment of s starting at offset i and the offset of
// the segment after it, which is len(s)+1 when it was the last.
func nextSeg(s string, i int, sep byte) (string, int) {
	if j := strings.IndexByte(s[i:], sep); j >= 0 {
		return s[i : i+j], i + j + 1
	}
	return s[i:], len(s) + 1
}

func byteEq(p, s byte, fold bool) bool {
	if fold {
		return p == lower(s)
	}
	return p == s
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// equalFold compares lit, already lowercase, with s under ASCII case folding.
// Non-ASCII bytes compare exactly: DNS names and email domains in
// certificates are IA5 (ASCII), and Unicode folding would let distinct names
// collide.
func equalFold(lit, s string) bool {
	if len(lit) != len(s) {
		return false
	}
	if lit == s { // the usual case: certificates carry lowercase names
		return true
	}
	for i := 0; i < len(s); i++ {
		if lit[i] != lower(s[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lower(b[j])
			}
			return string(b)
		}
	}
	return s
}
