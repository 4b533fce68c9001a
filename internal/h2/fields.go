package h2

import (
	"net/textproto"
	"strings"
)

// canonical returns the canonical form of a lowercase field name, from
// the table of common names or the connection's cache (bounded), so that
// common names cost no allocation.
func (c *conn) canonical(name string) string {
	if k, ok := commonCanonical[name]; ok {
		return k
	}
	if k, ok := c.canon[name]; ok {
		return k
	}
	k := textproto.CanonicalMIMEHeaderKey(name)
	if c.canon == nil {
		c.canon = make(map[string]string)
	}
	if len(c.canon) < 64 {
		c.canon[name] = k
	}
	return k
}

// commonCanonical maps lowercase field names to their canonical form;
// commonLower is the reverse.
var commonCanonical, commonLower = func() (map[string]string, map[string]string) {
	names := []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin",
		"Access-Control-Expose-Headers", "Access-Control-Max-Age",
		"Access-Control-Request-Headers", "Access-Control-Request-Method",
		"Age", "Allow", "Alt-Svc", "Authorization", "Cache-Control", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Length", "Content-Location",
		"Content-Range", "Content-Security-Policy", "Content-Type", "Cookie", "Date", "Etag",
		"Expect", "Expires", "Forwarded", "From", "Grpc-Encoding", "Grpc-Message", "Grpc-Status",
		"Grpc-Timeout", "Host", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range",
		"If-Unmodified-Since", "Last-Modified", "Link", "Location", "Max-Forwards", "Origin",
		"Pragma", "Priority", "Proxy-Authenticate", "Proxy-Authorization", "Range", "Referer",
		"Refresh", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security", "Te",
		"Trailer", "User-Agent", "Vary", "Via", "Www-Authenticate", "X-Content-Type-Options",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Frame-Options",
		"X-Real-Ip", "X-Request-Id", "X-Xss-Protection", "Traceparent", "Tracestate",
	}
	canon := make(map[string]string, len(names))
	lower := make(map[string]string, len(names))
	for _, k := range names {
		l := strings.ToLower(k)
		canon[l] = k
		lower[k] = l
	}
	return canon, lower
}()

// lowerName returns the HTTP/2 (lowercase) form of a header key.
func lowerName(k string) string {
	if l, ok := commonLower[k]; ok {
		return l
	}
	for i := 0; i < len(k); i++ {
		if b := k[i]; 'A' <= b && b <= 'Z' {
			return strings.ToLower(k)
		}
	}
	return k
}
