package policy

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// refMatch is the reference semantics, written as directly as possible:
// '*' matches any run of bytes containing no sep (any run when sep is 0),
// "**" matches any run of bytes. It is a memoised recursion over (pattern
// offset, input offset), so fuzzing cannot make it exponential.
func refMatch(p, s string, sep byte, fold bool) bool {
	memo := make([]int8, (len(p)+1)*(len(s)+1)) // 0 unknown, 1 false, 2 true
	var rec func(i, j int) bool
	rec = func(i, j int) bool {
		k := i*(len(s)+1) + j
		if memo[k] != 0 {
			return memo[k] == 2
		}
		var r bool
		switch {
		case i == len(p):
			r = j == len(s)
		case strings.HasPrefix(p[i:], "**"):
			for n := j; n <= len(s) && !r; n++ {
				r = rec(i+2, n)
			}
		case p[i] == '*':
			for n := j; n <= len(s) && !r; n++ {
				r = rec(i+1, n)
				if n < len(s) && sep != 0 && s[n] == sep {
					break
				}
			}
		case j < len(s):
			a, b := p[i], s[j]
			if fold {
				a, b = lower(a), lower(b)
			}
			r = a == b && rec(i+1, j+1)
		}
		memo[k] = 1
		if r {
			memo[k] = 2
		}
		return r
	}
	return rec(0, 0)
}

// general matches s against the whole pattern with the general matchers,
// bypassing the head/tail split that glob.match does first.
func general(g *glob, s string) bool {
	if g.sep == 0 {
		return matchStar(g.pat, s, g.fold)
	}
	return matchSegs(g.pat, s, g.sep, g.fold)
}

