// Package policy decides, per request, whether a verified client identity
// may use a route. It owns the allow-rule language: validating and compiling
// a route's allow list (Compile), matching an identity against it on the hot
// path (Policy.Allowed, no allocations), and explaining a decision for logs
// and the diagnose command (Policy.Explain, Policy.Check).
//
// It does not decode configuration (the config package maps YAML onto Rule),
// verify certificates or check revocation (crypto/tls and the revocation
// package do, before an identity exists), choose routes, or write HTTP
// responses.
//
// # Decision
//
// Access is denied by default. An allow list is a list of entries; an
// identity is allowed when at least one entry matches (entries are OR'ed),
// and an entry matches when every key it sets matches (keys are AND'ed).
// Allowed reports the lowest-indexed matching entry. An entry with no keys is
// a compile error, because it would allow every certificate; an empty list
// compiles to a policy that allows nothing. A nil identity (no client
// certificate) is never allowed.
//
// # Keys
//
//	key                 matches                           case         separator
//	cn                  subject CN                        sensitive    none
//	o, ou               any subject O / OU                sensitive    none
//	dns                 any DNS SAN                       insensitive  '.'
//	uri                 any URI SAN                       sensitive    '/'
//	email               any email SAN                     see below    none
//	ip                  any IP SAN                        -            -
//	spiffe_id           the SPIFFE ID                     sensitive    '/'
//	fingerprint_sha256  SHA-256 of the leaf DER           hex          -
//	issuer_cn           issuer CN                         sensitive    none
//	serial              serial number                     hex          -
//
// Multi-valued fields (o, ou, dns, uri, email, ip) match when any value of
// the certificate matches. An empty certificate value counts as absent and
// matches nothing, not even "*". "Case-insensitive" is ASCII only: DNS names
// and email domains in certificates are ASCII (IDNs appear as xn-- A-labels),
// and Unicode folding would let distinct names compare equal.
//
// An email pattern is local@domain, split at its last '@': the local part is
// matched case-sensitively (RFC 5321 leaves it to the mailbox owner), the
// domain case-insensitively, each with '*' matching any run of characters
// ("*@example.com", "ops@*.example.com").
//
// spiffe_id must start with "spiffe://" and name a trust domain. It matches
// identity.Identity.SPIFFEID, which is set only when the certificate has
// exactly one URI SAN (an SVID); use uri to match any of several URI SANs.
//
// ip takes a single address or a CIDR with zero host bits ("10.0.0.0/8";
// "10.1.2.3/8" is rejected as a probable typo). IPv4-mapped IPv6 SANs match
// IPv4 rules.
//
// fingerprint_sha256 and serial are hex; colons and spaces are ignored and
// case does not matter. A fingerprint must have 64 digits. Leading zeros of a
// serial are ignored (it is compared as a number, with
// identity.Identity.SerialHex), and it may have at most 40 digits (RFC 5280).
// Serials are unique only per issuer: pair serial with issuer_cn.
//
// # Patterns
//
// Only '*' is special; there is no escape and no '?' or character classes.
// A pattern without '*' is an exact match.
//
//   - For cn, o, ou, email and issuer_cn, '*' matches any run of characters,
//     including none ("Acme*" matches "Acme" and "Acme Corp"). "**" means the
//     same as "*".
//   - For dns ('.'), uri and spiffe_id ('/'), '*' matches any run of
//     characters within one label or segment, including none, and never a
//     separator: "*.example.com" matches "a.example.com" but neither
//     "a.b.example.com" nor "example.com"; "spiffe://example.org/ns/*/sa/orders"
//     matches ".../ns/prod/sa/orders" but not ".../ns/a/b/sa/orders".
//     "api-*.example.com" puts a '*' inside a label.
//   - "**" matches any run of characters, separators included. It must be a
//     whole label or segment, so it stands for one or more whole labels or
//     segments: "**.example.com" matches "a.example.com" and
//     "a.b.example.com" but not "example.com"; "spiffe://example.org/**"
//     matches every ID in the trust domain; "a**b" is a compile error.
//
// Compile also rejects empty or blank values, "***", control characters,
// patterns over 1024 bytes, characters that cannot occur in a DNS name,
// URI or email SAN, invalid addresses and CIDRs, and bad hex. It reports
// every problem at once, each naming its entry and key.
//
// # Performance
//
// Allowed is on the per-request path. Each entry with at least one exact key
// (or an ip key) is indexed under its most selective one, in one map per
// field; Allowed looks up the identity's own values and fully checks only
// the candidates, so its cost does not grow with the number of such entries.
// Entries made only of globs are checked one by one, in order, on every call.
// Matching is linear in practice and never worse than
// O(len(pattern)·len(value)).
package policy
