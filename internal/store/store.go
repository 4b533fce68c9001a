// Package store keeps the built-in CA's state: the certificates it issued,
// their revocations, the CRL number and an append-only audit log.
//
// Callers depend only on the Store interface. The embedded default is SQLite
// (OpenSQLite); a PostgreSQL implementation can follow without touching
// callers. Every implementation must pass the shared conformance suite in
// package storetest.
//
// Every write is one transaction and is durable before the method returns;
// each write that changes the CA's state appends its audit entry in the same
// transaction, so there is never a certificate without its audit line or the
// other way round.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors callers can test with errors.Is.
var (
	// ErrNotFound: no certificate with that serial (or name).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyRevoked: Revoke on a certificate that is already revoked.
	ErrAlreadyRevoked = errors.New("already revoked")
	// ErrExists: a certificate with the same serial is already stored.
	ErrExists = errors.New("already exists")
	// ErrLocked: another process held the store's write lock past the
	// busy timeout.
	ErrLocked = errors.New("store is locked by another process")
	// ErrCorrupt: the store file is not a database or fails its integrity
	// check.
	ErrCorrupt = errors.New("store file is corrupt")
	// ErrTokenSpent: an enrollment token was already used or has expired.
	ErrTokenSpent = errors.New("enrollment token already used or expired")
	// ErrPendingDecided: DecidePending on a request that was already
	// approved or rejected.
	ErrPendingDecided = errors.New("enrollment request already decided")
	// ErrPendingExpired: DecidePending on a request that expired before
	// anyone decided.
	ErrPendingExpired = errors.New("enrollment request expired")
)

// Token is a one-time enrollment token (EST). Only the SHA-256 of the
// secret is stored, as lower-case hex.
type Token struct {
	Hash      string
	CN        string // the only common name it may enroll
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until used
}

// Certificate is one certificate the CA issued.
type Certificate struct {
	// Serial is the certificate's serial number as lower-case hex without
	// separators or leading "00" padding beyond what the DER integer holds
	// (use SerialHex to produce it). It is the primary key.
	Serial    string
	Subject   string // RFC 2253-ish subject, for display
	CN        string // subject common name, indexed for revoke --cn
	Profile   string
	NotBefore time.Time
	NotAfter  time.Time
	// DER is the certificate itself.
	DER []byte
	// KeyPEM is the private key when it was generated here and the
	// operator asked to keep it; nil otherwise. It is never logged.
	KeyPEM []byte
	// Revocation state; RevokedAt is zero when not revoked.
	RevokedAt time.Time
	Reason    int // RFC 5280 CRLReason code; meaningful when revoked
	IssuedAt  time.Time
}

// Revoked reports whether the certificate has been revoked.
func (c *Certificate) Revoked() bool { return !c.RevokedAt.IsZero() }

// Revocation is one entry of the revocation list, in the order revocations
// were recorded (Seq ascending, starting at 1, never reused).
type Revocation struct {
	Seq       int64
	Serial    string
	RevokedAt time.Time
	Reason    int
	NotAfter  time.Time // of the revoked certificate, so expired entries can be dropped from CRLs
}

// Audit is one line of the audit log.
type Audit struct {
	Seq    int64     `json:"seq"`              // assigned by the store, ascending
	Time   time.Time `json:"time"`             // set by the caller (store keeps it as given, UTC)
	Actor  string    `json:"actor"`            // who: "cli:root@host", "serve", "est:device-17", ...
	Action string    `json:"action"`           // what: "init", "issue", "sign", "revoke", "crl", "renew", ...
	Serial string    `json:"serial,omitempty"` // the certificate concerned, if any
	Detail string    `json:"detail,omitempty"` // free text, never a secret
}

// Filter selects certificates for List. Zero value: every certificate.
type Filter struct {
	// ExpiringBefore, when non-zero, keeps certificates whose NotAfter is
	// before it (and that are not revoked).
	ExpiringBefore time.Time
	// RevokedOnly keeps revoked certificates only.
	RevokedOnly bool
	// CN, when set, keeps certificates with that exact common name.
	CN string
	// Limit caps the result (0: no cap).
	Limit int
}

