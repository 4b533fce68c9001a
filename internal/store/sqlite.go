package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DefaultBusyTimeout is how long a write waits for another process's write
// lock before failing with ErrLocked.
const DefaultBusyTimeout = 5 * time.Second

// SQLite is the embedded Store: one SQLite database file in WAL mode, safe
// for concurrent use by goroutines and by several processes (the CLI while
// serve runs).
//
// Every write runs in a BEGIN IMMEDIATE transaction committed with
// synchronous=FULL, so it is durable when the method returns. Writes from
// goroutines of one process go through a single writer that commits the
// writes that arrive while a commit is in flight as one transaction (group
// commit); each write runs in its own savepoint there, so one write's
// failure (ErrExists, ErrNotFound, ...) never affects the others.
type SQLite struct {
	path string
	db   *sql.DB

	// The writer: wconn and stmts belong to the writeLoop goroutine once
	// it runs.
	wconn *sql.Conn
	stmts map[string]*sql.Stmt
	reqs  chan *writeReq
	done  chan struct{}

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
}

var _ Store = (*SQLite)(nil)

// sqliteOptions are the knobs tests turn; OpenSQLite uses the defaults.
type sqliteOptions struct {
	busyTimeout time.Duration
}

// OpenSQLite opens the store in the SQLite database file at path, creating
// the file (mode 0600) and its schema when it does not exist, and migrating
// an older schema. It fails with an error wrapping ErrCorrupt when the file
// is not a database or fails its integrity check, wrapping ErrLocked when
// another process keeps the database locked past the busy timeout, and
// refuses a database written by a newer version of the program.
func OpenSQLite(path string) (*SQLite, error) {
	return openSQLite(path, sqliteOptions{busyTimeout: DefaultBusyTimeout})
}

func openSQLite(path string, o sqliteOptions) (*SQLite, error) {
	if path == "" {
		return nil, errors.New("store: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	db, err := sql.Open("sqlite", dsn(abs, o.busyTimeout))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", abs, err)
	}
	db.SetMaxIdleConns(4)
	s := &SQLite{path: abs, db: db, stmts: make(map[string]*sql.Stmt)}
	if err := s.setup(context.Background()); err != nil {
		s.closeDB()
		return nil, fmt.Errorf("store: open %s: %w", abs, mapErr(err))
	}
	s.reqs = make(chan *writeReq, maxBatch)
	s.done = make(chan struct{})
	go s.writeLoop()
	return s, nil
}

// createFile creates an empty database file readable by its owner only. An
// existing file is left alone (and never opened here: closing a descriptor
// of a database file would drop this process's SQLite locks on it).
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// The umask may have taken bits away; SQLite gives the -wal and -shm
	// files the database file's mode, so this fixes all three.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// dsn builds the driver's data source name. The pragmas run on every pooled
// connection, busy_timeout first so the others wait for locks too. mode=rw
// keeps SQLite from creating the file itself (createFile does, with the
// right mode).
func dsn(path string, busy time.Duration) string {
	q := url.Values{}
	q.Add("mode", "rw")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// setup reserves the writer connection, checks the file and brings the
// schema up to date.
func (s *SQLite) setup(ctx context.Context) error {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	s.wconn = c
	if err := s.quickCheck(ctx); err != nil {
		return err
	}
	return s.migrate(ctx)
}

// quickCheck runs PRAGMA quick_check and fails with ErrCorrupt unless the
// database passes.
func (s *SQLite) quickCheck(ctx context.Context) error {
	rows, err := s.wconn.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return err
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(msgs) == 1 && msgs[0] == "ok" {
		return nil
	}
	return fmt.Errorf("%w: integrity check: %s", ErrCorrupt, strings.Join(msgs, "; "))
}

// closeDB releases the writer's statements and connection and the pool.
func (s *SQLite) closeDB() error {
	for q, st := range s.stmts {
		st.Close()
		delete(s.stmts, q)
	}
	if s.wconn != nil {
		s.wconn.Close()
	}
	return s.db.Close()
}

// Close stops the writer once the writes already submitted are done, and
// closes the database. Calls after the first return nil.
func (s *SQLite) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.done
	if err := s.closeDB(); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

// Path is the database file's absolute path.
func (s *SQLite) Path() string { return s.path }

// mapErr makes SQLite's lock and corruption errors match ErrLocked and
// ErrCorrupt, keeping the driver's error in the chain.
func mapErr(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("%w: %w", ErrLocked, err)
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return err
}

// fail wraps err with the operation and the file it concerns:
// "store: revoke 0a1b in /var/lib/mtlsgate/ca.db: already revoked".
func (s *SQLite) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("store: %s in %s: %w", op, s.path, mapErr(err))
}

// checkCtx refuses a nil or finished context before any work is done.
func checkCtx(ctx context.Context) error {
	if ctx == nil {
		return errors.New("nil context")
	}
	return ctx.Err()
}

const certColumns = "serial, subject, cn, profile, not_before, not_after, issued_at, der, revoked_at, reason"

// Certificate returns one certificate by serial. The serial may be written
// in any form ParseSerial accepts.
func (s *SQLite) Certificate(ctx context.Context, serial string) (Certificate, error) {
	op := "get certificate " + quoteShort(serial)
	if err := checkCtx(ctx); err != nil {
		return Certificate{}, s.fail(op, err)
	}
	key, err := canonicalSerial(serial)
	if err != nil {
		return Certificate{}, s.fail(op, err)
	}
	op = "get certificate " + key
	row := s.db.QueryRowContext(ctx, "SELECT "+certColumns+", key_pem FROM certificates WHERE serial = ?", key)
	c, err := scanCert(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Certificate{}, s.fail(op, err)
	}
	return c, nil
}

