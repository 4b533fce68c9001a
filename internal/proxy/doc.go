// Package proxy forwards authorised requests to upstreams: one pooled HTTP
// transport per upstream (mTLS with the gateway's client certificate when the
// upstream is https), request rewriting that strips client-sent identity
// headers and sets the trusted ones, and the mapping of upstream failures to
// 502/504 with a reason a person can act on.
//
// It does not decide who may call a route (policy) or which route a request
// takes (route). Upstreams and handlers are immutable after construction and
// safe for concurrent use; a reload builds new ones (or reuses an unchanged
// Upstream so its warm connection pool survives).
package proxy
