// Package route owns the compiled route table: requests are matched by host
// (exact, then "*.suffix" wildcard, then any host), then by the longest path
// prefix on segment boundaries, then by method. Lookups cost a few map
// probes per path segment, independent of the number of routes.
//
// It also owns request-path normalisation (CleanPath), so that the path a
// route was chosen for is exactly the path the upstream receives.
//
// A Table is immutable once built and safe for concurrent use; a reload
// builds a new one. The package knows nothing of TLS or policy: a route's
// payload is opaque to it.
package route
