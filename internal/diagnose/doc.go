// Package diagnose explains, in sentences a person can act on, why a TLS
// handshake or a certificate check failed, each with a short reason code for
// metrics ("expired", "unknown_ca", "no_client_cert", …).
//
// The same explanations serve the handshake-failure log lines and the
// `mtlsgate diagnose` command: DiagnoseCert checks a client certificate
// against a config's listeners, routes and revocation sources (without I/O
// beyond reading the certificate file and trust bundles), and DiagnoseConn
// connects to an upstream or URL and reports on the TLS exchange. The
// package keeps no state.
package diagnose
