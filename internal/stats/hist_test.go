package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketEdges(t *testing.T) {
	prevHi := int64(0)
	for b := 0; b < fineBuckets-1; b++ {
		lo, hi := fineBounds(b)
		if lo != prevHi || hi <= lo {
			t.Fatalf("bucket %d [%d,%d) does not follow %d", b, lo, hi, prevHi)
		}
		prevHi = hi
		if b > 0 && float64(hi)/float64(lo) > 1+1.0/subBuckets+1e-12 {
			t.Fatalf("bucket %d [%d,%d) wider than 1/%d", b, lo, hi, subBuckets)
		}
		if got := fineBucket(time.Duration(lo)); got != b && lo > 0 {
			t.Fatalf("fineBucket(%d) = %d, want %d", lo, got, b)
		}
		if got := fineBucket(time.Duration(hi - 1)); got != b {
			t.Fatalf("fineBucket(%d) = %d, want %d", hi-1, got, b)
		}
		// The octave bucket of a fine bucket contains it.
		olo, ohi := octBounds(octaveOf(b))
		if lo < olo || hi > ohi {
			t.Fatalf("fine bucket %d [%d,%d) outside its octave [%d,%d)", b, lo, hi, olo, ohi)
		}
	}
	if prevHi != 1<<maxExp || fineBucket(time.Duration(1<<maxExp)) != fineBuckets-1 || fineBucket(1000*time.Hour) != fineBuckets-1 {
		t.Fatalf("overflow bucket wrong: last edge %d", prevHi)
	}
	if fineBucket(-time.Second) != 0 || fineBucket(0) != 0 || fineBucket(1023) != 0 || fineBucket(1024) != 1 {
		t.Fatal("underflow bucket wrong")
	}
	if octaveOf(fineBuckets-1) != octBuckets-1 {
		t.Fatal("overflow octave wrong")
	}
	if identCellSize != 160 || routeCellSize != 872 {
		t.Fatalf("cell sizes %d, %d: update memory.go and the package documentation", identCellSize, routeCellSize)
	}
}

func TestRankOf(t *testing.T) {
	for _, c := range []struct{ pct, n, want uint64 }{
		{50, 1, 1}, {99, 1, 1}, {50, 2, 1}, {50, 3, 2}, {95, 20, 19}, {95, 21, 20}, {99, 100, 99}, {99, 101, 100}, {50, 0, 1},
		{99, math.MaxUint64, math.MaxUint64 - math.MaxUint64/100},
	} {
		if got := rankOf(c.pct, c.n); got != c.want {
			t.Errorf("rankOf(%d, %d) = %d, want %d", c.pct, c.n, got, c.want)
		}
	}
}

// exactPercentile is the nearest-rank percentile of a sorted sample.
func exactPercentile(sorted []int64, pct uint64) int64 {
	return sorted[rankOf(pct, uint64(len(sorted)))-1]
}

// within reports whether est is within bound (relative) of exact, allowing
// the 0.5 ns of rounding the package documentation states.
func within(est, exact int64, bound float64) bool {
	if exact < 1<<minExp {
		return est == 1<<minExp // below the first edge: reported as the edge
	}
	if exact >= 1<<maxExp {
		return est == 1<<maxExp
	}
	return math.Abs(float64(est-exact)) <= bound*float64(exact)+0.5
}

// sample draws n latencies from one of several shapes.
func sample(r *rand.Rand, n, shape int) []int64 {
	out := make([]int64, n)
	for i := range out {
		var v float64
		switch shape {
		case 0: // log-uniform over 1 µs .. 100 s
			v = math.Exp(math.Log(1e3) + r.Float64()*(math.Log(1e11)-math.Log(1e3)))
		case 1: // log-normal around 20 ms
			v = math.Exp(math.Log(20e6) + r.NormFloat64())
		case 2: // bimodal: cache hits ~300 µs, misses ~800 ms
			if r.IntN(10) == 0 {
				v = 800e6 * (0.5 + r.Float64())
			} else {
				v = 300e3 * (0.8 + 0.4*r.Float64())
			}
		default: // a few exact values, many ties
			v = float64([]int64{1024, 5e6, 5e6 + 1, 12345678, 99e9}[r.IntN(5)])
		}
		out[i] = int64(v)
	}
	return out
}

// TestQuantileErrorBound checks the documented bounds against exact
// nearest-rank percentiles of random samples: 1/17 for route histograms,
// 1/3 for identity histograms, and 1/17 again for an identity that is its
// route's only caller.
func TestQuantileErrorBound(t *testing.T) {
	const routeBound, identBound = 1.0 / 17, 1.0 / 3
	r := rand.New(rand.NewPCG(1, 2))
	worstRoute, worstIdent := 0.0, 0.0
	for iter := 0; iter < 400; iter++ {
		n := 1 + r.IntN(3000)
		shape := iter % 4
		mine := sample(r, n, shape)
		others := sample(r, r.IntN(3000), (shape+1+r.IntN(3))%4)
		var route [fineBuckets]uint64
		var ident [octBuckets]uint64
		var alone [fineBuckets]uint64 // route histogram with only mine
		for _, v := range mine {
			b := fineBucket(time.Duration(v))
			route[b]++
			alone[b]++
			ident[octaveOf(b)]++
		}
		for _, v := range others {
			route[fineBucket(time.Duration(v))]++
		}
		all := slices.Concat(mine, others)
		slices.Sort(all)
		slices.Sort(mine)
		for _, pct := range []uint64{1, 50, 90, 95, 99, 100} {
			exact := exactPercentile(all, pct)
			est := fineQuantile(&route, pct)
			if !within(est, exact, routeBound) {
				t.Fatalf("route p%d: est %d exact %d (shape %d, n %d)", pct, est, exact, shape, len(all))
			}
			worstRoute = max(worstRoute, math.Abs(float64(est-exact))/float64(exact))

			exact = exactPercentile(mine, pct)
			for _, c := range []struct {
				name  string
				route *[fineBuckets]uint64
				bound float64
			}{{"octave only", nil, identBound}, {"shared route", &route, identBound}, {"sole caller", &alone, routeBound}} {
				est := identityQuantile(&ident, c.route, pct)
				if !within(est, exact, c.bound) {
					t.Fatalf("identity (%s) p%d: est %d exact %d (shape %d, n %d)", c.name, pct, est, exact, shape, n)
				}
				if c.route != nil && c.name == "shared route" {
					worstIdent = max(worstIdent, math.Abs(float64(est-exact))/float64(exact))
				}
			}
		}
	}
	t.Logf("worst relative error seen: route %.4f (bound %.4f), identity %.4f (bound %.4f)", worstRoute, routeBound, worstIdent, identBound)
}
