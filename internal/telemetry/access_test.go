package telemetry

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
)

func sampleEntry() *AccessEntry {
	return &AccessEntry{
		Start: time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC), Listener: "public", Route: "secure",
		Method: "GET", Path: "/api/x", Proto: "HTTP/2.0", Status: 200, Duration: 1234567 * time.Nanosecond,
		BytesIn: -1, BytesOut: 42, Upstream: "orders", RemoteAddr: "127.0.0.1:5555",
		Subject: "CN=alice,O=Acme", SANs: []string{"DNS:a.example.com", "URI:spiffe://x/y"}, Serial: "0a", Fingerprint: "ff",
		Reason: "", StrippedHeaders: 2, InsecureUpstream: true,
	}
}

func TestAppendAccessJSON(t *testing.T) {
	b := AppendAccessJSON(nil, sampleEntry())
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	client := m["client"].(map[string]any)
	if m["status"].(float64) != 200 || m["duration_ms"].(float64) != 1.234 || client["subject"] != "CN=alice,O=Acme" ||
		len(client["sans"].([]any)) != 2 || m["stripped_identity_headers"].(float64) != 2 || m["bytes_in"].(float64) != 0 ||
		m["time"] != "2026-11-23T10:00:00.123456789Z" || m["insecure_upstream"] != true {
		t.Fatalf("fields wrong: %s", b)
	}
}

func TestAccessLogBuffersAndFlushes(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return out.Write(p) })
	a := NewAccessLog(w, 20*time.Millisecond)
	a.Write(sampleEntry())
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := out.Len()
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("line not flushed by the interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.Write(sampleEntry())
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "\n"); got != 2 {
		t.Fatalf("%d lines after Close, want 2", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func FuzzAppendQuoted(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x00\x1f\x7f", "\xff\xfe", "\u2028", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendQuoted(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendQuoted(%q) = %s: invalid JSON: %v", s, b, err)
		}
		// Only invalid bytes may change, each into U+FFFD.
		if want := string([]rune(s)); got != want {
			t.Fatalf("round trip %q -> %q, want %q", s, got, want)
		}
	})
}

func BenchmarkAppendAccessJSON(b *testing.B) {
	e := sampleEntry()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAccessJSON(buf[:0], e)
	}
}
