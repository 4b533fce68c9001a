package route

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	valid := []string{
		"/",
		"/a",
		"/a/",
		"/v1/orders/{id}",
		"/v1/orders/{id}/",
		"/files/{name}.json",
		"/v{version}/status",
		"/a/{x}/b/{y}",
		"/a/pre{x}post",
		"/{a}/{b}/{c}",
		"/caf\u00e9/{n\u00e4me}",
		"/a%2Fb/{x}",
		"/.well-known/{x}",
		"/a/..x/{y}",
		"/a;v=1/{y}",
	}
	for _, s := range valid {
		if err := ParseTemplate(s); err != nil {
			t.Errorf("ParseTemplate(%q): %v", s, err)
		}
	}
	invalid := []struct{ tmpl, want string }{
		{"", "must start with /"},
		{"a/{x}", "must start with /"},
		{"{x}", "must start with /"},
		{"/a/{}", "empty parameter name"},
		{"/a/x{}y", "empty parameter name"},
		{"/a/{x}{y}", "more than one parameter"},
		{"/a/{x}-{y}", "more than one parameter"},
		{"/a/{x", "'{' is never closed"},
		{"/a/{x/y}", "'{' is never closed"},
		{"/a/x}", "'}' without '{'"},
		{"/a/}{x}", "'}' without '{'"},
		{"/a/{x}}", "'}' without '{'"},
		{"/a/{x}{", "'{' is never closed"},
		{"/a/{{x}}", "'{' inside a parameter name"},
		{"/a/{id}/b/{id}", "parameter {id} appears twice"},
		{"/a//b", "empty segment"},
		{"//", "empty segment"},
		{"/a/./b", "dot segment"},
		{"/a/..", "dot segment"},
		{"/a/..;x/b", "dot segment"},
	}
	for _, tc := range invalid {
		err := ParseTemplate(tc.tmpl)
		if err == nil {
			t.Errorf("ParseTemplate(%q) accepted", tc.tmpl)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.tmpl)) {
			t.Errorf("ParseTemplate(%q) = %q: want the template and %q", tc.tmpl, err, tc.want)
		}
	}
}

