package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"
)

// applicationID marks the database file as an mtlsgate store ("mtls").
const applicationID = 0x6d746c73

// migrations[i] brings the schema from version i to i+1; the schema version
// is kept in PRAGMA user_version. Append, never edit: a released step has
// already run on operators' files.
var migrations = [][]string{
	{ // 1: initial schema
		`CREATE TABLE certificates (
			serial     TEXT PRIMARY KEY NOT NULL,
			subject    TEXT NOT NULL,
			cn         TEXT NOT NULL,
			profile    TEXT NOT NULL,
			not_before INTEGER,
			not_after  INTEGER NOT NULL,
			issued_at  INTEGER,
			der        BLOB NOT NULL,
			key_pem    BLOB,
			revoked_at INTEGER,
			reason     INTEGER NOT NULL DEFAULT 0
		)`,
		`CREATE INDEX certificates_cn ON certificates (cn)`,
		`CREATE INDEX certificates_not_after ON certificates (not_after, serial)`,
		`CREATE TABLE revocations (
			seq        INTEGER PRIMARY KEY AUTOINCREMENT,
			serial     TEXT NOT NULL UNIQUE REFERENCES certificates (serial),
			revoked_at INTEGER NOT NULL,
			reason     INTEGER NOT NULL,
			not_after  INTEGER NOT NULL
		)`,
		`CREATE TABLE audit (
			seq    INTEGER PRIMARY KEY AUTOINCREMENT,
			time   INTEGER,
			actor  TEXT NOT NULL,
			action TEXT NOT NULL,
			serial TEXT NOT NULL,
			detail TEXT NOT NULL
		)`,
		`CREATE TABLE meta (
			key   TEXT PRIMARY KEY NOT NULL,
			value INTEGER NOT NULL
		)`,
		`INSERT INTO meta (key, value) VALUES ('crl_number', 0)`,
		fmt.Sprintf(`PRAGMA application_id = %d`, applicationID),
	},
	{ // 2: one-time enrollment tokens (EST)
		`CREATE TABLE tokens (
			hash       TEXT PRIMARY KEY NOT NULL,
			cn         TEXT NOT NULL,
			created_at INTEGER NOT NULL,
			expires_at INTEGER NOT NULL,
			used_at    INTEGER
		)`,
	},
	{ // 3: EST requests waiting for manual approval
		`CREATE TABLE pending (
			id         TEXT PRIMARY KEY NOT NULL,
			match_key  TEXT NOT NULL,
			label      TEXT NOT NULL,
			profile    TEXT NOT NULL,
			cn         TEXT NOT NULL,
			sans       TEXT NOT NULL,
			credential TEXT NOT NULL,
			key_type   TEXT NOT NULL,
			csr        BLOB NOT NULL,
			created_at INTEGER NOT NULL,
			expires_at INTEGER NOT NULL,
			status     TEXT NOT NULL,
			decided_at INTEGER,
			decided_by TEXT NOT NULL DEFAULT '',
			reason     TEXT NOT NULL DEFAULT '',
			serial     TEXT REFERENCES certificates (serial)
		)`,
		`CREATE INDEX pending_match ON pending (match_key, created_at)`,
		`CREATE INDEX pending_created ON pending (created_at, id)`,
	},
}

// schemaVersion is the version this program writes.
var schemaVersion = len(migrations)

// migrate creates or upgrades the schema in one transaction. It refuses a
// schema newer than this program's and a database that is not a store.
func (s *SQLite) migrate(ctx context.Context) error {
	v, err := s.checkVersion(ctx)
	if err != nil || v == schemaVersion {
		return err
	}
	if _, err := s.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := s.migrateLocked(ctx); err != nil {
		s.rollback()
		return err
	}
	_, err = s.wconn.ExecContext(ctx, "COMMIT")
	if err != nil {
		s.rollback()
	}
	return err
}

// migrateLocked runs the missing steps inside the write transaction,
// reading the version again: another process may have migrated meanwhile.
func (s *SQLite) migrateLocked(ctx context.Context) error {
	v, err := s.checkVersion(ctx)
	if err != nil {
		return err
	}
	for ; v < schemaVersion; v++ {
		for _, stmt := range migrations[v] {
			if _, err := s.wconn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("schema migration to version %d: %w", v+1, err)
			}
		}
	}
	_, err = s.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion))
	return err
}

// checkVersion reads the schema version and checks that this program can
// use the file.
func (s *SQLite) checkVersion(ctx context.Context) (int, error) {
	var v, app, tables int
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, err
	}
	if err := s.wconn.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return 0, err
	}
	if app != 0 && app != applicationID {
		return 0, fmt.Errorf("not an mtlsgate store (application_id %#x)", app)
	}
	if v > schemaVersion {
		return 0, fmt.Errorf("schema version %d is newer than this program supports (%d): upgrade mtlsgate", v, schemaVersion)
	}
	if v == 0 {
		err := s.wconn.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables)
		if err != nil {
			return 0, err
		}
		if tables > 0 {
			return 0, fmt.Errorf("not an mtlsgate store: the database has tables but no schema version")
		}
	}
	return v, nil
}

// rollback ends the writer connection's transaction, if any, after a
// failure; its own error adds nothing to the one being reported.
func (s *SQLite) rollback() {
	_, _ = s.wconn.ExecContext(context.Background(), "ROLLBACK")
}

// The instants an int64 count of nanoseconds since 1970 can hold: from
// 1677-09-21 to 2262-04-11.
var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// toNanos converts t to the stored form: nil (NULL) for the zero time,
// otherwise UTC nanoseconds since the Unix epoch. Times that do not fit are
// refused rather than wrapped around.
func toNanos(what string, t time.Time) (any, error) {
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minNanoTime) || t.After(maxNanoTime) {
		return nil, fmt.Errorf("%s %s is outside the range the store can hold (%d to %d)",
			what, t.UTC().Format(time.RFC3339), minNanoTime.UTC().Year(), maxNanoTime.UTC().Year())
	}
	return t.UnixNano(), nil
}

// clampNanos converts a filter bound, clamping it into the storable range.
func clampNanos(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// fromNanos converts a stored time back; NULL is the zero time.
func fromNanos(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.Unix(0, v.Int64).UTC()
}