// Store is the CA's persistence. Implementations are safe for concurrent use
// by several goroutines and by several processes sharing the same backing
// store (the CLI while serve runs).
//
// A call whose context is already done fails with the context's error and
// writes nothing. A write that has started is not abandoned half-way: the
// call returns once it is committed or has failed, so its answer is always
// what the store holds.
type Store interface {
	// PutCertificate records a newly issued certificate and its audit entry
	// in one transaction. ErrExists if the serial is taken. c.Serial must be
	// spelled as SerialHex spells it, c.DER and c.NotAfter must be set and
	// c.RevokedAt must be zero (revocations go through Revoke).
	PutCertificate(ctx context.Context, c Certificate, a Audit) error
	// Certificate returns one certificate by serial (hex as in
	// Certificate.Serial, or any spelling ParseSerial accepts). ErrNotFound.
	Certificate(ctx context.Context, serial string) (Certificate, error)
	// Issued reports whether a certificate with serial was issued (revoked
	// or not), without reading it: the OCSP responder asks this per request.
	Issued(ctx context.Context, serial string) (bool, error)
	// List returns certificates matching f, soonest NotAfter first (ties by
	// serial), without KeyPEM.
	List(ctx context.Context, f Filter) ([]Certificate, error)
	// Revoke marks a certificate revoked at the given time with the given
	// reason and appends the audit entry, in one transaction. ErrNotFound,
	// ErrAlreadyRevoked. The serial is read as by Certificate; at must not be
	// zero and reason must be an RFC 5280 CRLReason code (0 to 10).
	Revoke(ctx context.Context, serial string, at time.Time, reason int, a Audit) (Revocation, error)
	// Revocations returns revocations with Seq > after, ascending. Polling
	// with the last Seq seen is how other processes learn of revocations.
	Revocations(ctx context.Context, after int64) ([]Revocation, error)
	// LastRevocationSeq is the highest Seq recorded (0 when none): a cheap
	// call for polling several times a second.
	LastRevocationSeq(ctx context.Context) (int64, error)
	// NextCRLNumber increments and returns the CRL number (1 for the first
	// CRL), appending the audit entry in the same transaction. Numbers never
	// go backwards.
	NextCRLNumber(ctx context.Context, a Audit) (int64, error)
	// CreateToken records an enrollment token and its audit entry.
	// ErrExists if the hash is taken.
	CreateToken(ctx context.Context, t Token, a Audit) error
	// Token returns a token by hash (ErrNotFound), used or not.
	Token(ctx context.Context, hash string) (Token, error)
	// SpendToken marks the token used at now, in one transaction with its
	// audit entry, if it exists, is unused and has not expired at now:
	// ErrNotFound, ErrTokenSpent. Of concurrent callers, one wins.
	SpendToken(ctx context.Context, hash string, now time.Time, a Audit) (Token, error)
	// CreatePending queues an enrollment request with its audit entry, in
	// one transaction, unless a request with the same MatchKey that has
	// not expired at now is stored: that one is returned with found true
	// and nothing is written (a client retrying, RFC 7030 §4.2.3). p must
	// be in PendingWaiting with ExpiresAt after now; ErrExists if p.ID is
	// taken.
	CreatePending(ctx context.Context, p Pending, now time.Time, a Audit) (got Pending, found bool, err error)
	// Pending returns a request by ID, decided or expired or not
	// (ErrNotFound).
	Pending(ctx context.Context, id string) (Pending, error)
	// FindPending returns the newest request with matchKey that has not
	// expired at now (ErrNotFound).
	FindPending(ctx context.Context, matchKey string, now time.Time) (Pending, error)
	// ListPending returns the requests matching f, oldest first, without
	// their CSRs.
	ListPending(ctx context.Context, f PendingFilter) ([]Pending, error)
	// DecidePending approves or rejects a waiting request, in one
	// transaction with its audit entry and, for an approval, with the
	// certificate issued for it (stored as PutCertificate does, with
	// d.CertAudit). ErrNotFound, ErrPendingDecided, ErrPendingExpired (the
	// request expired at or before d.At); ErrExists for a taken serial. Of
	// concurrent deciders, one wins.
	DecidePending(ctx context.Context, id string, d Decision, a Audit) (Pending, error)
	// AppendAudit appends an entry that is not tied to another write.
	AppendAudit(ctx context.Context, a Audit) error
	// AuditLog returns entries with Seq > after, ascending, at most limit
	// (0: all).
	AuditLog(ctx context.Context, after int64, limit int) ([]Audit, error)
	// Close releases the store.
	Close() error
}

// PendingStatus is where a queued enrollment request stands.
type PendingStatus string

// The states of a queued request. A request starts waiting and is decided
// once; its certificate is issued in the approving transaction.
const (
	PendingWaiting  PendingStatus = "pending"
	PendingApproved PendingStatus = "approved"
	PendingRejected PendingStatus = "rejected"
)

// Pending is an enrollment request (EST simpleenroll under manual
// approval) waiting for, or decided by, an operator.
type Pending struct {
	// ID names the request to operators and in the 202 answer: 1 to 64
	// lower-case hex digits.
	ID string
	// MatchKey identifies a client's retries of the same request (64
	// lower-case hex digits, chosen by the caller).
	MatchKey string
	Label    string // EST label ("" for none)
	Profile  string // CA profile it is issued under
	CN       string
	SANs     []string // as "kind:value", for display
	// Credential is who asked ("basic:alice", "token for device-17").
	Credential string
	KeyType    string // of the CSR's public key, for display
	CSR        []byte // DER; not returned by ListPending
	CreatedAt  time.Time
	// ExpiresAt ends the request: a waiting request can no longer be
	// decided, a decided one is no longer answered to retries.
	ExpiresAt time.Time
	Status    PendingStatus
	DecidedAt time.Time // zero while waiting
	DecidedBy string
	Reason    string // why it was rejected
	Serial    string // of the certificate issued on approval
}

// Expired reports whether the request has ended at now.
func (p *Pending) Expired(now time.Time) bool { return !now.Before(p.ExpiresAt) }

// Decision is an operator's verdict on a pending request.
type Decision struct {
	Approve bool
	At      time.Time
	By      string
	Reason  string // for a rejection
	// ExpiresAt is how long the client may collect the outcome (must be
	// after At).
	ExpiresAt time.Time
	// Cert and CertAudit: the certificate issued for an approval, stored
	// in the same transaction.
	Cert      *Certificate
	CertAudit Audit
}

// PendingFilter selects requests for ListPending. Zero value: all.
type PendingFilter struct {
	// Status keeps requests in this state ("" any).
	Status PendingStatus
	// LiveAt, when non-zero, keeps requests that have not expired at it.
	LiveAt time.Time
	// Limit caps the result (0: no cap).
	Limit int
}
