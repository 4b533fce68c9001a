package revocation

import (
	"fmt"
	"time"
)

// Codes of a Result.
const (
	// CodeOK: the certificate is known not to be revoked.
	CodeOK = ""
	// CodeRevoked: a CRL or an OCSP responder says the leaf is revoked.
	CodeRevoked = "revoked"
	// CodeCRLStale: the only CRLs covering the leaf are past their
	// nextUpdate (decided by Config.StaleCRL).
	CodeCRLStale = "crl_stale"
	// CodeCRLUnavailable: no usable CRL covers the leaf's issuer (never
	// fetched, failed its signature check, ...) (Config.OnUnavailable).
	CodeCRLUnavailable = "crl_unavailable"
	// CodeOCSPUnavailable: no usable OCSP answer (responder down, timeout,
	// bad response, not fetched yet) (Config.OnUnavailable).
	CodeOCSPUnavailable = "ocsp_unavailable"
	// CodeOCSPUnknown: the responder answered "unknown" for the leaf
	// (Config.OnUnavailable).
	CodeOCSPUnknown = "ocsp_unknown"
	// CodeInvalidChain: Check was called without a certificate. Always
	// refused.
	CodeInvalidChain = "invalid_chain"
)

// Codes lists every code, for metrics and documentation.
var Codes = []string{CodeOK, CodeRevoked, CodeCRLStale, CodeCRLUnavailable, CodeOCSPUnavailable, CodeOCSPUnknown, CodeInvalidChain}

// Result is the revocation decision for one verified chain.
type Result struct {
	// Revoked means: refuse the certificate. It is set for a revoked leaf
	// and for every fail_closed outcome (Code says which).
	Revoked bool
	// Code is CodeOK or one of the other Code constants.
	Code string
	// Reason is a sentence for the log: which CRL or responder, when the
	// certificate was revoked, what to do. Empty when Code is CodeOK.
	Reason string
	// FailOpen is set when the certificate is allowed only because a
	// fail_open rule applied (Code says which).
	FailOpen bool
	// Source names the CRL (file or URL) or OCSP responder that decided
	// ("" when none did).
	Source string
	// RevokedAt and RevocationReason (RFC 5280 CRLReason, 0 when absent)
	// are set when Code is CodeRevoked.
	RevokedAt        time.Time
	RevocationReason int
}

// OK reports whether the certificate may be used (possibly fail-open).
func (r Result) OK() bool { return !r.Revoked }

var reasonNames = [...]string{
	0:  "unspecified",
	1:  "keyCompromise",
	2:  "cACompromise",
	3:  "affiliationChanged",
	4:  "superseded",
	5:  "cessationOfOperation",
	6:  "certificateHold",
	8:  "removeFromCRL",
	9:  "privilegeWithdrawn",
	10: "aACompromise",
}

// ReasonName returns the RFC 5280 name of a CRLReason code.
func ReasonName(code int) string {
	if code >= 0 && code < len(reasonNames) && reasonNames[code] != "" {
		return reasonNames[code]
	}
	return fmt.Sprintf("reason(%d)", code)
}

// certName names a certificate in a reason: its subject and serial.
func certName(subject, serialHex string) string {
	return fmt.Sprintf("certificate %q (serial %s)", subject, serialHex)
}

// failure builds the Result of an outcome that is not a verdict, following
// mode, the value of the configuration rule named rule.
func failure(mode FailMode, rule, code, source, reason string) Result {
	if mode == FailOpen {
		return Result{Code: code, Source: source, FailOpen: true,
			Reason: reason + "; allowed because " + rule + " is fail_open"}
	}
	return Result{Revoked: true, Code: code, Source: source,
		Reason: reason + "; refused because " + rule + " is fail_closed"}
}

// decision indices for counters.
func codeIndex(code string) int {
	for i, c := range Codes {
		if c == code {
			return i
		}
	}
	return 0
}
