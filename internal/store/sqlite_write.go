package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// maxBatch caps how many writes one group commit holds.
const maxBatch = 512

// errClosed is returned by writes submitted after Close.
var errClosed = errors.New("store is closed")

// A writeReq is one write waiting for the writer. fn runs inside the
// transaction (in its own savepoint when the batch holds several writes);
// the writer sends fn's outcome, or the commit's, on done.
type writeReq struct {
	ctx  context.Context
	fn   func(*wtx) error
	err  error
	done chan error
}

// wtx runs statements in the writer's current transaction, through
// statements prepared once on the writer connection.
type wtx struct {
	s   *SQLite
	ctx context.Context
}

func (w *wtx) stmt(q string) (*sql.Stmt, error) {
	if st, ok := w.s.stmts[q]; ok {
		return st, nil
	}
	st, err := w.s.wconn.PrepareContext(w.ctx, q)
	if err != nil {
		return nil, err
	}
	w.s.stmts[q] = st
	return st, nil
}

func (w *wtx) exec(q string, args ...any) (sql.Result, error) {
	st, err := w.stmt(q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(w.ctx, args...)
}

// scan runs a query expected to return one row and scans it into dest.
func (w *wtx) scan(q string, args []any, dest ...any) error {
	st, err := w.stmt(q)
	if err != nil {
		return err
	}
	return st.QueryRowContext(w.ctx, args...).Scan(dest...)
}

// write submits fn to the writer and waits until it is committed or has
// failed. A context that is done before fn runs cancels it; once fn has run,
// write waits for the commit, so its answer is always what the file holds.
func (s *SQLite) write(ctx context.Context, fn func(*wtx) error) error {
	if err := checkCtx(ctx); err != nil {
		return err
	}
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	s.reqs <- r
	s.mu.RUnlock()
	return <-r.done
}

// writeLoop is the single writer: it takes every write waiting when it
// gets to them and commits them together.
func (s *SQLite) writeLoop() {
	defer close(s.done)
	batch := make([]*writeReq, 0, maxBatch)
	for r := range s.reqs {
		batch = append(batch[:0], r)
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commit(batch)
		for i, r := range batch {
			r.done <- r.err
			batch[i] = nil
		}
	}
}

// commit runs batch in one transaction and sets each request's err.
func (s *SQLite) commit(batch []*writeReq) {
	ctx := context.Background()
	w := &wtx{s: s, ctx: ctx}
	if _, err := w.exec("BEGIN IMMEDIATE"); err != nil {
		s.rollback() // in case BEGIN failed after taking effect
		failAll(batch, err)
		return
	}
	savepoints := len(batch) > 1
	ok := 0
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		r.err = w.run(r.fn, savepoints)
		var fatal *fatalError
		if errors.As(r.err, &fatal) {
			s.rollback()
			failAll(batch, fatal.err)
			return
		}
		if r.err == nil {
			ok++
		}
	}
	if ok == 0 {
		s.rollback()
		return
	}
	if _, err := w.exec("COMMIT"); err != nil {
		s.rollback()
		for _, r := range batch {
			if r.err == nil {
				r.err = err
			}
		}
	}
}

// fatalError is a failure that ended the whole transaction, not only one
// write.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }

// run runs fn, in a savepoint when others share the transaction so that its
// failure undoes its own changes only.
func (w *wtx) run(fn func(*wtx) error, savepoint bool) error {
	if !savepoint {
		return fn(w)
	}
	if _, err := w.exec("SAVEPOINT w"); err != nil {
		return &fatalError{err}
	}
	err := fn(w)
	if err == nil {
		if _, rerr := w.exec("RELEASE w"); rerr != nil {
			return &fatalError{rerr}
		}
		return nil
	}
	if _, rerr := w.exec("ROLLBACK TO w"); rerr != nil {
		return &fatalError{fmt.Errorf("%w (and undoing it failed: %v)", err, rerr)}
	}
	if _, rerr := w.exec("RELEASE w"); rerr != nil {
		return &fatalError{rerr}
	}
	return err
}

func failAll(batch []*writeReq, err error) {
	for _, r := range batch {
		r.err = err
	}
}

// PutCertificate stores a newly issued certificate and its audit entry in
// one transaction. c.Serial must be in the form SerialHex produces.
// ErrExists when the serial is taken.
func (s *SQLite) PutCertificate(ctx context.Context, c Certificate, a Audit) error {
	op := "put certificate " + quoteShort(c.Serial)
	args, err := certArgs(c)
	if err != nil {
		return s.fail(op, err)
	}
	op = "put certificate " + c.Serial
	err = s.write(ctx, func(w *wtx) error {
		res, err := w.exec(`INSERT INTO certificates (`+certColumns+`, key_pem)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING`, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(ErrExists, err)
		}
		return w.audit(a)
	})
	return s.fail(op, err)
}