func TestTemplateKey(t *testing.T) {
	tests := map[string]string{
		"":                       "",
		"/":                      "/",
		"/orders/{id}":           "/orders/{}",
		"/orders/{orderId}":      "/orders/{}",
		"/a/{x}/b/{y}":           "/a/{}/b/{}",
		"/files/{name}.json":     "/files/{}.json",
		"/v{version}/s":          "/v{}/s",
		"/exact/path":            "/exact/path",
		"/broken/{x":             "/broken/{x",
		"/broken/{x/{y}":         "/broken/{x/{}",
		"/broken/x}":             "/broken/x}",
		"/caf\u00e9/{n\u00e4me}": "/caf\u00e9/{}",
	}
	for in, want := range tests {
		if got := TemplateKey(in); got != want {
			t.Errorf("TemplateKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBuildPathErrors(t *testing.T) {
	tests := []struct {
		spec Spec[int]
		want string
	}{
		{Spec[int]{Name: "both", Path: "/a", PathPrefix: "/a"}, `"both": path "/a" and path_prefix "/a" are both set`},
		{Spec[int]{Name: "none"}, `"none": one of path and path_prefix is required`},
		{Spec[int]{Name: "rel", Path: "a/{x}"}, `"rel": path template "a/{x}": must start with /`},
		{Spec[int]{Name: "dup", Path: "/{x}/{x}"}, `"dup": path template "/{x}/{x}": parameter {x} appears twice`},
		{Spec[int]{Name: "two", Path: "/{x}{y}"}, `more than one parameter`},
		{Spec[int]{Name: "relprefix", PathPrefix: "a/"}, `must start with /`},
	}
	for _, tc := range tests {
		_, err := Build([]Spec[int]{{Name: "ok", Path: "/ok/{id}"}, tc.spec})
		if err == nil {
			t.Errorf("%s: accepted", tc.spec.Name)
			continue
		}
		if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %q, want ErrBadSpec and %q", tc.spec.Name, err, tc.want)
		}
	}
}

func TestMatchTemplates(t *testing.T) {
	get := []string{"GET"}
	tab := build(t,
		Spec[string]{Name: "root", PathPrefix: "/", Value: "root"},
		Spec[string]{Name: "orders-prefix", PathPrefix: "/v1/orders/", Value: "orders-prefix"},
		Spec[string]{Name: "order", Path: "/v1/orders/{id}", Value: "order"},
		Spec[string]{Name: "order-new", Path: "/v1/orders/new", Value: "order-new"},
		Spec[string]{Name: "order-items", Path: "/v1/orders/{id}/items", Value: "order-items"},
		Spec[string]{Name: "order-slash", Path: "/v1/orders/{id}/", Value: "order-slash"},
		Spec[string]{Name: "orders", Path: "/v1/orders", Methods: get, Value: "orders"},
		Spec[string]{Name: "file-json", Path: "/files/{name}.json", Value: "file-json"},
		Spec[string]{Name: "file-any", Path: "/files/{name}", Value: "file-any"},
		Spec[string]{Name: "file-a", Path: "/files/a{name}", Value: "file-a"},
		Spec[string]{Name: "file-readme", Path: "/files/readme.json", Value: "file-readme"},
		Spec[string]{Name: "ver", Path: "/v{version}/status", Value: "ver"},
		Spec[string]{Name: "ver-pre-suf", Path: "/x/pre{mid}suf", Value: "ver-pre-suf"},
		// Specificity is decided at the first segment that differs.
		Spec[string]{Name: "ab-param-lit", Path: "/s/{x}/lit", Value: "ab-param-lit"},
		Spec[string]{Name: "ab-lit-param", Path: "/s/lit/{y}", Value: "ab-lit-param"},
		Spec[string]{Name: "ab-affix-param", Path: "/t/{x}.d/{y}", Value: "ab-affix-param"},
		Spec[string]{Name: "ab-affix-lit", Path: "/t/a{x}/lit", Value: "ab-affix-lit"},
		Spec[string]{Name: "ab-affix-lit2", Path: "/t/{x}.d/lit", Value: "ab-affix-lit2"},
		// Equally specific: config order.
		Spec[string]{Name: "tie-1", Path: "/tie/{a}.x", Value: "tie-1"},
		Spec[string]{Name: "tie-2", Path: "/tie/y{b}", Value: "tie-2"},
		// Same template: method-restricted first, HEAD matches GET.
		Spec[string]{Name: "m-open", Path: "/m/{id}", Value: "m-open"},
		Spec[string]{Name: "m-get", Path: "/m/{key}", Methods: get, Value: "m-get"},
		Spec[string]{Name: "m-post", Path: "/m/{k}", Methods: []string{"POST"}, Value: "m-post"},
		// Equally specific different templates: method-restricted first.
		Spec[string]{Name: "e-open", Path: "/e/{a}.x", Value: "e-open"},
		Spec[string]{Name: "e-get", Path: "/e/y{b}", Methods: get, Value: "e-get"},
		// A less specific template takes the method a more specific one refuses.
		Spec[string]{Name: "w-lit-put", Path: "/w/lit", Methods: []string{"PUT"}, Value: "w-lit-put"},
		Spec[string]{Name: "w-param", Path: "/w/{x}", Value: "w-param"},
		// Template methods fail: fall back to prefixes of the same host.
		Spec[string]{Name: "p-tmpl", Path: "/p/{x}", Methods: []string{"DELETE"}, Value: "p-tmpl"},
		Spec[string]{Name: "p-prefix", PathPrefix: "/p/", Methods: get, Value: "p-prefix"},
		Spec[string]{Name: "dot", Path: "/d/{name}.tar.gz", Value: "dot"},
		Spec[string]{Name: "root-exact", Path: "/", Methods: []string{"OPTIONS"}, Value: "root-exact"},
		Spec[string]{Name: "literal-braces", Path: "/lit/{x}/raw", Value: "literal-braces"},
	)
	tests := []struct {
		path, method, want string
	}{
		{"/v1/orders/42", "GET", "order"},
		{"/v1/orders/new", "GET", "order-new"},
		{"/v1/orders/newer", "GET", "order"},
		{"/v1/orders/42/items", "POST", "order-items"},
		{"/v1/orders/42/", "GET", "order-slash"},
		{"/v1/orders/42/items/", "GET", "orders-prefix"},
		{"/v1/orders/42/other", "GET", "orders-prefix"},
		{"/v1/orders/", "GET", "orders-prefix"}, // {id} never matches an empty segment
		{"/v1/orders", "GET", "orders"},
		{"/v1/orders", "HEAD", "orders"},
		{"/v1/orders", "POST", "root"}, // the template refuses POST, "/v1/orders/" does not match "/v1/orders"
		{"/v1/orders/%2F", "GET", "order"},
		{"/v1/orders/a%2Fb", "GET", "order"},
		{"/v1/orders/{id}", "GET", "order"},
		{"/files/x.json", "GET", "file-json"},
		{"/files/a.json", "GET", "file-json"}, // tie with file-a, config order
		{"/files/readme.json", "GET", "file-readme"},
		{"/files/.json", "GET", "file-any"}, // {name} must not be empty
		{"/files/a", "GET", "file-any"},
		{"/files/ab", "GET", "file-a"},
		{"/files/x.jso", "GET", "file-any"},
		{"/files/x.json/", "GET", "root"},
		{"/files/", "GET", "root"},
		{"/v2/status", "GET", "ver"},
		{"/v/status", "GET", "root"},
		{"/x/presuf", "GET", "root"},
		{"/x/preMsuf", "GET", "ver-pre-suf"},
		{"/x/pre/suf", "GET", "root"},
		{"/s/lit/lit", "GET", "ab-lit-param"},
		{"/s/other/lit", "GET", "ab-param-lit"},
		{"/t/a.d/lit", "GET", "ab-affix-lit"},
		{"/t/a.d/zzz", "GET", "ab-affix-param"},
		{"/t/b.d/lit", "GET", "ab-affix-lit2"},
		{"/tie/y.x", "GET", "tie-1"},
		{"/tie/yz", "GET", "tie-2"},
		{"/m/1", "GET", "m-get"},
		{"/m/1", "HEAD", "m-get"},
		{"/m/1", "POST", "m-post"},
		{"/m/1", "PATCH", "m-open"},
		{"/e/y.x", "GET", "e-get"},
		{"/e/y.x", "POST", "e-open"},
		{"/w/lit", "PUT", "w-lit-put"},
		{"/w/lit", "GET", "w-param"},
		{"/p/1", "DELETE", "p-tmpl"},
		{"/p/1", "GET", "p-prefix"},
		{"/p/1", "HEAD", "p-prefix"},
		{"/p/1", "POST", "root"},
		{"/d/x.tar.gz", "GET", "dot"},
		{"/d/.tar.gz", "GET", "root"},
		{"/", "OPTIONS", "root-exact"},
		{"/", "GET", "root"},
		{"/lit/\x00/raw", "GET", "literal-braces"},
		{"/lit/\xff\xfe/raw", "GET", "literal-braces"},
		{"/lit/ /raw", "GET", "literal-braces"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s_%s", tc.path, tc.method), func(t *testing.T) {
			r := tab.Match("", tc.path, tc.method)
			if !r.Found || r.Value != tc.want || r.Name != tc.want {
				t.Fatalf("got %+v, want %s", r, tc.want)
			}
		})
	}
}

func TestMatchTemplatesHosts(t *testing.T) {
	tab := build(t,
		Spec[string]{Name: "any-tmpl", Path: "/u/{id}", Value: "any-tmpl"},
		Spec[string]{Name: "any-exact", Path: "/u/me", Value: "any-exact"},
		Spec[string]{Name: "exact-prefix", Host: "api.example.com", PathPrefix: "/", Value: "exact-prefix"},
		Spec[string]{Name: "exact-tmpl", Host: "api.example.com", Path: "/u/{id}", Methods: []string{"GET"}, Value: "exact-tmpl"},
		Spec[string]{Name: "wild-tmpl", Host: "*.example.com", Path: "/u/{id}", Methods: []string{"GET", "PUT"}, Value: "wild-tmpl"},
		Spec[string]{Name: "only-tmpl", Host: "only.example.org", Path: "/o/{id}", Methods: []string{"GET"}, Value: "only-tmpl"},
	)
	tests := []struct {
		host, path, method, want string
	}{
		{"", "/u/1", "GET", "any-tmpl"},
		{"", "/u/me", "GET", "any-exact"},
		{"api.example.com", "/u/1", "GET", "exact-tmpl"},
		{"API.EXAMPLE.COM:443", "/u/1", "HEAD", "exact-tmpl"},
		// The exact host is searched fully (its catch-all prefix too)
		// before the any-host table, even if that has a more specific path.
		{"api.example.com", "/u/me", "GET", "exact-tmpl"},
		{"api.example.com", "/u/1", "PUT", "exact-prefix"},
		{"api.example.com", "/zzz", "GET", "exact-prefix"},
		{"b.example.com", "/u/1", "PUT", "wild-tmpl"},
		{"b.example.com", "/u/1", "POST", "any-tmpl"}, // wildcard's template refuses POST
		{"b.example.com", "/u/me", "GET", "wild-tmpl"},
		{"b.example.com", "/u/me", "DELETE", "any-exact"},
		{"only.example.org", "/u/1", "GET", "any-tmpl"},
		{"only.example.org", "/o/1", "GET", "only-tmpl"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s%s_%s", tc.host, tc.path, tc.method), func(t *testing.T) {
			r := tab.Match(tc.host, tc.path, tc.method)
			if !r.Found || r.Value != tc.want {
				t.Fatalf("got %+v, want %s", r, tc.want)
			}
		})
	}
	r := tab.Match("only.example.org", "/o/1", "POST")
	if r.Found || !slices.Equal(r.Allow, []string{"GET"}) {
		t.Errorf("want 405 Allow GET from the exact host, got %+v", r)
	}
}