func TestGlob(t *testing.T) {
	const (
		none = 0
		dot  = '.'
		sl   = '/'
	)
	tests := []struct {
		pat  string
		sep  byte
		fold bool
		in   string
		want bool
	}{
		// dns-like
		{"*.example.com", dot, true, "a.example.com", true},
		{"*.example.com", dot, true, "A.EXAMPLE.COM", true},
		{"*.example.com", dot, true, "a.b.example.com", false},
		{"*.example.com", dot, true, "example.com", false},
		{"*.example.com", dot, true, ".example.com", true}, // '*' may match nothing
		{"*.example.com", dot, true, "a.example.co", false},
		{"*.example.com", dot, true, "a.example.com.evil", false},
		{"*.example.com", dot, true, "aexample.com", false},
		{"**.example.com", dot, true, "a.b.example.com", true},
		{"**.example.com", dot, true, "a.example.com", true},
		{"**.example.com", dot, true, "example.com", false},
		{"**.example.com", dot, true, "a.b.example.org", false},
		{"**", dot, true, "anything.at.all", true},
		{"*", dot, true, "localhost", true},
		{"*", dot, true, "a.b", false},
		{"api-*.example.com", dot, true, "api-eu.example.com", true},
		{"api-*.example.com", dot, true, "api-.example.com", true},
		{"api-*.example.com", dot, true, "web-eu.example.com", false},
		{"api.*.example.com", dot, true, "api.eu.example.com", true},
		{"api.*.example.com", dot, true, "api.eu.x.example.com", false},
		{"api.**.example.com", dot, true, "api.eu.x.example.com", true},
		{"api.**.example.com", dot, true, "api.example.com", false},
		{"a.**.b.**.c", dot, false, "a.x.b.y.z.c", true},
		{"a.**.b.**.c", dot, false, "a.b.c", false},
		{"a.**.b.**.c", dot, false, "a.x.b.b.c", true},
		{"*.*.example.com", dot, true, "a.b.example.com", true},
		{"*.*.example.com", dot, true, "a.example.com", false},
		{"a*b*c.example.com", dot, true, "aXbYc.example.com", true},
		{"a*b*c.example.com", dot, true, "aXc.example.com", false},
		{"www.example.com", dot, true, "WWW.Example.Com", true},
		{"www.example.com", dot, true, "www.example.com.", false},
		// uri / spiffe-like
		{"spiffe://example.org/ns/*/sa/orders", sl, false, "spiffe://example.org/ns/prod/sa/orders", true},
		{"spiffe://example.org/ns/*/sa/orders", sl, false, "spiffe://example.org/ns/a/b/sa/orders", false},
		{"spiffe://example.org/ns/*/sa/orders", sl, false, "spiffe://example.org/ns/prod/sa/orders/x", false},
		{"spiffe://example.org/ns/*/sa/orders", sl, false, "spiffe://example.org/ns/prod/sa/Orders", false},
		{"spiffe://example.org/ns/prod/sa/*", sl, false, "spiffe://example.org/ns/prod/sa/web", true},
		{"spiffe://example.org/ns/prod/sa/*", sl, false, "spiffe://example.org/ns/prod/sa/web/x", false},
		{"spiffe://example.org/ns/prod/sa/*", sl, false, "spiffe://example.org/ns/prod/sa", false},
		{"spiffe://example.org/**", sl, false, "spiffe://example.org/ns/prod/sa/web", true},
		{"spiffe://example.org/**", sl, false, "spiffe://example.org", false},
		{"spiffe://example.org/**", sl, false, "spiffe://example.org.evil/x", false},
		{"spiffe://*/ns/prod", sl, false, "spiffe://example.org/ns/prod", true},
		{"spiffe://example.org/**/sa/orders", sl, false, "spiffe://example.org/ns/prod/sa/orders", true},
		{"spiffe://example.org/**/sa/orders", sl, false, "spiffe://example.org/sa/orders", false},
		{"https://*.example.com/*", sl, false, "https://a.b.example.com/x", true},
		{"https://*.example.com/*", sl, false, "https://a.b.example.com/x/y", false},
		// no separator
		{"alice", none, false, "alice", true},
		{"alice", none, false, "Alice", false},
		{"alice", none, false, "alice2", false},
		{"Acme*", none, false, "Acme", true},
		{"Acme*", none, false, "Acme Corp", true},
		{"Acme*", none, false, "acme Corp", false},
		{"*Corp", none, false, "Acme Corp", true},
		{"*", none, false, "", true},
		{"*", none, false, "a.b/c", true},
		{"**", none, false, "a.b/c", true},
		{"a*b*c", none, false, "abc", true},
		{"a*b*c", none, false, "aXbXbXc", true},
		{"a*b*c", none, false, "aXbXbX", false},
		{"*a*a*a*a*a*b", none, false, strings.Repeat("a", 40), false},
		{"svc-*@example.com", none, false, "svc-x@example.com", true},
		{"*", none, true, "ANY", true},
		{"exAmple.com", none, true, "EXAMPLE.com", true},
	}
	for _, tt := range tests {
		name := tt.pat + " " + tt.in
		t.Run(name, func(t *testing.T) {
			g, err := compileGlob(tt.pat, tt.sep, tt.fold)
			if err != nil {
				t.Fatalf("compileGlob(%q): %v", tt.pat, err)
			}
			if got := g.match(tt.in); got != tt.want {
				t.Errorf("match(%q, %q) = %v, want %v", tt.pat, tt.in, got, tt.want)
			}
			if ref := refMatch(g.pat, tt.in, tt.sep, tt.fold); ref != tt.want {
				t.Errorf("refMatch(%q, %q) = %v, want %v (test table wrong?)", tt.pat, tt.in, ref, tt.want)
			}
			if got := general(&g, tt.in); got != tt.want {
				t.Errorf("general matcher (%q, %q) = %v, want %v", tt.pat, tt.in, got, tt.want)
			}
		})
	}
}

