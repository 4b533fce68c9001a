package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

const (
	// maxNameLen caps the policy name written in headers, in characters of
	// the original name.
	maxNameLen = 64
	// defaultName is written when Policy.Name is empty (the name the draft's
	// own examples use).
	defaultName = "default"
)

// SetHeaders writes the rate-limit header fields for decision d under
// policy p, replacing any previous values:
//
//	RateLimit-Policy: "<name>";q=<Requests>;w=<Per in seconds>
//	RateLimit: "<name>";r=<Remaining>;t=<seconds>
//	Retry-After: <seconds>          (only when d is a refusal)
//
// The first two are the structured-field Lists of
// draft-ietf-httpapi-ratelimit-headers-11 (§3 and §4), each with a single
// Item: the policy name as a String (RFC 9651 §3.3.3), sanitized to
// printable ASCII with '"' and '\' escaped, other characters replaced by
// '_', at most 64 characters, "default" if empty.
//
// t, the draft's effective window, is d.Reset (time until the bucket is
// full) rounded up to whole seconds when allowed. That is a conservative
// hint: the bucket keeps refilling meanwhile, so a client that spends r
// within t seconds is never refused. On a refusal t equals Retry-After,
// which is d.RetryAfter rounded up to whole seconds and at least 1: r is 0
// until then, and the draft (§6) says Retry-After should not point before
// the end of the effective window (its example B.1.4 does the same).
//
// On an allowed decision SetHeaders leaves any Retry-After alone.
func SetHeaders(h http.Header, p Policy, d Decision) {
	// All values are built in one buffer, converted to one string and
	// sliced, and the three one-element []string share one backing array:
	// two allocations per call.
	var buf [256]byte
	b := appendName(buf[:0], p.Name)
	nameEnd := len(b)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, int64(p.Requests), 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, ceilSeconds(p.Per), 10)
	policyEnd := len(b)

	var t int64
	if d.Allowed {
		t = ceilSeconds(d.Reset)
	} else {
		t = max(ceilSeconds(d.RetryAfter), 1)
	}
	b = append(b, b[:nameEnd]...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, int64(max(d.Remaining, 0)), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, t, 10)
	rateEnd := len(b)
	if !d.Allowed {
		b = strconv.AppendInt(b, t, 10)
	}

	s := string(b)
	v := make([]string, 3)
	v[0], v[1], v[2] = s[:policyEnd], s[policyEnd:rateEnd], s[rateEnd:]
	// Canonical keys (what h.Set would produce), assigned directly so that
	// canonicalization does not allocate.
	h[headerPolicy] = v[0:1:1]
	h[headerRateLimit] = v[1:2:2]
	if !d.Allowed {
		h[headerRetryAfter] = v[2:3:3]
	}
}

// Header names in canonical form (textproto.CanonicalMIMEHeaderKey).
const (
	headerPolicy     = "Ratelimit-Policy"
	headerRateLimit  = "Ratelimit"
	headerRetryAfter = "Retry-After"
)

// appendName appends name as a structured-field String.
func appendName(b []byte, name string) []byte {
	if name == "" {
		name = defaultName
	}
	b = append(b, '"')
	n := 0
	for _, r := range name {
		if n == maxNameLen {
			break
		}
		n++
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r >= 0x20 && r <= 0x7e:
			b = append(b, byte(r))
		default: // control, non-ASCII, or invalid UTF-8 (utf8.RuneError)
			b = append(b, '_')
		}
	}
	return append(b, '"')
}

// ceilSeconds rounds d up to whole seconds; 0 for d ≤ 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}