func TestTemplateMethodNotAllowed(t *testing.T) {
	tab := build(t,
		Spec[string]{Name: "a-post", Path: "/a/{id}", Methods: []string{"POST", "GET"}},
		Spec[string]{Name: "a-lit", Path: "/a/x", Methods: []string{"PUT", "GET"}},
		Spec[string]{Name: "a-affix", Path: "/a/{id}.json", Methods: []string{"PATCH"}},
		Spec[string]{Name: "a-post2", Path: "/a/{other}", Methods: []string{"POST", "DELETE"}},
		Spec[string]{Name: "b-tmpl", Path: "/b/{id}", Methods: []string{"GET"}},
		Spec[string]{Name: "b-prefix", PathPrefix: "/b/", Methods: []string{"POST"}},
		Spec[string]{Name: "c-prefix", PathPrefix: "/c/", Methods: []string{"POST", "PUT"}},
		Spec[string]{Name: "c-prefix2", PathPrefix: "/c/", Methods: []string{"PUT", "GET"}},
		Spec[string]{Name: "h-tmpl", Host: "h.example.com", Path: "/h/{id}", Methods: []string{"GET"}},
		Spec[string]{Name: "h-any", Path: "/h/{id}", Methods: []string{"POST"}},
	)
	tests := []struct {
		path, method string
		allow        []string
	}{
		// All matching path routes, most specific first, deduplicated.
		{"/a/x", "TRACE", []string{"PUT", "GET", "POST", "DELETE"}},
		{"/a/x.json", "TRACE", []string{"PATCH", "POST", "GET", "DELETE"}},
		{"/a/y", "TRACE", []string{"POST", "GET", "DELETE"}},
		// The template's methods win over the prefix's.
		{"/b/1", "PUT", []string{"GET"}},
		// Only the prefix matches the path.
		{"/b/1/2", "PUT", []string{"POST"}},
		{"/c/1", "DELETE", []string{"POST", "PUT", "GET"}},
		// Nothing matches the path: 404.
		{"/a/", "GET", nil},
		{"/zzz", "GET", nil},
		{"", "GET", nil},
		{"a/x", "GET", nil},
	}
	for _, tc := range tests {
		r := tab.Match("", tc.path, tc.method)
		if r.Found || !slices.Equal(r.Allow, tc.allow) {
			t.Errorf("%s %s: got %+v, want Allow %q", tc.method, tc.path, r, tc.allow)
		}
	}
	// The first host table whose routes matched the path decides Allow.
	if r := tab.Match("h.example.com", "/h/1", "PUT"); r.Found || !slices.Equal(r.Allow, []string{"GET"}) {
		t.Errorf("got %+v, want Allow GET", r)
	}
	if r := tab.Match("h.example.com", "/h/1", "POST"); !r.Found || r.Name != "h-any" {
		t.Errorf("got %+v, want h-any", r)
	}
	// Found routes carry no Allow.
	if r := tab.Match("", "/b/1", "POST"); !r.Found || r.Name != "b-prefix" || r.Allow != nil {
		t.Errorf("got %+v, want b-prefix", r)
	}
}

