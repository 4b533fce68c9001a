package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func checkTokenHash(h string) error {
	if len(h) != 64 {
		return fmt.Errorf("token hash must be 64 hex digits, got %d characters", len(h))
	}
	for i := 0; i < len(h); i++ {
		if !isHexDigit(h[i]) || h[i] >= 'A' && h[i] <= 'F' {
			return errors.New("token hash must be lower-case hex")
		}
	}
	return nil
}

// CreateToken records an enrollment token with its audit entry.
func (s *SQLite) CreateToken(ctx context.Context, t Token, a Audit) error {
	op := "create enrollment token"
	if err := checkTokenHash(t.Hash); err != nil {
		return s.fail(op, err)
	}
	if t.CN == "" || t.ExpiresAt.IsZero() || t.CreatedAt.IsZero() {
		return s.fail(op, errors.New("token needs a CN, a creation and an expiry time"))
	}
	created, err := toNanos("created", t.CreatedAt)
	if err != nil {
		return s.fail(op, err)
	}
	expires, err := toNanos("expires", t.ExpiresAt)
	if err != nil {
		return s.fail(op, err)
	}
	return s.fail(op, s.write(ctx, func(w *wtx) error {
		var n int
		err := w.scan(`SELECT COUNT(*) FROM tokens WHERE hash = ?`, []any{t.Hash}, &n)
		if err != nil {
			return err
		}
		if n > 0 {
			return ErrExists
		}
		if _, err := w.exec(`INSERT INTO tokens (hash, cn, created_at, expires_at) VALUES (?, ?, ?, ?)`, t.Hash, t.CN, created, expires); err != nil {
			return err
		}
		return w.audit(a)
	}))
}

// Token returns a token by hash.
func (s *SQLite) Token(ctx context.Context, hash string) (Token, error) {
	op := "get enrollment token"
	if err := checkTokenHash(hash); err != nil {
		return Token{}, s.fail(op, err)
	}
	if err := checkCtx(ctx); err != nil {
		return Token{}, s.fail(op, err)
	}
	var t Token
	var created, expires int64
	var used sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT hash, cn, created_at, expires_at, used_at FROM tokens WHERE hash = ?`, hash).
		Scan(&t.Hash, &t.CN, &created, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Token{}, s.fail(op, err)
	}
	t.CreatedAt, t.ExpiresAt = time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
	t.UsedAt = fromNanos(used)
	return t, nil
}

// SpendToken marks a token used, once.
func (s *SQLite) SpendToken(ctx context.Context, hash string, now time.Time, a Audit) (Token, error) {
	op := "use enrollment token"
	if err := checkTokenHash(hash); err != nil {
		return Token{}, s.fail(op, err)
	}
	nowN, err := toNanos("now", now)
	if err != nil {
		return Token{}, s.fail(op, err)
	}
	var t Token
	err = s.write(ctx, func(w *wtx) error {
		var created, expires int64
		var used sql.NullInt64
		err := w.scan(`SELECT cn, created_at, expires_at, used_at FROM tokens WHERE hash = ?`, []any{hash}, &t.CN, &created, &expires, &used)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return ErrNotFound
		case err != nil:
			return err
		case used.Valid || now.UnixNano() >= expires:
			return ErrTokenSpent
		}
		if _, err := w.exec(`UPDATE tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL`, nowN, hash); err != nil {
			return err
		}
		t.Hash, t.CreatedAt, t.ExpiresAt, t.UsedAt = hash, time.Unix(0, created).UTC(), time.Unix(0, expires).UTC(), now.UTC()
		return w.audit(a)
	})
	if err != nil {
		return Token{}, s.fail(op, err)
	}
	return t, nil
}