// TestGlobRandom compares the matcher with refMatch over many short random
// patterns and inputs drawn from a tiny alphabet, where stars, separators
// and case collide as often as possible.
func TestGlobRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"a", "b", "A", ".", "/", "*", "**", "*", "."}
	chars := "abAB./"
	n := 100000
	if testing.Short() {
		n = 10000
	}
	for i := 0; i < n; i++ {
		var pb, sb strings.Builder
		for k := 1 + r.IntN(6); k > 0; k-- {
			pb.WriteString(pieces[r.IntN(len(pieces))])
		}
		for k := r.IntN(9); k > 0; k-- {
			sb.WriteByte(chars[r.IntN(len(chars))])
		}
		p, s := pb.String(), sb.String()
		for _, mode := range []struct {
			sep  byte
			fold bool
		}{{0, false}, {'.', true}, {'/', false}} {
			g, err := compileGlob(p, mode.sep, mode.fold)
			if err != nil {
				continue
			}
			if got, want := g.match(s), refMatch(p, s, mode.sep, mode.fold); got != want {
				t.Fatalf("match(%q, %q, sep %q) = %v, reference says %v", p, s, mode.sep, got, want)
			}
		}
	}
}

func TestGlobInvalid(t *testing.T) {
	tests := []struct {
		pat  string
		sep  byte
		want string
	}{
		{"", 0, "blank"},
		{"   ", 0, "blank"},
		{"a***b", 0, `"***"`},
		{"***.example.com", '.', `"***"`},
		{"a**.example.com", '.', `"**" at byte 1 must be a whole label`},
		{"example.**com", '.', `must be a whole label`},
		{"spiffe://x/ns**", '/', `must be a whole segment`},
		{"a\nb", 0, "control character"},
		{"a\x7fb", 0, "control character"},
		{strings.Repeat("a", maxPatternLen+1), 0, "at most 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.pat, func(t *testing.T) {
			_, err := compileGlob(tt.pat, tt.sep, false)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("compileGlob(%q) error = %v, want it to contain %q", tt.pat, err, tt.want)
			}
		})
	}
}

func TestGlobMatchDoesNotAllocate(t *testing.T) {
	pats := []struct {
		p   string
		sep byte
	}{{"*.example.com", '.'}, {"**.example.com", '.'}, {"a*b*c", 0}, {"spiffe://x/**/sa/*", '/'}}
	for _, pt := range pats {
		g, err := compileGlob(pt.p, pt.sep, true)
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { g.match("A.b.Example.com") }); n != 0 {
			t.Errorf("%q: %v allocs per match, want 0", pt.p, n)
		}
	}
}

// FuzzGlob checks that the compiled matcher never panics and agrees with
// refMatch. mode picks the key type: 0 no separator, 1 dns-like ('.',
// case-insensitive), 2 uri-like ('/').
func FuzzGlob(f *testing.F) {
	seeds := []struct {
		p, s string
		mode uint8
	}{
		{"*.example.com", "a.example.com", 1},
		{"**.example.com", "a.b.example.com", 1},
		{"spiffe://example.org/ns/*/sa/orders", "spiffe://example.org/ns/a/b/sa/orders", 2},
		{"a/**/b/**", "a/x/b/y/z", 2},
		{"a*b*c", "aXbYc", 0},
		{"*", "", 0},
		{"**", "/", 2},
		{"A*.B", "a.b", 1},
	}
	for _, sd := range seeds {
		f.Add(sd.p, sd.s, sd.mode)
	}
	f.Fuzz(func(t *testing.T, p, s string, mode uint8) {
		var sep byte
		fold := false
		switch mode % 3 {
		case 1:
			sep, fold = '.', true
		case 2:
			sep = '/'
		}
		g, err := compileGlob(p, sep, fold)
		if err != nil {
			return
		}
		got := g.match(s)
		if len(p) > 64 || len(s) > 128 {
			return // the reference is O(len(p)*len(s)^2)
		}
		if want := refMatch(g.pat, s, sep, fold); got != want {
			t.Fatalf("match(%q, %q, sep %q, fold %v) = %v, reference says %v", p, s, sep, fold, got, want)
		}
		if g2 := general(&g, s); g2 != got {
			t.Fatalf("match(%q, %q) = %v, general matcher says %v", p, s, got, g2)
		}
		// The compiled pattern (folded, "**" collapsed) is the same language.
		if want := refMatch(p, s, sep, fold); got != want {
			t.Fatalf("match(%q, %q) = %v, reference on the raw pattern says %v", p, s, got, want)
		}
	})
}
