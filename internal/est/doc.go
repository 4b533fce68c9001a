// Package est is an RFC 7030 Enrollment over Secure Transport server:
// /cacerts, /simpleenroll, /simplereenroll, /serverkeygen and /csrattrs
// under /.well-known/est/, with an optional label segment that selects a CA
// profile. It signs through a Signer (FromAuthority adapts the built-in CA).
//
// Who may enroll:
//
//   - simpleenroll and serverkeygen: an HTTP Basic account or a one-time
//     token (Authenticator), or a client certificate from a bootstrap CA
//     (Options.Bootstrap; the listener accepted it for EST only). Each
//     credential binds the names it may ask for: the CSR's CN and DNS SANs
//     must match its patterns, and other SAN kinds are refused.
//   - simplereenroll: the TLS client certificate being renewed, which must
//     come from the issuing CA; the new request keeps its subject and SANs.
//
// Manual approval (Options.ManualApproval): a simpleenroll that passed
// those checks is queued in the store (Queue) and answered 202 with
// Retry-After and the request's ID. The client sends the same request
// again (RFC 7030 §4.2.3); the same public key, subject, SANs, credential
// and label find the same request: 202 while it waits, 403 with the reason
// once rejected, and the certificate once an operator approved it (Approver,
// "mtlsgate est approve"), which issues it in the approving transaction.
// Every retry after that returns the same certificate: a client that lost
// the answer asks again, and RFC 7030 clients poll until they get a
// certificate, so a 409 would leave them stuck. Requests end PendingLifetime
// after they were queued (waiting) or decided; a retry after that queues a
// new request. A one-time token is used up when its request is queued; it
// then only collects that request's outcome.
//
// Channel binding (RFC 7030 §3.5): a CSR that carries a challengePassword
// must carry the connection's tls-unique value (TLS 1.2) or its RFC 9266
// tls-exporter value (TLS 1.3), base64-encoded; anything else, the
// account's password included, is refused with 400. A CSR without one is
// not bound, as before.
//
// What it does not own: TLS (the gateway's listener verifies client
// certificates, bootstrap ones included, and their revocation — bootstrap
// certificates are another CA's and are not checked for revocation here),
// the CA's profiles and policy (package ca), and persistence (package
// store).
package est
