package ratelimit

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSetHeadersGolden(t *testing.T) {
	p := Policy{Name: "api", Requests: 100, Per: time.Minute, Burst: 20}
	cases := []struct {
		name       string
		p          Policy
		d          Decision
		policy, rl string
		retry      string // "" = absent
	}{
		{"allowed", p, Decision{Allowed: true, Limit: 20, Remaining: 19, Reset: 600 * ms},
			`"api";q=100;w=60`, `"api";r=19;t=1`, ""},
		{"allowed, reset rounds up", p, Decision{Allowed: true, Limit: 20, Remaining: 0, Reset: 12*time.Second + 1},
			`"api";q=100;w=60`, `"api";r=0;t=13`, ""},
		{"allowed, whole seconds", p, Decision{Allowed: true, Limit: 20, Remaining: 3, Reset: 10 * time.Second},
			`"api";q=100;w=60`, `"api";r=3;t=10`, ""},
		{"refused", p, Decision{Limit: 20, Reset: 12 * time.Second, RetryAfter: 600 * ms},
			`"api";q=100;w=60`, `"api";r=0;t=1`, "1"},
		{"refused, 1ns", p, Decision{Limit: 20, Reset: 12 * time.Second, RetryAfter: 1},
			`"api";q=100;w=60`, `"api";r=0;t=1`, "1"},
		{"refused, zero retry still says 1", p, Decision{Limit: 20},
			`"api";q=100;w=60`, `"api";r=0;t=1`, "1"},
		{"refused, long wait", Policy{Name: "daily", Requests: 1000, Per: 24 * time.Hour},
			Decision{Limit: 1000, Reset: 24 * time.Hour, RetryAfter: 86400*ms + 1},
			`"daily";q=1000;w=86400`, `"daily";r=0;t=87`, "87"},
		{"empty name", Policy{Requests: 5, Per: time.Second}, Decision{Allowed: true, Limit: 5, Remaining: 4, Reset: 200 * ms},
			`"default";q=5;w=1`, `"default";r=4;t=1`, ""},
		{"escaping", Policy{Name: `a"b\c`, Requests: 1, Per: time.Second}, Decision{Allowed: true, Limit: 1, Reset: time.Second},
			`"a\"b\\c";q=1;w=1`, `"a\"b\\c";r=0;t=1`, ""},
		{"non-ASCII and controls", Policy{Name: "café\t\x00\xffend;w=1,x", Requests: 1, Per: time.Second}, Decision{Allowed: true, Limit: 1, Reset: time.Second},
			`"caf____end;w=1,x";q=1;w=1`, `"caf____end;w=1,x";r=0;t=1`, ""},
		{"negative remaining from another limiter", p, Decision{Allowed: true, Remaining: -3, Reset: -time.Second},
			`"api";q=100;w=60`, `"api";r=0;t=0`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			SetHeaders(h, c.p, c.d)
			if got := h.Values("RateLimit-Policy"); len(got) != 1 || got[0] != c.policy {
				t.Errorf("RateLimit-Policy %q, want %q", got, c.policy)
			}
			if got := h.Values("RateLimit"); len(got) != 1 || got[0] != c.rl {
				t.Errorf("RateLimit %q, want %q", got, c.rl)
			}
			if got := h.Get("Retry-After"); got != c.retry {
				t.Errorf("Retry-After %q, want %q", got, c.retry)
			}
			for _, v := range []string{h.Get("RateLimit-Policy"), h.Get("RateLimit")} {
				if !validItem(v) {
					t.Errorf("%q is not a valid structured-field item", v)
				}
			}
		})
	}
}

func TestSetHeadersReplaces(t *testing.T) {
	h := http.Header{}
	h.Add("RateLimit", "stale")
	h.Set("Retry-After", "120") // e.g. set by an upstream 503
	p := Policy{Name: "api", Requests: 10, Per: time.Second}
	SetHeaders(h, p, Decision{Allowed: true, Limit: 10, Remaining: 9, Reset: 100 * ms})
	if got := h.Values("RateLimit"); len(got) != 1 || got[0] != `"api";r=9;t=1` {
		t.Errorf("RateLimit %q", got)
	}
	if got := h.Get("Retry-After"); got != "120" {
		t.Errorf("an allowed decision changed Retry-After to %q", got)
	}
	SetHeaders(h, p, Decision{Limit: 10, RetryAfter: 2500 * ms})
	if got := h.Values("Retry-After"); len(got) != 1 || got[0] != "3" {
		t.Errorf("Retry-After %q", got)
	}
}

func TestNameLength(t *testing.T) {
	h := http.Header{}
	SetHeaders(h, Policy{Name: strings.Repeat(`"`, 200), Requests: 1, Per: time.Second}, Decision{Allowed: true})
	v := h.Get("RateLimit")
	if want := `"` + strings.Repeat(`\"`, maxNameLen) + `";r=0;t=0`; v != want {
		t.Fatalf("got %q, want %q", v, want)
	}
}

// SetHeaders on real Local decisions, through a refusal.
func TestSetHeadersFromLocal(t *testing.T) {
	p := Policy{Name: "orders", Requests: 100, Per: time.Minute, Burst: 20}
	l := newLocal(t, p, 10)
	var h http.Header
	for range 21 {
		h = http.Header{}
		SetHeaders(h, p, l.Allow("client", t0))
	}
	if got := h.Get("RateLimit"); got != `"orders";r=0;t=1` {
		t.Errorf("RateLimit %q", got)
	}
	if got := h.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q", got)
	}
	h = http.Header{}
	SetHeaders(h, p, l.Allow("client", t0.Add(600*ms)))
	if got := h.Get("RateLimit"); got != `"orders";r=0;t=12` {
		t.Errorf("RateLimit %q", got)
	}
}

// validItem checks v against RFC 9651's grammar for what SetHeaders emits:
// sf-string followed by parameters with lowercase keys and integer values.
func validItem(v string) bool {
	if len(v) < 2 || v[0] != '"' {
		return false
	}
	i := 1
	for ; i < len(v); i++ {
		c := v[i]
		if c == '\\' {
			i++
			if i >= len(v) || (v[i] != '"' && v[i] != '\\') {
				return false
			}
			continue
		}
		if c == '"' {
			break
		}
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	if i >= len(v) {
		return false
	}
	rest := v[i+1:]
	for rest != "" {
		if rest[0] != ';' {
			return false
		}
		rest = rest[1:]
		k := 0
		for k < len(rest) && (rest[k] >= 'a' && rest[k] <= 'z') {
			k++
		}
		if k == 0 || k >= len(rest) || rest[k] != '=' {
			return false
		}
		rest = rest[k+1:]
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 0 || n > 15 {
			return false
		}
		rest = rest[n:]
	}
	return true
}

func TestHeaderNamesCanonical(t *testing.T) {
	for _, k := range []string{"RateLimit-Policy", "RateLimit", "Retry-After"} {
		c := http.CanonicalHeaderKey(k)
		if c != headerPolicy && c != headerRateLimit && c != headerRetryAfter {
			t.Errorf("%s canonicalizes to %s, which SetHeaders does not use", k, c)
		}
	}
}

func TestSetHeadersAllocs(t *testing.T) {
	p := Policy{Name: "api", Requests: 100, Per: time.Minute, Burst: 20}
	h := http.Header{}
	refused := Decision{Limit: 20, Reset: 12 * time.Second, RetryAfter: 600 * ms}
	if a := testing.AllocsPerRun(100, func() { SetHeaders(h, p, refused) }); a > 2 {
		t.Errorf("%v allocs per SetHeaders", a)
	}
}
