// Package gateway is mtlsgate's composition root: it builds listeners,
// routes, policies and upstreams from a config.Config, serves them, and
// reloads them.
//
// Reload model: every reloadable thing (certificates, trust bundles,
// policies, routes, upstreams) is built completely off to the side into a
// new immutable state and published with one atomic pointer store. A reload
// that fails keeps the old state, logs why and counts it; connections and
// requests in flight are never dropped. Listener sockets live outside the
// state: a listener whose name and address are unchanged keeps its socket and
// picks up the new TLS configuration at its next handshake.
//
// TLS handshakes are run by the gateway's own accept loop, so that every
// failed handshake can be explained and counted with the client
// certificate that caused it. The goroutine that ran a handshake then
// serves the connection: HTTP/2 (ALPN "h2") with internal/h2, anything
// else with internal/h1; it goes back to the accept loop's pool of
// workers when the connection ends or idles (see tlsListener).
package gateway