func TestMatchOddInput(t *testing.T) {
	tab := build(t,
		Spec[string]{Name: "t", Path: "/{a}/{b}.x/c{d}", Value: "t"},
		Spec[string]{Name: "e", Path: "/", Value: "e"},
		Spec[string]{Name: "p", Host: "*.x", PathPrefix: "/p", Value: "p"},
	)
	inputs := []string{"", "/", "//", "///", "a", "{a}", "/{a}/{b}.x/c{d}", "/\x00/\x00.x/c\x00", "/%", "/%2F/%2F.x/c%2F",
		"/a/.x/c", "/a/b.x/c", "/a/b.x/", "/a/b.x/cd/", "/a/b.x/cd/e", strings.Repeat("/a", 10000), strings.Repeat("/", 1000),
		"/\xff/\xff.x/c\xff", "/p/../..", ".", ".."}
	for _, p := range inputs {
		for _, h := range []string{"", "a.x", ":", "[", "]:", "*.x", "."} {
			_ = tab.Match(h, p, "GET")
			_ = tab.Match(h, p, "")
		}
	}
	if r := tab.Match("", "/\x00/\x00.x/c\x00", "GET"); r.Name != "t" {
		t.Errorf("got %+v", r)
	}
	if r := tab.Match("", "/a/.x/c", "GET"); r.Found {
		t.Errorf("empty parameter matched: %+v", r)
	}
	if r := tab.Match("", "//", "GET"); r.Found {
		t.Errorf("exact \"/\" matched \"//\": %+v", r)
	}
}