// Issued reports whether a certificate with serial is stored.
func (s *SQLite) Issued(ctx context.Context, serial string) (bool, error) {
	op := "look up certificate " + quoteShort(serial)
	if err := checkCtx(ctx); err != nil {
		return false, s.fail(op, err)
	}
	key, err := canonicalSerial(serial)
	if err != nil {
		return false, s.fail(op, err)
	}
	var one int
	err = s.db.QueryRowContext(ctx, "SELECT 1 FROM certificates WHERE serial = ?", key).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.fail(op, err)
	}
	return true, nil
}

// List returns the certificates matching f, soonest NotAfter first, ties
// by serial, without KeyPEM.
func (s *SQLite) List(ctx context.Context, f Filter) ([]Certificate, error) {
	if err := checkCtx(ctx); err != nil {
		return nil, s.fail("list certificates", err)
	}
	if f.Limit < 0 {
		return nil, s.fail("list certificates", fmt.Errorf("negative limit %d", f.Limit))
	}
	q, args := listQuery(f)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail("list certificates", err)
	}
	defer rows.Close()
	var out []Certificate
	for rows.Next() {
		c, err := scanCert(rows, false)
		if err != nil {
			return nil, s.fail("list certificates", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list certificates", err)
	}
	return out, nil
}

// listQuery builds List's statement; it never selects key_pem.
func listQuery(f Filter) (string, []any) {
	var where []string
	var args []any
	if f.CN != "" {
		where = append(where, "cn = ?")
		args = append(args, f.CN)
	}
	if f.RevokedOnly {
		where = append(where, "revoked_at IS NOT NULL")
	}
	if !f.ExpiringBefore.IsZero() {
		where = append(where, "not_after < ?", "revoked_at IS NULL")
		args = append(args, clampNanos(f.ExpiringBefore))
	}
	q := "SELECT " + certColumns + " FROM certificates"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY not_after, serial"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	return q, args
}

type scanner interface{ Scan(dest ...any) error }

// scanCert reads a row of certColumns, followed by key_pem when withKey.
func scanCert(r scanner, withKey bool) (Certificate, error) {
	var c Certificate
	var notBefore, notAfter, issuedAt, revokedAt sql.NullInt64
	var reason int64
	dest := []any{&c.Serial, &c.Subject, &c.CN, &c.Profile, &notBefore, &notAfter, &issuedAt, &c.DER, &revokedAt, &reason}
	if withKey {
		dest = append(dest, &c.KeyPEM)
	}
	if err := r.Scan(dest...); err != nil {
		return Certificate{}, err
	}
	c.NotBefore, c.NotAfter, c.IssuedAt = fromNanos(notBefore), fromNanos(notAfter), fromNanos(issuedAt)
	c.RevokedAt, c.Reason = fromNanos(revokedAt), int(reason)
	if len(c.KeyPEM) == 0 {
		c.KeyPEM = nil
	}
	return c, nil
}

// Revocations returns the revocations with Seq > after, ascending.
func (s *SQLite) Revocations(ctx context.Context, after int64) ([]Revocation, error) {
	const op = "list revocations"
	if err := checkCtx(ctx); err != nil {
		return nil, s.fail(op, err)
	}
	rows, err := s.db.QueryContext(ctx,
		"SELECT seq, serial, revoked_at, reason, not_after FROM revocations WHERE seq > ? ORDER BY seq", after)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []Revocation
	for rows.Next() {
		var r Revocation
		var at, notAfter sql.NullInt64
		if err := rows.Scan(&r.Seq, &r.Serial, &at, &r.Reason, &notAfter); err != nil {
			return nil, s.fail(op, err)
		}
		r.RevokedAt, r.NotAfter = fromNanos(at), fromNanos(notAfter)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// LastRevocationSeq returns the highest revocation Seq, 0 when none.
func (s *SQLite) LastRevocationSeq(ctx context.Context) (int64, error) {
	const op = "last revocation"
	if err := checkCtx(ctx); err != nil {
		return 0, s.fail(op, err)
	}
	var seq int64
	err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM revocations").Scan(&seq)
	if err != nil {
		return 0, s.fail(op, err)
	}
	return seq, nil
}

// AuditLog returns audit entries with Seq > after, ascending, at most limit
// of them (0: all).
func (s *SQLite) AuditLog(ctx context.Context, after int64, limit int) ([]Audit, error) {
	const op = "read audit log"
	if err := checkCtx(ctx); err != nil {
		return nil, s.fail(op, err)
	}
	if limit < 0 {
		return nil, s.fail(op, fmt.Errorf("negative limit %d", limit))
	}
	q := "SELECT seq, time, actor, action, serial, detail FROM audit WHERE seq > ? ORDER BY seq"
	args := []any{after}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	var out []Audit
	for rows.Next() {
		var a Audit
		var t sql.NullInt64
		if err := rows.Scan(&a.Seq, &t, &a.Actor, &a.Action, &a.Serial, &a.Detail); err != nil {
			return nil, s.fail(op, err)
		}
		a.Time = fromNanos(t)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}
