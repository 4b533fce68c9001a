package est

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"time"
	"unicode"

	"github.com/mtlsgate/mtlsgate/internal/ca"
	"github.com/mtlsgate/mtlsgate/internal/store"
)

// MaxReasonLength bounds a rejection reason (it is sent to the client).
const MaxReasonLength = 256

// Approver decides requests queued under manual approval ("mtlsgate est
// approve" and "reject"). Approving issues the certificate: it is stored in
// the same transaction that marks the request approved, so a request gets
// exactly one certificate even when two operators approve it at once (the
// loser's certificate is never stored or sent) or the process dies half-way
// (nothing was stored). The client's next retry collects it. Safe for
// concurrent use; Close it when done.
type Approver struct {
	st    store.Store
	a     *ca.Authority
	actor string
	now   func() time.Time
}

// ApproverOptions configure OpenApprover.
type ApproverOptions struct {
	// Actor is recorded in the audit log (default ca.DefaultActor("cli")).
	Actor string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// OpenApprover opens the CA in dir and its store.
func OpenApprover(dir string, o ApproverOptions) (*Approver, error) {
	if o.Actor == "" {
		o.Actor = ca.DefaultActor("cli")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	st, err := store.OpenSQLite(filepath.Join(dir, ca.StoreFile))
	if err != nil {
		return nil, err
	}
	a, err := ca.Open(dir, ca.Options{Actor: o.Actor, Store: approvingStore{st}, Now: o.Now})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Approver{st: st, a: a, actor: o.Actor, now: o.Now}, nil
}

// Close releases the CA and the store.
func (ap *Approver) Close() error {
	return errors.Join(ap.a.Close(), ap.st.Close())
}

// List returns the requests waiting for a decision, oldest first; with all,
// decided and expired ones too.
func (ap *Approver) List(ctx context.Context, all bool) ([]store.Pending, error) {
	if all {
		return ap.st.ListPending(ctx, store.PendingFilter{})
	}
	return ap.st.ListPending(ctx, store.PendingFilter{Status: store.PendingWaiting, LiveAt: ap.now()})
}

// waiting returns request id if it can still be decided.
func (ap *Approver) waiting(ctx context.Context, id string) (store.Pending, error) {
	p, err := ap.st.Pending(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Pending{}, fmt.Errorf("no EST request with ID %q (see: mtlsgate est pending): %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Pending{}, err
	}
	if p.Status != store.PendingWaiting {
		return p, fmt.Errorf("request %s was already %s at %s by %s: %w", id, p.Status, p.DecidedAt.Format(time.RFC3339), p.DecidedBy, store.ErrPendingDecided)
	}
	if p.Expired(ap.now()) {
		return p, fmt.Errorf("request %s expired at %s; the device must enroll again: %w", id, p.ExpiresAt.Format(time.RFC3339), store.ErrPendingExpired)
	}
	return p, nil
}

// Approve issues the certificate of a waiting request under the profile it
// was queued for. Errors: store.ErrNotFound, store.ErrPendingDecided,
// store.ErrPendingExpired, and the CA's refusals (ca.ErrNotPermitted, ...),
// which leave the request waiting (reject it).
func (ap *Approver) Approve(ctx context.Context, id string) (store.Pending, *x509.Certificate, error) {
	p, err := ap.waiting(ctx, id)
	if err != nil {
		return p, nil, err
	}
	now := ap.now()
	d := &approval{id: id, d: store.Decision{Approve: true, At: now, By: ap.actor, ExpiresAt: now.Add(PendingLifetime)},
		audit: store.Audit{Time: now.UTC(), Actor: ap.actor, Action: "est-approve",
			Detail: fmt.Sprintf("request %s cn=%q by %s", id, p.CN, p.Credential)}}
	detail := fmt.Sprintf("EST simpleenroll by %s", p.Credential)
	if p.Label != "" {
		detail += " (label " + p.Label + ")"
	}
	detail += fmt.Sprintf(", request %s approved by %s", id, ap.actor)
	iss, err := ap.a.SignCSRWith(context.WithValue(ctx, approvalKey{}, d), p.CSR, p.Profile, 0, "est-enroll", detail, nil)
	if err != nil {
		return p, nil, fmt.Errorf("request %s: %w", id, err)
	}
	return d.result, iss.Cert, nil
}

// Reject refuses a waiting request; its client's next retry gets 403 with
// reason (at most MaxReasonLength printable characters).
func (ap *Approver) Reject(ctx context.Context, id, reason string) (store.Pending, error) {
	if len(reason) > MaxReasonLength {
		return store.Pending{}, fmt.Errorf("the reason is %d bytes; at most %d", len(reason), MaxReasonLength)
	}
	for _, c := range reason {
		if !unicode.IsPrint(c) {
			return store.Pending{}, fmt.Errorf("the reason has a non-printable character %q", c)
		}
	}
	p, err := ap.waiting(ctx, id)
	if err != nil {
		return p, err
	}
	now := ap.now()
	d := store.Decision{At: now, By: ap.actor, Reason: reason, ExpiresAt: now.Add(PendingLifetime)}
	return ap.st.DecidePending(ctx, id, d, store.Audit{Time: now.UTC(), Actor: ap.actor, Action: "est-reject",
		Detail: fmt.Sprintf("request %s cn=%q by %s: %s", id, p.CN, p.Credential, reason)})
}

type approvalKey struct{}

// approval is an approval in progress: the certificate the CA stores for
// it goes into the deciding transaction.
type approval struct {
	id     string
	d      store.Decision
	audit  store.Audit
	result store.Pending
}

// approvingStore stores the certificate of an approval (a context with an
// approval) through DecidePending; everything else goes to the store.
type approvingStore struct{ store.Store }

func (s approvingStore) PutCertificate(ctx context.Context, c store.Certificate, a store.Audit) error {
	ap, ok := ctx.Value(approvalKey{}).(*approval)
	if !ok {
		return s.Store.PutCertificate(ctx, c, a)
	}
	d := ap.d
	d.Cert, d.CertAudit = &c, a
	p, err := s.Store.DecidePending(ctx, ap.id, d, ap.audit)
	if err != nil {
		return err
	}
	ap.result = p
	return nil
}
