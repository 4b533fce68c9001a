package stats

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func serve(s *Stats, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestHandlerOK(t *testing.T) {
	s, c := newTest(t, Options{})
	s.Record("orders", "CN=alice,O=Example", 200, time.Millisecond, 1, 2)
	s.Record("orders", "CN=bob", 200, time.Millisecond, 1, 2)
	s.Record("legacy", "CN=bob", 200, time.Millisecond, 1, 2)
	c.Add(20 * time.Minute)
	s.Record("orders", "CN=alice,O=Example", 500, time.Millisecond, 1, 2)

	rec := serve(s, http.MethodGet, "/api/stats")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var r struct {
		Window string
		From   string
		To     string
		Routes []struct {
			Route      string
			Requests   int
			Identities []struct {
				Identity string
				Requests int
			}
			IdentitiesTruncated bool `json:"identities_truncated"`
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Window != "1h0m0s" || r.To != "2026-03-01T12:20:30Z" || r.From != "2026-03-01T11:20:00Z" || len(r.Routes) != 2 || r.Routes[1].Requests != 3 {
		t.Fatalf("body %s", rec.Body)
	}

	for _, c := range []struct {
		target string
		check  func(body string) bool
	}{
		{"/api/stats?window=15m", func(b string) bool {
			return strings.Contains(b, `"window":"15m0s"`) && strings.Count(b, `"route":`) == 1 && strings.Contains(b, `"requests":1`)
		}},
		{"/api/stats?route=legacy", func(b string) bool {
			return strings.Count(b, `"route":`) == 1 && strings.Contains(b, `"identity":"CN=bob"`)
		}},
		{"/api/stats?identity=CN%3Dalice%2CO%3DExample", func(b string) bool {
			return strings.Count(b, `"route":`) == 1 && !strings.Contains(b, "CN=bob")
		}},
		{"/api/stats?limit=1&window=24h", func(b string) bool {
			return strings.Contains(b, `"identities_truncated":true`) && strings.Contains(b, `"window":"24h0m0s"`)
		}},
		{"/api/stats?route=", func(b string) bool { return strings.Count(b, `"route":`) == 2 }},
	} {
		rec := serve(s, http.MethodGet, c.target)
		if rec.Code != 200 || !c.check(rec.Body.String()) {
			t.Errorf("%s: %d %s", c.target, rec.Code, rec.Body)
		}
	}

	head := serve(s, http.MethodHead, "/api/stats")
	if head.Code != 200 || head.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("HEAD: %d %v", head.Code, head.Header())
	}
}

func TestHandlerErrors(t *testing.T) {
	s, _ := newTest(t, Options{})
	for _, c := range []struct {
		method, target string
		status         int
		param          string
	}{
		{http.MethodPost, "/api/stats", 405, ""},
		{http.MethodDelete, "/api/stats?window=1h", 405, ""},
		{http.MethodGet, "/api/stats?window=0", 400, "window"},
		{http.MethodGet, "/api/stats?window=-5m", 400, "window"},
		{http.MethodGet, "/api/stats?window=25h", 400, "window"},
		{http.MethodGet, "/api/stats?window=1d", 400, "window"},
		{http.MethodGet, "/api/stats?window=60", 400, "window"},
		{http.MethodGet, "/api/stats?window=", 400, "window"},
		{http.MethodGet, "/api/stats?window=1h&window=2h", 400, "window"},
		{http.MethodGet, "/api/stats?limit=0", 400, "limit"},
		{http.MethodGet, "/api/stats?limit=10001", 400, "limit"},
		{http.MethodGet, "/api/stats?limit=ten", 400, "limit"},
		{http.MethodGet, "/api/stats?limit=99999999999999999999", 400, "limit"},
		{http.MethodGet, "/api/stats?windows=1h", 400, "windows"},
		{http.MethodGet, "/api/stats?route=a&route=b", 400, "route"},
		{http.MethodGet, "/api/stats?window=%zz", 400, "query"},
		{http.MethodGet, "/api/stats?=0", 400, "query"},
	} {
		rec := serve(s, c.method, c.target)
		if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s: %d %q", c.method, c.target, rec.Code, rec.Header().Get("Content-Type"))
			continue
		}
		var p problem
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Errorf("%s: %v", c.target, err)
			continue
		}
		if p.Status != c.status || p.Parameter != c.param || p.Detail == "" || p.Title == "" || p.Type != "about:blank" {
			t.Errorf("%s %s: problem %+v", c.method, c.target, p)
		}
		if c.status == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: Allow %q", c.method, rec.Header().Get("Allow"))
		}
	}
	// The window limit follows Retention.
	s2, _ := newTest(t, Options{Retention: 2 * time.Hour})
	if rec := serve(s2, http.MethodGet, "/api/stats?window=3h"); rec.Code != 400 || !strings.Contains(rec.Body.String(), "at most 2h0m0s") {
		t.Fatalf("3h over 2h retention: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(s2, http.MethodGet, "/api/stats?window=2h"); rec.Code != 200 {
		t.Fatalf("2h: %d %s", rec.Code, rec.Body)
	}
}

func TestParseQuery(t *testing.T) {
	s, _ := newTest(t, Options{})
	q, perr := s.parseQuery("window=1h30m&route=orders&identity=CN%3Dalice&limit=7")
	if perr != nil || q != (Query{Window: 90 * time.Minute, Route: "orders", Identity: "CN=alice", Limit: 7}) {
		t.Fatalf("%+v %v", q, perr)
	}
	q, perr = s.parseQuery("")
	if perr != nil || q != (Query{Window: time.Hour, Limit: DefaultLimit}) {
		t.Fatalf("defaults %+v %v", q, perr)
	}
	// Several bad parameters: the first by name is reported.
	if _, perr := s.parseQuery("zeta=1&limit=0&alpha=2"); perr == nil || perr.Parameter != "alpha" {
		t.Fatalf("%+v", perr)
	}
}

// FuzzHandlerQuery feeds arbitrary query strings to the handler: it must not
// panic and must answer 200 with a report or 400 with a problem naming a
// parameter, both valid JSON.
func FuzzHandlerQuery(f *testing.F) {
	for _, seed := range []string{"", "window=1h", "window=15m&route=orders&identity=CN%3Dalice&limit=10", "window=0",
		"window=9223372036854775807ns", "window=-1h", "limit=-1", "limit=1e3", "route=%ff%fe", "a=1&a=2", "%", ";", "window=1h;limit=2",
		"identity=" + strings.Repeat("x", 2000), "window=1.5h", "window=.5h", "window=1h\x00"} {
		f.Add(seed)
	}
	s, c := newTest(f, Options{})
	s.Record("orders", "CN=alice", 200, time.Millisecond, 0, 0)
	s.Record("", "", 500, time.Hour, 0, 0)
	f.Fuzz(func(t *testing.T, raw string) {
		c.Add(time.Second)
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/api/stats", nil)
		req.URL.RawQuery = raw
		s.Handler().ServeHTTP(rec, req)
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%q: status %d, body not JSON: %v", raw, rec.Code, err)
		}
		switch rec.Code {
		case 200:
			if _, ok := body["routes"].([]any); !ok {
				t.Fatalf("%q: no routes: %s", raw, rec.Body)
			}
		case 400:
			if p, _ := body["parameter"].(string); p == "" {
				t.Fatalf("%q: problem without parameter: %s", raw, rec.Body)
			}
		default:
			t.Fatalf("%q: status %d", raw, rec.Code)
		}
	})
}
