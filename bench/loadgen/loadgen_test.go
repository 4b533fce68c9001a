package main

import (
	"bufio"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBucketRangeContainsValue(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	vals := []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 40, 1<<63 - 1, 1 << 63, ^uint64(0)}
	for range 10000 {
		vals = append(vals, r.Uint64()>>r.UintN(64))
	}
	for _, v := range vals {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		lo, hi := bucketRange(i)
		if v < lo || v > hi {
			t.Fatalf("value %d in bucket %d = [%d, %d]", v, i, lo, hi)
		}
		if v >= subCount && float64(hi-lo) > float64(lo)/subCount {
			t.Fatalf("bucket [%d, %d] wider than 1/%d", lo, hi, subCount)
		}
	}
}

// exactPercentile is the nearest-rank percentile of a sorted sample.
func exactPercentile(sorted []time.Duration, q float64) time.Duration {
	rank := int(float64(len(sorted))*q/100 + 0.999999999)
	rank = max(rank, 1)
	return sorted[rank-1]
}

func TestPercentilesMatchSortedSample(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h1, h2 Histogram
	var all []time.Duration
	for i := range 200000 {
		// Log-normal-ish latencies between ~50µs and ~100ms.
		d := time.Duration(50_000 * (1 + r.ExpFloat64()*r.ExpFloat64()*40))
		all = append(all, d)
		if i%2 == 0 {
			h1.Record(d)
		} else {
			h2.Record(d)
		}
	}
	var h Histogram
	h.Merge(&h1)
	h.Merge(&h2)
	slices.Sort(all)
	if h.Count() != uint64(len(all)) {
		t.Fatalf("count %d, want %d", h.Count(), len(all))
	}
	if h.Max() != all[len(all)-1] || h.Min() != all[0] {
		t.Fatalf("min/max %v/%v, want %v/%v", h.Min(), h.Max(), all[0], all[len(all)-1])
	}
	for _, q := range []float64{0, 1, 50, 90, 99, 99.9, 100} {
		got, want := h.Percentile(q), exactPercentile(all, q)
		if got < want || float64(got-want) > float64(want)/subCount {
			t.Errorf("p%v = %v, exact %v (want within +1/%d)", q, got, want, subCount)
		}
	}
}

func TestPercentileSmallAndEmpty(t *testing.T) {
	var h Histogram
	if h.Percentile(99) != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	for _, ms := range []int{1, 2, 3, 4, 100} {
		h.Record(time.Duration(ms) * time.Millisecond)
	}
	if got := h.Percentile(50); got < 3*time.Millisecond || got > 3*time.Millisecond+3*time.Millisecond/subCount {
		t.Errorf("p50 = %v, want ~3ms", got)
	}
	if got := h.Percentile(99); got != 100*time.Millisecond {
		t.Errorf("p99 = %v, want 100ms (clamped to max)", got)
	}
	if got := h.Mean(); got != 22*time.Millisecond {
		t.Errorf("mean = %v, want 22ms", got)
	}
}

const stat1 = `cpu  1000 0 500 8000 100 0 0 0 0 0
cpu0 600 0 300 3000 50 0 0 0 0 0
cpu1 400 0 200 5000 50 0 0 0 0 0
intr 12345 0 0
ctxt 999
`

const stat2 = `cpu  1400 0 600 8500 100 0 0 0 0 0
cpu0 950 0 350 3000 50 0 0 0 0 0
cpu1 450 0 250 5500 50 10 0 0 7 0
intr 12346 0 0
`

func TestProcStat(t *testing.T) {
	a, err := parseProcStat(strings.NewReader(stat1))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 2 || a[0].Name != "cpu0" || a[0].Total != 3950 || a[0].Idle != 3050 {
		t.Fatalf("parsed %+v", a)
	}
	b, err := parseProcStat(strings.NewReader(stat2))
	if err != nil {
		t.Fatal(err)
	}
	got := busyBetween(a, b)
	// cpu0: +400 busy ticks, +0 idle -> 100%. cpu1: +110 busy, +500 idle.
	if len(got) != 2 || got[0].Busy != 100 || got[1].CPU != "cpu1" {
		t.Fatalf("busy %+v", got)
	}
	if want := 100 * 110.0 / 610.0; got[1].Busy < want-1e-9 || got[1].Busy > want+1e-9 {
		t.Fatalf("cpu1 busy %v, want %v", got[1].Busy, want)
	}
	if _, err := parseProcStat(strings.NewReader("intr 1\n")); err == nil {
		t.Fatal("want an error without cpu lines")
	}
	if _, err := parseProcStat(strings.NewReader("cpu0 1 x 3 4\n")); err == nil {
		t.Fatal("want an error for a bad field")
	}
}

