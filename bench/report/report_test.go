package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSpliceKeepsNotes(t *testing.T) {
	doc := splice("", "A\n")
	if !strings.Contains(doc, beginMarker+"\nA\n"+endMarker) {
		t.Fatalf("new doc:\n%s", doc)
	}
	doc = "# notes\n\nkeep me\n\n" + beginMarker + "\nold\n" + endMarker + "\n\nafter\n"
	got := splice(doc, "new\n")
	want := "# notes\n\nkeep me\n\n" + beginMarker + "\nnew\n" + endMarker + "\n\nafter\n"
	if got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	if splice(got, "new\n") != got {
		t.Fatal("splice is not idempotent")
	}
}

func TestHelpers(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderRatios(t *testing.T) {
	dir := t.TempDir()
	write := func(label string, rps float64) {
		r := map[string]any{"label": label, "ok": int64(rps * 10), "ok_per_s": rps,
			"latency":  map[string]float64{"p99_ms": 2},
			"cpu_busy": []map[string]any{{"cpu": "cpu0", "busy_pct": 99.0}, {"cpu": "cpu1", "busy_pct": 60.0}}}
		b, _ := json.Marshal(r)
		name := strings.ReplaceAll(label, "/", ".") + ".json"
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for rep, v := range []float64{1300, 1310, 1320} {
		write("keepalive-h1/mtlsgate/"+string(rune('1'+rep)), v)
		write("keepalive-h1/nginx/"+string(rune('1'+rep)), 1000)
	}
	out := filepath.Join(dir, "RESULTS.md")
	var sb strings.Builder
	err := run1([]string{"--results", dir, "--out", out, "--peers", "mtlsgate nginx haproxy", "--workloads", "keepalive-h1"}, &sb)
	if err != nil {
		t.Fatal(err)
	}
	s := sb.String()
	for _, want := range []string{
		"ratio keepalive-h1 vs nginx: 1.31\n",
		"ratio keepalive-h1 vs haproxy: n/a\n",
		"| mtlsgate | 1,310 (1,300..1,320), p99 2.00 ms |",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in:\n%s", want, s)
		}
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(b), s) {
		t.Fatalf("file not written with the section: %v", err)
	}
}