func TestMatchNoAllocs(t *testing.T) {
	tab := build(t,
		Spec[string]{Name: "root", PathPrefix: "/", Value: "root"},
		Spec[string]{Name: "get-prefix", PathPrefix: "/a/b/", Methods: []string{"GET"}, Value: "get-prefix"},
		Spec[string]{Name: "tmpl", Path: "/a/{x}/c{y}.json", Methods: []string{"GET"}, Value: "tmpl"},
		Spec[string]{Name: "tmpl2", Path: "/a/{x}/{y}", Methods: []string{"GET"}, Value: "tmpl2"},
		Spec[string]{Name: "exact", Path: "/a/b/c", Methods: []string{"PUT"}, Value: "exact"},
		Spec[string]{Name: "host", Host: "h.example.com", Path: "/a/{x}/c", Methods: []string{"PATCH"}, Value: "host"},
	)
	tests := []struct{ host, path, method, want string }{
		{"", "/a/b/c1.json", "GET", "tmpl"},
		{"", "/a/b/c", "PUT", "exact"},
		{"", "/a/b/c", "GET", "tmpl2"},
		{"", "/a/b/c", "HEAD", "tmpl2"},
		{"", "/a/b/c", "POST", "root"},   // path routes and a prefix refuse POST
		{"", "/a/b/x/y", "POST", "root"}, // a prefix refuses POST
		{"h.example.com", "/a/b/c", "POST", "root"},
	}
	for _, tc := range tests {
		var r Result[string]
		allocs := testing.AllocsPerRun(100, func() { r = tab.Match(tc.host, tc.path, tc.method) })
		if r.Name != tc.want {
			t.Errorf("%s %s: got %+v, want %s", tc.method, tc.path, r, tc.want)
		}
		if allocs != 0 {
			t.Errorf("%s %s: %v allocs per Match", tc.method, tc.path, allocs)
		}
	}
}

// refTemplate is an independent reference for a template: a regexp over
// the Latin-1 reading of the bytes (so that any byte string is valid
// UTF-8 and '/' stays '/'), and its specificity rank.
type refTemplate struct {
	re      *regexp.Regexp
	rank    string
	methods []string
	order   int
	name    string
}

func latin1(s string) string {
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

func newRefTemplate(tmpl string) *refTemplate {
	var re strings.Builder
	re.WriteString("^")
	in := false
	for i := 0; i < len(tmpl); i++ {
		switch c := tmpl[i]; {
		case c == '{':
			in = true
			re.WriteString("[^/]+")
		case c == '}':
			in = false
		case !in:
			re.WriteString(regexp.QuoteMeta(string(rune(c))))
		}
	}
	re.WriteString("$")
	var rank []byte
	for _, seg := range strings.Split(tmpl[1:], "/") {
		switch {
		case !strings.Contains(seg, "{"):
			rank = append(rank, 'L')
		case strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}"):
			rank = append(rank, 'P')
		default:
			rank = append(rank, 'M') // literal text around a parameter: between L and P
		}
	}
	return &refTemplate{re: regexp.MustCompile(re.String()), rank: string(rank)}
}

