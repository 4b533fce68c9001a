// Package telemetry owns what the gateway shows operators: Prometheus
// metrics on a registry of its own (no global registry), and the JSON access
// log line written for every request.
//
// Metric label sets are bounded: route, listener and upstream names come from
// config; methods outside the standard set are folded into "OTHER"; per-client
// series (certificate expiry) are capped and evict the least recently seen.
// Every type here is safe for concurrent use.
package telemetry
