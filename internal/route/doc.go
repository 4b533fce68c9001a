// Package route owns the compiled route table: requests are matched by host
// (exact, then "*.suffix" wildcard, then any host), then by path, then by
// method.
//
// A route's path is either a prefix (PathPrefix, matched on segment
// boundaries, longest wins) or a path (Path): an exact path or an
// OpenAPI-style template such as "/v1/orders/{id}" or "/files/{name}.json",
// where each parameter stands for one non-empty segment (see ParseTemplate).
// Within a host, path routes are tried before prefixes; among path routes
// the most specific wins, segment by segment from the left (literal, then a
// parameter with literal text around it, then a bare parameter); at equally
// specific paths, method-restricted routes come before open ones, then
// config order. Table.Match documents the rules in full.
//
// Lookups cost a few map probes per path segment: prefixes are looked up
// by the path's own prefixes, and path routes sit in a segment trie
// (literal children in a map, parameters with literal text indexed by their
// first or last byte), so the cost does not grow with the number of routes.
//
// It also owns request-path normalisation (CleanPath), so that the path a
// route was chosen for is exactly the path the upstream receives.
//
// A Table is immutable once built and safe for concurrent use; a reload
// builds a new one. The package knows nothing of TLS or policy: a route's
// payload is opaque to it.
package route
