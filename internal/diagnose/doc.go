// Package diagnose explains, in sentences a person can act on, why a TLS
// handshake or a certificate check failed, each with a short reason code for
// metrics ("expired", "unknown_ca", "no_client_cert", …).
//
// The same explanations serve the handshake-failure log lines and, later,
// the `mtlsgate diagnose` command. The package only reads errors and
// certificates; it has no state and performs no network I/O.
package diagnose