func (r *refTemplate) accepts(method string) bool {
	return len(r.methods) == 0 || slices.Contains(r.methods, method) || (method == "HEAD" && slices.Contains(r.methods, "GET"))
}

// better is the precedence rule, written out independently.
func (r *refTemplate) better(o *refTemplate) bool {
	if r.rank != o.rank {
		return r.rank < o.rank
	}
	if (len(r.methods) > 0) != (len(o.methods) > 0) {
		return len(r.methods) > 0
	}
	return r.order < o.order
}

func FuzzTemplateMatch(f *testing.F) {
	f.Add("/v1/orders/{id}", "/v1/orders/new", "/files/{name}.json", "/v1/orders/42", uint8(0))
	f.Add("/a/{x}/b/{y}", "/a/{x}/b/c", "/a/x/{y}/c", "/a/x/b/c", uint8(0x1f))
	f.Add("/{a}", "/a{b}", "/{b}a", "/aa", uint8(0x25))
	f.Add("/{a}.{b}", "/v{v}", "/", "/", uint8(0x3a))
	f.Add("/x/{a}", "/x/{a}/", "/x", "/x/", uint8(0x12))
	f.Add("/a/{x}.json", "/a/{y}", "/a/v{z}", "v1,", uint8(0x41))
	f.Add("/{a}/{b}", "/{a}/b{c}", "/a{b}/{c}", "aa,bb", uint8(0x43))
	f.Fuzz(func(t *testing.T, t1, t2, t3, path string, bits uint8) {
		methods := []string{"GET", "HEAD", "POST", "DELETE"}
		method := methods[bits>>4&3]
		var specs []Spec[int]
		var refs []*refTemplate
		for i, tmpl := range []string{t1, t2, t3} {
			if ParseTemplate(tmpl) != nil {
				continue
			}
			ref := newRefTemplate(tmpl)
			if bits>>i&1 != 0 {
				ref.methods = []string{"GET", "PUT"}
			}
			ref.order = len(specs)
			ref.name = fmt.Sprintf("t%d", i)
			refs = append(refs, ref)
			specs = append(specs, Spec[int]{Name: ref.name, Path: tmpl, Methods: ref.methods, Value: i + 1})
		}
		if bits&0x40 != 0 && len(refs) > 0 {
			// Instantiate the first template with values taken from path
			// (comma-separated, possibly empty), so that paths often match.
			path = instantiate(specs[0].Path, strings.Split(path, ","))
		}
		withPrefix := bits&8 != 0
		if withPrefix {
			specs = append(specs, Spec[int]{Name: "prefix", PathPrefix: "/", Methods: []string{"POST"}, Value: -1})
		}
		tab, err := Build(specs)
		if err != nil {
			t.Fatalf("Build refused templates ParseTemplate accepted: %v", err)
		}
		r := tab.Match("", path, method)

		lp := latin1(path)
		var want *refTemplate
		var matched []*refTemplate
		for _, ref := range refs {
			if !ref.re.MatchString(lp) {
				continue
			}
			matched = append(matched, ref)
			if ref.accepts(method) && (want == nil || ref.better(want)) {
				want = ref
			}
		}
		switch {
		case want != nil:
			if !r.Found || r.Name != want.name {
				t.Fatalf("%s %q: got %+v, want %s (rank %s)", method, path, r, want.name, want.rank)
			}
		case withPrefix && strings.HasPrefix(path, "/") && method == "POST":
			if !r.Found || r.Name != "prefix" {
				t.Fatalf("%s %q: got %+v, want the prefix route", method, path, r)
			}
		default:
			if r.Found {
				t.Fatalf("%s %q: found %+v, want none", method, path, r)
			}
			var allow []string
			slices.SortStableFunc(matched, func(a, b *refTemplate) int {
				if a.better(b) {
					return -1
				}
				if b.better(a) {
					return 1
				}
				return 0
			})
			for _, ref := range matched {
				for _, m := range ref.methods {
					if !slices.Contains(allow, m) {
						allow = append(allow, m)
					}
				}
			}
			if allow == nil && withPrefix && strings.HasPrefix(path, "/") {
				allow = []string{"POST"}
			}
			if !slices.Equal(r.Allow, allow) {
				t.Fatalf("%s %q: Allow %q, want %q", method, path, r.Allow, allow)
			}
		}
	})
}

