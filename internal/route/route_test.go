package route

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func build(t testing.TB, specs ...Spec[string]) *Table[string] {
	t.Helper()
	tab, err := Build(specs)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestMatch(t *testing.T) {
	tab := build(t,
		Spec[string]{Name: "root", PathPrefix: "/", Value: "root"},
		Spec[string]{Name: "api", PathPrefix: "/api/", Value: "api"},
		Spec[string]{Name: "secure", PathPrefix: "/api/secure/", Methods: []string{"GET", "POST"}, Value: "secure"},
		Spec[string]{Name: "secure-any", PathPrefix: "/api/secure/", Value: "secure-any"},
		Spec[string]{Name: "exact", Host: "api.example.com", PathPrefix: "/api/", Value: "exact"},
		Spec[string]{Name: "wild", Host: "*.example.com", PathPrefix: "/api/", Value: "wild"},
		Spec[string]{Name: "nosl", PathPrefix: "/v1", Value: "nosl"},
		Spec[string]{Name: "onlyput", Host: "put.example.org", PathPrefix: "/x", Methods: []string{"PUT"}, Value: "onlyput"},
	)
	tests := []struct {
		host, path, method, want string
	}{
		{"", "/", "GET", "root"},
		{"", "/other", "GET", "root"},
		{"", "/api/x", "GET", "api"},
		{"", "/api", "GET", "root"},
		{"", "/api/secure/x", "GET", "secure"},
		{"", "/api/secure/x", "HEAD", "secure"},
		{"", "/api/secure/x", "DELETE", "secure-any"},
		{"API.Example.COM:8443", "/api/x", "GET", "exact"},
		{"api.example.com.", "/api/x", "GET", "exact"},
		{"api.example.com", "/other", "GET", "root"},
		{"b.example.com", "/api/x", "GET", "wild"},
		{"a.b.example.com", "/api/x", "GET", "api"},
		{"example.com", "/api/x", "GET", "api"},
		{"", "/v1", "GET", "nosl"},
		{"", "/v1/x", "GET", "nosl"},
		{"", "/v10", "GET", "root"},
		{"[::1]:443", "/api/x", "GET", "api"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s%s_%s", tc.host, tc.path, tc.method), func(t *testing.T) {
			r := tab.Match(tc.host, tc.path, tc.method)
			if !r.Found || r.Value != tc.want {
				t.Fatalf("got %+v, want %s", r, tc.want)
			}
		})
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	tab := build(t,
		Spec[string]{Name: "a", PathPrefix: "/a/", Methods: []string{"GET"}, Value: "a"},
		Spec[string]{Name: "b", PathPrefix: "/a/", Methods: []string{"POST"}, Value: "b"},
	)
	if r := tab.Match("", "/zzz", "GET"); r.Found || r.Allow != nil {
		t.Errorf("want not found without Allow, got %+v", r)
	}
	r := tab.Match("", "/a/x", "DELETE")
	if r.Found || !slices.Equal(r.Allow, []string{"GET", "POST"}) {
		t.Errorf("want 405 with Allow GET, POST; got %+v", r)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build([]Spec[int]{{Name: "x", PathPrefix: "nope"}}); err == nil {
		t.Error("relative prefix accepted")
	}
	if _, err := Build([]Spec[int]{{Name: "x", PathPrefix: "/", Host: "a.*.com"}}); err == nil {
		t.Error("inner wildcard accepted")
	}
}

func TestCleanPath(t *testing.T) {
	tests := map[string]string{
		"":                       "/",
		"/":                      "/",
		"/a/b":                   "/a/b",
		"/a/b/":                  "/a/b/",
		"//a///b":                "/a/b",
		"/a/./b":                 "/a/b",
		"/a/../b":                "/b",
		"/public/../secure/x":    "/secure/x",
		"/../../etc/passwd":      "/etc/passwd",
		"/a/b/..":                "/a/",
		"/a/.":                   "/a/",
		"/a/.hidden":             "/a/.hidden",
		"/a/..b":                 "/a/..b",
		"relative":               "/relative",
		"/api/secure/..%2Fx":     "/api/secure/..%2Fx",
		"/api/public/../secure/": "/api/secure/",
		"/public/..;/admin":      "/admin",
		"/public/..;x=1/admin":   "/admin",
		"/a/.;/b":                "/a/b",
		"/a/b;v=1":               "/a/b;v=1",
		"/a/..x;/b":              "/a/..x;/b",
	}
	for in, want := range tests {
		if got := CleanPath(in); got != want {
			t.Errorf("CleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "//x/./y/", "/..", "a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c := CleanPath(p)
		if !strings.HasPrefix(c, "/") {
			t.Fatalf("CleanPath(%q) = %q: not absolute", p, c)
		}
		if strings.Contains(c, "//") {
			t.Fatalf("CleanPath(%q) = %q: has //", p, c)
		}
		for _, seg := range strings.Split(c, "/") {
			if d := dotSegment(seg); d == "." || d == ".." {
				t.Fatalf("CleanPath(%q) = %q: has dot segment", p, c)
			}
		}
		if CleanPath(c) != c {
			t.Fatalf("CleanPath not idempotent on %q -> %q -> %q", p, c, CleanPath(c))
		}
	})
}

func FuzzMatch(f *testing.F) {
	f.Add("api.example.com", "/api/x/y", "GET")
	f.Add("", "", "")
	tab := build(f,
		Spec[string]{Name: "root", PathPrefix: "/", Methods: []string{"GET"}, Value: "root"},
		Spec[string]{Name: "api", Host: "*.example.com", PathPrefix: "/api/", Value: "api"},
	)
	f.Fuzz(func(t *testing.T, host, path, method string) {
		r := tab.Match(host, path, method)
		if r.Found && r.Value == "" {
			t.Fatal("found without value")
		}
	})
}

func BenchmarkMatch1000Routes(b *testing.B) {
	var specs []Spec[int]
	for i := 0; i < 1000; i++ {
		specs = append(specs, Spec[int]{Name: fmt.Sprint(i), Host: fmt.Sprintf("h%d.example.com", i%10), PathPrefix: fmt.Sprintf("/svc%d/v1/", i), Value: i})
	}
	tab, err := Build(specs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := tab.Match("h7.example.com", "/svc517/v1/orders/42/items", "GET"); !r.Found {
			b.Fatal("no match")
		}
	}
}