// certArgs checks c and converts it to the values of certColumns and
// key_pem.
func certArgs(c Certificate) ([]any, error) {
	canon, err := canonicalSerial(c.Serial)
	if err != nil {
		return nil, err
	}
	if canon != c.Serial {
		return nil, fmt.Errorf("serial %q is not in canonical form %q (use store.SerialHex)", c.Serial, canon)
	}
	if len(c.DER) == 0 {
		return nil, errors.New("empty DER")
	}
	if c.NotAfter.IsZero() {
		return nil, errors.New("zero NotAfter")
	}
	if c.Revoked() {
		return nil, errors.New("a new certificate cannot be revoked already (use Revoke)")
	}
	notBefore, err := toNanos("NotBefore", c.NotBefore)
	if err != nil {
		return nil, err
	}
	notAfter, err := toNanos("NotAfter", c.NotAfter)
	if err != nil {
		return nil, err
	}
	issuedAt, err := toNanos("IssuedAt", c.IssuedAt)
	if err != nil {
		return nil, err
	}
	var key any
	if len(c.KeyPEM) > 0 {
		key = c.KeyPEM
	}
	return []any{c.Serial, c.Subject, c.CN, c.Profile, notBefore, notAfter, issuedAt, c.DER, nil, 0, key}, nil
}

// audit appends an audit entry in the current transaction.
func (w *wtx) audit(a Audit) error {
	t, err := toNanos("audit time", a.Time)
	if err != nil {
		return err
	}
	_, err = w.exec(`INSERT INTO audit (time, actor, action, serial, detail) VALUES (?, ?, ?, ?, ?)`,
		t, a.Actor, a.Action, a.Serial, a.Detail)
	return err
}

// Revoke marks a certificate revoked and records the revocation and its
// audit entry in one transaction. The serial may be written in any form
// ParseSerial accepts. ErrNotFound, ErrAlreadyRevoked.
func (s *SQLite) Revoke(ctx context.Context, serial string, at time.Time, reason int, a Audit) (Revocation, error) {
	op := "revoke " + quoteShort(serial)
	key, err := canonicalSerial(serial)
	if err != nil {
		return Revocation{}, s.fail(op, err)
	}
	op = "revoke " + key
	if at.IsZero() {
		return Revocation{}, s.fail(op, errors.New("zero revocation time"))
	}
	atN, err := toNanos("revocation time", at)
	if err != nil {
		return Revocation{}, s.fail(op, err)
	}
	if reason < 0 || reason > 10 {
		return Revocation{}, s.fail(op, fmt.Errorf("reason code %d is not an RFC 5280 CRLReason", reason))
	}
	var rev Revocation
	err = s.write(ctx, func(w *wtx) error {
		var notAfter int64
		var revokedAt sql.NullInt64
		err := w.scan(`SELECT not_after, revoked_at FROM certificates WHERE serial = ?`, []any{key}, &notAfter, &revokedAt)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		case revokedAt.Valid:
			return ErrAlreadyRevoked
		}
		if _, err := w.exec(`UPDATE certificates SET revoked_at = ?, reason = ? WHERE serial = ?`, atN, reason, key); err != nil {
			return err
		}
		err = w.scan(`INSERT INTO revocations (serial, revoked_at, reason, not_after) VALUES (?, ?, ?, ?) RETURNING seq`,
			[]any{key, atN, reason, notAfter}, &rev.Seq)
		if err != nil {
			return err
		}
		rev = Revocation{Seq: rev.Seq, Serial: key, RevokedAt: at.UTC(), Reason: reason, NotAfter: time.Unix(0, notAfter).UTC()}
		return w.audit(a)
	})
	if err != nil {
		return Revocation{}, s.fail(op, err)
	}
	return rev, nil
}

// NextCRLNumber increments the CRL number and appends the audit entry in
// one transaction; the first CRL gets 1.
func (s *SQLite) NextCRLNumber(ctx context.Context, a Audit) (int64, error) {
	var n int64
	err := s.write(ctx, func(w *wtx) error {
		err := w.scan(`UPDATE meta SET value = value + 1 WHERE key = 'crl_number' RETURNING value`, nil, &n)
		if err != nil {
			return err
		}
		return w.audit(a)
	})
	if err != nil {
		return 0, s.fail("next CRL number", err)
	}
	return n, nil
}

// AppendAudit appends an audit entry that is not tied to another write.
func (s *SQLite) AppendAudit(ctx context.Context, a Audit) error {
	return s.fail("append audit entry", s.write(ctx, func(w *wtx) error { return w.audit(a) }))
}