// instantiate replaces the parameters of tmpl by vals (with '/' removed),
// in order, "v" once vals are used up.
func instantiate(tmpl string, vals []string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(tmpl, '{')
		if open < 0 {
			break
		}
		end := open + strings.IndexByte(tmpl[open:], '}')
		b.WriteString(tmpl[:open])
		v := "v"
		if len(vals) > 0 {
			v, vals = strings.ReplaceAll(vals[0], "/", ""), vals[1:]
		}
		b.WriteString(v)
		tmpl = tmpl[end+1:]
	}
	b.WriteString(tmpl)
	return b.String()
}

// templateSpecs returns n OpenAPI-like routes: services with a handful of
// operations each, exact paths, templates, parameters with literal text
// and method restrictions, spread over ten hosts and any host.
func templateSpecs(n int) []Spec[int] {
	ops := []struct {
		path    string
		methods []string
	}{
		{"/svc%d/v1/orders", []string{"GET", "POST"}},
		{"/svc%d/v1/orders/{id}", []string{"GET", "PUT", "DELETE"}},
		{"/svc%d/v1/orders/{id}/items", []string{"GET"}},
		{"/svc%d/v1/orders/{id}/items/{item}", []string{"GET", "PATCH"}},
		{"/svc%d/v1/orders/search", []string{"POST"}},
		{"/svc%d/v1/files/{name}.json", nil},
		{"/svc%d/v{version}/status", []string{"GET"}},
		{"/svc%d/v1/customers/{customer}/orders/{id}", []string{"GET"}},
		{"/tenants/{tenant}/svc%d/{id}", nil},
		{"/svc%d/health", nil},
	}
	specs := make([]Spec[int], 0, n)
	for i := 0; len(specs) < n; i++ {
		op := ops[i%len(ops)]
		svc := i / len(ops)
		host := ""
		if svc%2 == 0 {
			host = fmt.Sprintf("h%d.example.com", svc%10)
		}
		specs = append(specs, Spec[int]{Name: fmt.Sprint(i), Host: host, Path: fmt.Sprintf(op.path, svc), Methods: op.methods, Value: i})
	}
	return specs
}

func BenchmarkMatchTemplates1000(b *testing.B) {
	specs := templateSpecs(1000)
	// A catch-all prefix per host, as a config would have.
	for i := 0; i < 10; i++ {
		specs = append(specs, Spec[int]{Name: fmt.Sprint("fallback", i), Host: fmt.Sprintf("h%d.example.com", i), PathPrefix: "/", Value: -1})
	}
	tab, err := Build(specs)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct{ name, host, path, method, want string }{
		{"exact", "h4.example.com", "/svc54/v1/orders/search", "POST", "544"},
		{"param", "h4.example.com", "/svc54/v1/orders/42/items/7", "GET", "543"},
		{"affix", "h4.example.com", "/svc54/v1/files/report.json", "GET", "545"},
		{"anyhost", "other.example.com", "/svc57/v1/customers/c1/orders/9", "GET", "577"},
		{"leadingparam", "", "/tenants/acme/svc57/9", "GET", "578"},
		{"methodfallback", "h4.example.com", "/svc54/v1/orders/42/items", "POST", "fallback4"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if r := tab.Match(c.host, c.path, c.method); !r.Found || r.Name != c.want {
				b.Fatalf("got %+v, want %s", r, c.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				tab.Match(c.host, c.path, c.method)
			}
		})
	}
	b.Run("405", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if r := tab.Match("", "/svc57/v1/orders/42", "PATCH"); r.Found || len(r.Allow) != 3 {
				b.Fatalf("got %+v", r)
			}
		}
	})
}

// BenchmarkMatchTemplatesShared1000 puts 1,000 templates behind the same
// leading parameter, so every lookup first takes the parameter branch.
func BenchmarkMatchTemplatesShared1000(b *testing.B) {
	var specs []Spec[int]
	for i := 0; i < 1000; i++ {
		specs = append(specs, Spec[int]{Name: fmt.Sprint(i), Path: fmt.Sprintf("/{tenant}/r%d/{id}", i), Value: i})
	}
	tab, err := Build(specs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := tab.Match("", "/acme/r517/42", "GET"); !r.Found || r.Value != 517 {
			b.Fatalf("got %+v", r)
		}
	}
}
