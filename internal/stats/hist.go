package stats

import (
	"math"
	"math/bits"
	"time"
)

// Latency histograms are log-linear ("HDR-like") with fixed bucket edges, so
// histograms of different cells and slots merge exactly by adding counts.
//
// A latency of ns nanoseconds in [2^minExp, 2^maxExp) falls in octave
// e = floor(log2 ns); each octave [2^e, 2^(e+1)) is cut into 2^subBits
// equal sub-buckets of width w = 2^(e-subBits). Bucket 0 holds everything
// below 2^minExp ns (1.024 µs) and the last bucket everything from 2^maxExp ns
// (≈137.4 s) up. The bucket index is computed with one bits.Len64 and a
// shift: no logarithms on the hot path.
//
// Two resolutions share these edges:
//
//   - route cells use 8 sub-buckets per octave (fineBuckets = 218). A bucket
//     [lo, hi) has hi/lo ≤ 1 + 1/8.
//   - identity cells use whole octaves (octBuckets = 29), hi/lo = 2. Octave
//     bucket i is exactly the union of fine buckets 1+8(i-1) … 8+8(i-1), so a
//     route histogram refines an identity histogram of the same cells.
//
// Error bound. A quantile is the nearest-rank value: the sample of rank
// ceil(q·n) in sorted order. The histogram finds the bucket [lo, hi) that
// holds that sample and reports x = 2·lo·hi/(lo+hi), the point whose relative
// distance to both edges is the same, (hi-lo)/(hi+lo). So for latencies in
// [1.024 µs, 137.4 s) the reported value differs from the exact nearest-rank
// percentile by at most
//
//	route:    (1/8)/(2+1/8) = 1/17 ≈ 5.9 %
//	identity: 1/(2+1) = 1/3 ≈ 33 % (often much less, see identityQuantile)
//
// plus at most 0.5 ns from rounding x to whole nanoseconds. Latencies below
// 1.024 µs are reported as 1.024 µs; latencies of 137.4 s or more as 137.4 s.
// TestQuantileErrorBound checks these bounds against exact percentiles of
// random samples.
const (
	minExp      = 10 // 2^10 ns = 1.024 µs
	maxExp      = 37 // 2^37 ns ≈ 137.4 s
	octaves     = maxExp - minExp
	subBits     = 3
	subBuckets  = 1 << subBits
	fineBuckets = 2 + octaves*subBuckets // 218
	octBuckets  = 2 + octaves            // 29
)

// fineBucket returns the route-resolution bucket of a latency.
func fineBucket(d time.Duration) int {
	ns := uint64(d)
	if d < 1<<minExp {
		return 0
	}
	if ns >= 1<<maxExp {
		return fineBuckets - 1
	}
	e := bits.Len64(ns) - 1
	sub := int(ns>>uint(e-subBits)) & (subBuckets - 1)
	return 1 + (e-minExp)<<subBits + sub
}

// octaveOf maps a fine bucket to the identity-resolution bucket holding it.
func octaveOf(fine int) int {
	switch fine {
	case 0:
		return 0
	case fineBuckets - 1:
		return octBuckets - 1
	}
	return 1 + (fine-1)>>subBits
}

// fineBounds returns the edges [lo, hi) of a fine bucket in nanoseconds. The
// overflow bucket is reported as the point [2^maxExp, 2^maxExp].
func fineBounds(b int) (lo, hi int64) {
	switch b {
	case 0:
		return 0, 1 << minExp
	case fineBuckets - 1:
		return 1 << maxExp, 1 << maxExp
	}
	e := minExp + (b-1)>>subBits
	sub := int64((b - 1) & (subBuckets - 1))
	w := int64(1) << (e - subBits)
	lo = (subBuckets + sub) * w
	return lo, lo + w
}

// octBounds returns the edges [lo, hi) of an identity bucket.
func octBounds(b int) (lo, hi int64) {
	switch b {
	case 0:
		return 0, 1 << minExp
	case octBuckets - 1:
		return 1 << maxExp, 1 << maxExp
	}
	e := minExp + b - 1
	return 1 << e, 2 << e
}

// estimate is the value reported for a sample known to lie in [lo, hi).
func estimate(lo, hi int64) int64 {
	if lo == 0 {
		return hi // below the first edge: report the edge
	}
	if hi <= lo {
		return lo // overflow bucket
	}
	return int64(math.Round(2 * float64(lo) * float64(hi) / float64(lo+hi)))
}

// rankOf is the 1-based nearest rank of the pct-th percentile of n samples:
// ceil(pct·n/100), at least 1.
func rankOf(pct, n uint64) uint64 {
	hi, lo := bits.Mul64(pct, n)
	q, r := bits.Div64(hi, lo, 100)
	if r != 0 {
		q++
	}
	return max(q, 1)
}

// locate returns the bucket holding the sample of the given 1-based rank and
// that sample's rank inside the bucket.
func locate(h []uint64, rank uint64) (bucket int, inBucket uint64) {
	var seen uint64
	for i, c := range h {
		if seen+c >= rank {
			return i, rank - seen
		}
		seen += c
	}
	// rank > total: only when counts changed under a reader; use the last
	// non-empty bucket.
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] != 0 {
			return i, h[i]
		}
	}
	return 0, 0
}

func sum(h []uint64) (n uint64) {
	for _, v := range h {
		n += v
	}
	return n
}

// fineQuantile returns the pct-th percentile (nanoseconds) of a route
// histogram.
func fineQuantile(h *[fineBuckets]uint64, pct uint64) int64 {
	n := sum(h[:])
	if n == 0 {
		return 0
	}
	b, _ := locate(h[:], rankOf(pct, n))
	return estimate(fineBounds(b))
}

// identityQuantile returns the pct-th percentile (nanoseconds) of an identity
// histogram ih. route is the fine histogram of the identity's
// route over the same cells; every sample of the identity is also one of the
// route's, which narrows the answer inside the octave:
//
// Let the wanted sample be the j-th smallest of the c identity samples in
// octave bucket B, and let the route have C ≥ c samples in B. Since the
// identity's samples are a subset of the route's, the j-th smallest of them
// lies between the route's j-th and (C-c+j)-th smallest samples in B, which
// the fine sub-buckets locate. The interval is never wider than the octave,
// so the 1/3 bound holds, and when the identity is the only caller with
// latencies in that octave it shrinks to one fine bucket (1/17).
func identityQuantile(ih *[octBuckets]uint64, route *[fineBuckets]uint64, pct uint64) int64 {
	n := sum(ih[:])
	if n == 0 {
		return 0
	}
	b, j := locate(ih[:], rankOf(pct, n))
	lo, hi := octBounds(b)
	if b == 0 || b == octBuckets-1 || route == nil {
		return estimate(lo, hi)
	}
	first := 1 + (b-1)*subBuckets
	sub := route[first : first+subBuckets]
	bigC, c := sum(sub), ih[b]
	if bigC < c || j == 0 || j > c {
		return estimate(lo, hi) // not a subset (cannot happen; be safe)
	}
	a, _ := locate(sub, j)
	z, _ := locate(sub, bigC-c+j)
	lo, _ = fineBounds(first + a)
	_, hi = fineBounds(first + z)
	return estimate(lo, hi)
}
