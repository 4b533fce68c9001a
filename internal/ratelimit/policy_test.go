package ratelimit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPolicyValidate(t *testing.T) {
	ok := []Policy{
		{Requests: 1, Per: time.Second},
		{Name: "api", Requests: 100, Per: time.Minute, Burst: 20},
		{Requests: MaxRequests, Per: time.Second, Burst: MaxBurst},
		{Requests: 1, Per: MaxPer, Burst: 30}, // refill exactly MaxFill
		{Requests: 7, Per: 3 * time.Second},
	}
	for _, p := range ok {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: unexpected error %v", p, err)
		}
	}

	bad := []struct {
		p    Policy
		want []string // substrings, one per expected problem
	}{
		{Policy{Requests: 0, Per: time.Second}, []string{"requests must be between 1"}},
		{Policy{Requests: -5, Per: time.Second}, []string{"got -5"}},
		{Policy{Requests: MaxRequests + 1, Per: time.Second}, []string{"requests must be"}},
		{Policy{Requests: 1, Per: 0}, []string{"per must be between"}},
		{Policy{Requests: 1, Per: -time.Second}, []string{"per must be between"}},
		{Policy{Requests: 1, Per: 500 * time.Millisecond}, []string{"per must be between 1s and 24h0m0s, got 500ms"}},
		{Policy{Requests: 1, Per: 25 * time.Hour}, []string{"per must be between"}},
		{Policy{Requests: 1, Per: 1500 * time.Millisecond}, []string{"whole number of seconds"}},
		{Policy{Requests: 1, Per: time.Second, Burst: -1}, []string{"burst must be between 0"}},
		{Policy{Requests: 1, Per: time.Second, Burst: MaxBurst + 1}, []string{"burst must be"}},
		{Policy{Requests: 1, Per: MaxPer, Burst: 31}, []string{"to refill"}},
		{Policy{Requests: 1, Per: MaxPer, Burst: MaxBurst}, []string{"to refill"}}, // would overflow if multiplied naively
		{Policy{Requests: 0, Per: 0, Burst: -1}, []string{"requests", "per", "burst"}},
	}
	for _, c := range bad {
		err := c.p.Validate()
		if err == nil {
			t.Errorf("%+v: no error", c.p)
			continue
		}
		if !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%+v: %v does not wrap ErrInvalidPolicy", c.p, err)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error %q does not mention %q", c.p, err, w)
			}
		}
		if got := strings.Count(err.Error(), "invalid policy"); got != len(c.want) {
			t.Errorf("%+v: %d problems reported, want %d: %v", c.p, got, len(c.want), err)
		}
	}
}

func TestPolicyDerived(t *testing.T) {
	cases := []struct {
		p        Policy
		burst    int
		interval time.Duration
	}{
		{Policy{Requests: 100, Per: time.Minute}, 100, 600 * time.Millisecond},
		{Policy{Requests: 100, Per: time.Minute, Burst: 20}, 20, 600 * time.Millisecond},
		{Policy{Requests: 3, Per: time.Second}, 3, 333333334}, // rounded up
		{Policy{Requests: MaxRequests, Per: time.Second}, MaxRequests, 1},
	}
	for _, c := range cases {
		if b := c.p.burst(); b != c.burst {
			t.Errorf("%+v: burst %d, want %d", c.p, b, c.burst)
		}
		if iv := c.p.interval(); iv != c.interval {
			t.Errorf("%+v: interval %v, want %v", c.p, iv, c.interval)
		}
	}
}

func TestNewLocalErrors(t *testing.T) {
	if _, err := NewLocal(Policy{Requests: 0, Per: time.Second}, 10); !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("invalid policy: got %v", err)
	}
	p := Policy{Requests: 1, Per: time.Second}
	for _, n := range []int{0, -1, MaxKeys + 1} {
		if _, err := NewLocal(p, n); err == nil {
			t.Errorf("maxKeys %d: no error", n)
		}
	}
	for _, n := range []int{1, 63, 64, 4095, 4096, 1_000_000} {
		l, err := NewLocal(p, n)
		if err != nil {
			t.Fatalf("maxKeys %d: %v", n, err)
		}
		total := 0
		for i := range l.shards {
			total += int(l.shards[i].capacity)
			if l.shards[i].capacity < 1 {
				t.Errorf("maxKeys %d: shard %d has capacity %d", n, i, l.shards[i].capacity)
			}
		}
		if total != n {
			t.Errorf("maxKeys %d: shard capacities sum to %d", n, total)
		}
		if s := len(l.shards); s&(s-1) != 0 || s > maxShards {
			t.Errorf("maxKeys %d: %d shards", n, s)
		}
	}
}
