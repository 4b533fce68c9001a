// Package revocation checks client certificates against external CRLs and
// OCSP responders, for one listener, without putting the network on the
// handshake path.
//
// # What is checked
//
// Check takes a verified chain (leaf first). The leaf is checked against
// the CRLs and, when enabled, OCSP, and the fail rules apply to it. Each
// intermediate is checked against the CRLs already in memory (no OCSP, no
// fetch, no fail rule): a loaded CRL that revokes an intermediate refuses
// the chain, a missing one does not. A chain of one certificate (a pinned
// leaf that is its own trust anchor) is not checked.
//
// # CRLs
//
// Configured CRLs are files (read at New, polled for changes, re-read by
// Reload) or http(s) URLs (fetched in the background, then every Refresh,
// or at the CRL's nextUpdate when sooner, with a backoff after failures).
// With UseCDP, the CRL distribution points of checked leaves are fetched
// in the background too, but only for hosts on CDPAllowHosts (empty: none,
// so a certificate cannot make the gateway fetch an internal URL) and at
// most MaxCDPURLs distinct URLs.
//
// A CRL is parsed with cryptobyte into an index from serial to a packed
// (revocation time, reason) value, a hash table over arrays without
// pointers (serialIndex: the collector never scans it): about 41 MiB for
// a million entries. Only the digest of the signed part is kept,
// so the signature can be checked later against an issuer that is not
// known at load. CRLs are indexed by issuer name; on a check, the CRLs
// naming the leaf's issuer (and, when both carry one, its key identifier)
// are verified against the verified issuer certificate once per (CRL,
// issuer) pair and the result is cached. A CRL that does not verify is
// logged once and unavailable for that issuer. When the issuer is known at
// load (Config.Issuers, or an issuer that verified the source's previous
// CRL), the signature is checked at load and a failing CRL is refused.
//
// A new CRL replaces the one in force only if it parses, is not larger than
// MaxCRLBytes, its thisUpdate is not in the future, its CRL number (or,
// without one, its thisUpdate) does not go backwards, and its signature
// verifies when the issuer is known. Otherwise the reason is logged and
// counted and the previous CRL stays in force. Delta CRLs, indirect CRLs,
// CRLs partitioned by reason and unknown critical extensions are refused;
// CRLs partitioned by distribution point or by certificate kind
// (IssuingDistributionPoint) only cover the certificates in their scope.
//
// # OCSP
//
// In OCSPPrefer mode a fresh cached answer decides; otherwise a query is
// started in the background and the CRLs (or OnUnavailable) decide. In
// OCSPRequire mode a leaf naming a responder needs a fresh answer, and
// Check waits at most OCSPTimeout for one; a leaf naming none is judged by
// the CRLs as in prefer mode. Responses must be signed by the issuer or by
// a responder certificate the issuer signed with the OCSPSigning EKU, name
// this issuer and serial in their CertID, echo the request's nonce (or
// carry none), have thisUpdate not in the future (5 minutes of skew) and
// nextUpdate not past. Answers are cached until nextUpdate (OCSPMaxTTL
// without one), refreshed in the background at two thirds of their life
// for certificates seen within the last hour, and concurrent queries for
// one certificate share one request. A failed query is remembered for five
// seconds, during which no new query is made for that certificate.
//
// # Decisions
//
// A revocation found anywhere (CRL, OCSP, intermediate CRL) refuses with
// CodeRevoked. Otherwise a fresh OCSP "good" or a fresh covering CRL
// allows. Otherwise the outcome is not a verdict and a rule decides: the
// CRLs covering the leaf are all stale (StaleCRL, CodeCRLStale), or there is
// no usable CRL or OCSP answer (OnUnavailable, CodeCRLUnavailable,
// CodeOCSPUnavailable, CodeOCSPUnknown). fail_closed refuses; fail_open
// allows with Result.FailOpen set.
//
// # Hot path
//
// Check reads immutable snapshots through atomic pointers: the CRL index,
// the cached signature checks, the CDP registry and the OCSP cache shards.
// It takes no lock and allocates nothing when the answer is OK from memory
// (the reason sentences of refusals and fail-open outcomes are built when
// needed). Counters are striped over cache lines.
package revocation
