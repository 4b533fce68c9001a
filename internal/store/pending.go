package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

const pendingColumns = "id, match_key, label, profile, cn, sans, credential, key_type, created_at, expires_at, status, decided_at, decided_by, reason, serial"

// checkHexID accepts 1 to max lower-case hex digits.
func checkHexID(what, s string, max int) error {
	if s == "" || len(s) > max {
		return fmt.Errorf("%s must be 1 to %d hex digits, got %d characters", what, max, len(s))
	}
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) || s[i] >= 'A' && s[i] <= 'F' {
			return fmt.Errorf("%s must be lower-case hex", what)
		}
	}
	return nil
}

// pendingArgs checks a new request and converts it to the values of
// pendingColumns followed by csr.
func pendingArgs(p Pending, now time.Time) ([]any, error) {
	if err := checkHexID("request ID", p.ID, 64); err != nil {
		return nil, err
	}
	if err := checkHexID("match key", p.MatchKey, 64); err != nil {
		return nil, err
	}
	switch {
	case p.Status != PendingWaiting:
		return nil, fmt.Errorf("a new request must be %s, not %q", PendingWaiting, p.Status)
	case len(p.CSR) == 0:
		return nil, errors.New("empty CSR")
	case p.Profile == "":
		return nil, errors.New("no profile")
	case p.CreatedAt.IsZero() || !p.ExpiresAt.After(now):
		return nil, errors.New("a request needs a creation time and an expiry after now")
	case !p.DecidedAt.IsZero() || p.Serial != "" || p.DecidedBy != "" || p.Reason != "":
		return nil, errors.New("a new request cannot be decided already")
	}
	created, err := toNanos("created", p.CreatedAt)
	if err != nil {
		return nil, err
	}
	expires, err := toNanos("expires", p.ExpiresAt)
	if err != nil {
		return nil, err
	}
	sans, err := json.Marshal(nonNil(p.SANs))
	if err != nil {
		return nil, err
	}
	return []any{p.ID, p.MatchKey, p.Label, p.Profile, p.CN, string(sans), p.Credential, p.KeyType,
		created, expires, string(p.Status), nil, "", "", nil, p.CSR}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// scanPending reads a row of pendingColumns, followed by csr when withCSR.
func scanPending(r scanner, withCSR bool) (Pending, error) {
	var p Pending
	var sans, status string
	var created, expires int64
	var decided sql.NullInt64
	var serial sql.NullString
	dest := []any{&p.ID, &p.MatchKey, &p.Label, &p.Profile, &p.CN, &sans, &p.Credential, &p.KeyType,
		&created, &expires, &status, &decided, &p.DecidedBy, &p.Reason, &serial}
	if withCSR {
		dest = append(dest, &p.CSR)
	}
	if err := r.Scan(dest...); err != nil {
		return Pending{}, err
	}
	if err := json.Unmarshal([]byte(sans), &p.SANs); err != nil {
		return Pending{}, fmt.Errorf("request %s: stored SANs: %w", p.ID, err)
	}
	if len(p.SANs) == 0 {
		p.SANs = nil
	}
	p.CreatedAt, p.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	p.Status, p.DecidedAt, p.Serial = PendingStatus(status), fromNanos(decided), serial.String
	return p, nil
}

// CreatePending queues a request unless a live one with the same match key
// exists.
func (s *SQLite) CreatePending(ctx context.Context, p Pending, now time.Time, a Audit) (Pending, bool, error) {
	op := "queue enrollment request " + quoteShort(p.ID)
	args, err := pendingArgs(p, now)
	if err != nil {
		return Pending{}, false, s.fail(op, err)
	}
	nowN, err := toNanos("now", now)
	if err != nil {
		return Pending{}, false, s.fail(op, err)
	}
	var got Pending
	found := false
	err = s.write(ctx, func(w *wtx) error {
		st, err := w.stmt(`SELECT ` + pendingColumns + ` FROM pending WHERE match_key = ? AND expires_at > ? ORDER BY created_at DESC, id LIMIT 1`)
		if err != nil {
			return err
		}
		got, err = scanPending(st.QueryRowContext(w.ctx, p.MatchKey, nowN), false)
		switch {
		case err == nil:
			found = true
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		res, err := w.exec(`INSERT INTO pending (`+pendingColumns+`, csr)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(ErrExists, err)
		}
		got = p
		got.CreatedAt, got.ExpiresAt = p.CreatedAt.UTC(), p.ExpiresAt.UTC()
		got.CSR = nil
		if len(got.SANs) == 0 {
			got.SANs = nil
		}
		return w.audit(a)
	})
	if err != nil {
		return Pending{}, false, s.fail(op, err)
	}
	return got, found, nil
}

// Pending returns a request by ID, with its CSR.
func (s *SQLite) Pending(ctx context.Context, id string) (Pending, error) {
	op := "get enrollment request " + quoteShort(id)
	if err := checkHexID("request ID", id, 64); err != nil {
		return Pending{}, s.fail(op, err)
	}
	if err := checkCtx(ctx); err != nil {
		return Pending{}, s.fail(op, err)
	}
	p, err := scanPending(s.db.QueryRowContext(ctx, `SELECT `+pendingColumns+`, csr FROM pending WHERE id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Pending{}, s.fail(op, err)
	}
	return p, nil
}

// FindPending returns the newest live request with matchKey, with its CSR.
func (s *SQLite) FindPending(ctx context.Context, matchKey string, now time.Time) (Pending, error) {
	op := "find enrollment request"
	if err := checkHexID("match key", matchKey, 64); err != nil {
		return Pending{}, s.fail(op, err)
	}
	if err := checkCtx(ctx); err != nil {
		return Pending{}, s.fail(op, err)
	}
	row := s.db.QueryRowContext(ctx, `SELECT `+pendingColumns+`, csr FROM pending
		WHERE match_key = ? AND expires_at > ? ORDER BY created_at DESC, id LIMIT 1`, matchKey, clampNanos(now))
	p, err := scanPending(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Pending{}, s.fail(op, err)
	}
	return p, nil
}

// ListPending returns the requests matching f, oldest first, without CSRs.
func (s *SQLite) ListPending(ctx context.Context, f PendingFilter) ([]Pending, error) {
	const op = "list enrollment requests"
	if err := checkCtx(ctx); err != nil {
		return nil, s.fail(op, err)
	}
	if f.Limit < 0 {
		return nil, s.fail(op, fmt.Errorf("negative limit %d", f.Limit))
	}
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if !f.LiveAt.IsZero() {
		where = append(where, "expires_at > ?")
		args = append(args, clampNanos(f.LiveAt))
	}
	q := "SELECT " + pendingColumns + " FROM pending"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, id"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		p, err := scanPending(rows, false)
		if err != nil {
			return nil, s.fail(op, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// DecidePending approves (storing the certificate issued for it) or
// rejects a waiting request.
func (s *SQLite) DecidePending(ctx context.Context, id string, d Decision, a Audit) (Pending, error) {
	op := "decide enrollment request " + quoteShort(id)
	if err := checkHexID("request ID", id, 64); err != nil {
		return Pending{}, s.fail(op, err)
	}
	at, err := toNanos("decision time", d.At)
	if err != nil || at == nil {
		return Pending{}, s.fail(op, errors.Join(errors.New("a decision needs a time"), err))
	}
	expires, err := toNanos("expiry", d.ExpiresAt)
	if err != nil || !d.ExpiresAt.After(d.At) {
		return Pending{}, s.fail(op, errors.Join(errors.New("a decision needs an expiry after its time"), err))
	}
	var certArgsV []any
	status := PendingRejected
	if d.Approve {
		status = PendingApproved
		if d.Cert == nil {
			return Pending{}, s.fail(op, errors.New("an approval needs the certificate issued for it"))
		}
		if certArgsV, err = certArgs(*d.Cert); err != nil {
			return Pending{}, s.fail(op, err)
		}
	} else if d.Cert != nil {
		return Pending{}, s.fail(op, errors.New("a rejection cannot carry a certificate"))
	}
	var got Pending
	err = s.write(ctx, func(w *wtx) error {
		st, err := w.stmt(`SELECT ` + pendingColumns + ` FROM pending WHERE id = ?`)
		if err != nil {
			return err
		}
		got, err = scanPending(st.QueryRowContext(w.ctx, id), false)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		case got.Status != PendingWaiting:
			return fmt.Errorf("%w (%s at %s by %s)", ErrPendingDecided, got.Status, got.DecidedAt.Format(time.RFC3339), got.DecidedBy)
		case got.Expired(d.At):
			return fmt.Errorf("%w at %s", ErrPendingExpired, got.ExpiresAt.Format(time.RFC3339))
		}
		var serial any
		if d.Approve {
			res, err := w.exec(`INSERT INTO certificates (`+certColumns+`, key_pem)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO NOTHING`, certArgsV...)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return errors.Join(ErrExists, err)
			}
			if err := w.audit(d.CertAudit); err != nil {
				return err
			}
			serial = d.Cert.Serial
			got.Serial = d.Cert.Serial
		}
		_, err = w.exec(`UPDATE pending SET status = ?, decided_at = ?, decided_by = ?, reason = ?, serial = ?, expires_at = ?
			WHERE id = ? AND status = ?`, string(status), at, d.By, d.Reason, serial, expires, id, string(PendingWaiting))
		if err != nil {
			return err
		}
		got.Status, got.DecidedAt, got.DecidedBy, got.Reason, got.ExpiresAt = status, d.At.UTC(), d.By, d.Reason, d.ExpiresAt.UTC()
		return w.audit(a)
	})
	if err != nil {
		return Pending{}, s.fail(op, err)
	}
	return got, nil
}