func TestStatusRSS(t *testing.T) {
	rss, hwm, err := parseStatusRSS(strings.NewReader("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n"))
	if err != nil || rss != 1024 || hwm != 2048 {
		t.Fatalf("rss %d hwm %d err %v", rss, hwm, err)
	}
	if _, _, err := parseStatusRSS(strings.NewReader("Name:\tx\n")); err == nil {
		t.Fatal("want an error without VmRSS")
	}
}

func TestReadResponse(t *testing.T) {
	cases := []struct {
		name, in string
		status   int
		closing  bool
		rest     string
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT", 200, false, "NEXT"},
		{"chunked", "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nNEXT", 200, false, "NEXT"},
		{"close", "HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 2\r\n\r\nnoNEXT", 403, true, "NEXT"},
		{"http10", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\nNEXT", 200, true, "NEXT"},
		{"eof-body", "HTTP/1.1 200 OK\r\n\r\nall of it", 200, true, ""},
		{"no-body", "HTTP/1.1 204 No Content\r\n\r\nNEXT", 204, false, "NEXT"},
	}
	for _, c := range cases {
		br := bufio.NewReader(strings.NewReader(c.in))
		status, closing, err := readResponse(br)
		if err != nil || status != c.status || closing != c.closing {
			t.Errorf("%s: status %d closing %v err %v", c.name, status, closing, err)
			continue
		}
		rest := make([]byte, 16)
		n, _ := br.Read(rest)
		if string(rest[:n]) != c.rest {
			t.Errorf("%s: left %q, want %q", c.name, rest[:n], c.rest)
		}
	}
	if _, _, err := readResponse(bufio.NewReader(strings.NewReader("garbage\r\n"))); err == nil {
		t.Error("want an error for a bad status line")
	}
}

func TestParseFlags(t *testing.T) {
	var sb strings.Builder
	o, err := parseFlags([]string{"--url", "https://localhost:8443/x?y=1", "--ca", "ca.pem", "--connect", "127.0.0.1:8443"}, &sb)
	if err != nil {
		t.Fatal(err)
	}
	if o.host != "localhost:8443" || o.path != "/x?y=1" || o.serverName != "localhost" || o.connect != "127.0.0.1:8443" {
		t.Fatalf("parsed %+v", o)
	}
	for _, bad := range [][]string{
		{"--url", "http://x/", "--ca", "c"},
		{"--url", "https://x/"},
		{"--url", "https://x/", "--ca", "c", "--mode", "nope"},
		{"--url", "https://x/", "--ca", "c", "--tls", "1.1"},
		{"--url", "https://x/", "--ca", "c", "--mode", "idle", "--http", "2"},
	} {
		if _, err := parseFlags(bad, &sb); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}

func TestPIDStatAndForeign(t *testing.T) {
	n, err := parsePIDStat([]byte("42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5 0 0"))
	if err != nil || n != 325 {
		t.Fatalf("ticks %d err %v", n, err)
	}
	if _, err := parsePIDStat([]byte("42 (x) S 1 2")); err == nil {
		t.Fatal("want an error for a short line")
	}
	if pidTicks([]int{0}) == 0 {
		// This process has used some CPU by now; 0 means /proc/self/stat was not read.
		t.Log("pidTicks(self) is 0; CPU time may be below one tick")
	}
	a := cpuSnap{cores: []cpuTimes{{Name: "cpu0", Total: 1000, Work: 500}, {Name: "cpu1", Total: 1000, Work: 300}}, known: 700}
	b := cpuSnap{cores: []cpuTimes{{Name: "cpu0", Total: 2000, Work: 1450}, {Name: "cpu1", Total: 2000, Work: 1100}}, known: 2300}
	// 1750 ticks of work, 1600 by known processes, 1000 ticks per core: 15 %.
	if got := foreignPct(a, b); got < 14.999 || got > 15.001 {
		t.Fatalf("foreign %v, want 15", got)
	}
	b.known = 2600
	if got := foreignPct(a, b); got != 0 {
		t.Fatalf("foreign %v, want 0 (clamped)", got)
	}
}
