package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mtlsgate/mtlsgate/internal/identity"
)

var (
	// ErrInvalidRule is wrapped by every error Compile returns.
	ErrInvalidRule = errors.New("policy: invalid allow rule")
	// ErrDenied is wrapped by every *DeniedError.
	ErrDenied = errors.New("policy: denied")
)

// Reason codes of a *DeniedError, for metrics labels.
const (
	ReasonNoCertificate = "no_client_certificate"
	ReasonNoMatch       = "no_matching_rule"
)

// RuleError is one problem with one allow entry. Compile returns every
// RuleError it found joined with errors.Join. Its message is the path of the
// offending key followed by the problem, for example
// "allow[2].fingerprint_sha256: want 64 hex digits, got 12", so that a config
// loader can prefix its own path ("routes[1].") to it.
type RuleError struct {
	Index int    // position of the entry in the allow list
	Key   string // YAML key ("cn", "fingerprint_sha256"); empty for the entry as a whole
	Msg   string // the problem, lowercase, no trailing period
}

func (e *RuleError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("allow[%d]: %s", e.Index, e.Msg)
	}
	return fmt.Sprintf("allow[%d].%s: %s", e.Index, e.Key, e.Msg)
}

// Unwrap returns ErrInvalidRule.
func (e *RuleError) Unwrap() error { return ErrInvalidRule }

// DeniedError is returned by Policy.Check when the client may not pass. Its
// message is meant for logs (it names the certificate); what a client is
// told is the caller's decision.
type DeniedError struct {
	Reason  string   // ReasonNoCertificate or ReasonNoMatch
	Subject string   // RFC 4514 subject of the client certificate; empty when none
	SANs    []string // subject alternative names with kind prefixes ("DNS:a.example.com")
	Rules   int      // number of allow entries tried
}

func (e *DeniedError) Error() string {
	if e.Reason == ReasonNoCertificate {
		return "policy: no client certificate, and the allow list requires one"
	}
	var b strings.Builder
	b.WriteString("policy: client certificate ")
	b.WriteString(show(e.Subject))
	if len(e.SANs) > 0 {
		b.WriteString(" (")
		for i, s := range e.SANs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(show(s))
		}
		b.WriteString(")")
	}
	switch e.Rules {
	case 0:
		b.WriteString(" denied: the allow list is empty")
	case 1:
		b.WriteString(" does not match the allow entry")
	default:
		fmt.Fprintf(&b, " matches none of the %d allow entries", e.Rules)
	}
	return b.String()
}

// Unwrap returns ErrDenied.
func (e *DeniedError) Unwrap() error { return ErrDenied }

func denied(id *identity.Identity, rules int) *DeniedError {
	if id == nil {
		return &DeniedError{Reason: ReasonNoCertificate, Rules: rules}
	}
	return &DeniedError{Reason: ReasonNoMatch, Subject: id.Subject, SANs: id.SANs(), Rules: rules}
}

// show returns v as is when it is printable, else quoted. Certificate fields
// are chosen by whoever obtained the certificate; quoting keeps newlines and
// escape sequences out of logs.
func show(v string) string {
	if v == "" {
		return `""`
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || r == '"' || (r >= 0x80 && r <= 0x9f) || r == 0xfffd {
			return fmt.Sprintf("%q", v)
		}
	}
	return v
}
