package store_test

import (
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
	"github.com/mtlsgate/mtlsgate/internal/store/storetest"
)

// TestStorePendingConformance runs the conformance suite's pending-request
// tests on their own (TestSQLiteConformance runs them with the rest).
func TestStorePendingConformance(t *testing.T) {
	storetest.RunPending(t, func(t *testing.T) store.Store { return openT(t, dbPath(t)) })
}

// TestPendingMigration: a version 2 store (before the pending table)
// keeps its certificates and tokens and gains the table on open.
func TestPendingMigration(t *testing.T) {
	path := dbPath(t)
	s := openT(t, path)
	c := storetest.Cert(1, "kept", time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC))
	if err := s.PutCertificate(ctx, c, storetest.Event("issue", c.Serial)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, path)
	for _, q := range []string{"DROP TABLE pending", "PRAGMA user_version = 2"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(q, err)
		}
	}
	db.Close()
	s = openT(t, path)
	defer s.Close()
	if _, err := s.Certificate(ctx, c.Serial); err != nil {
		t.Fatalf("certificate lost in migration: %v", err)
	}
	now := time.Now()
	if _, _, err := s.CreatePending(ctx, storetest.PendingRequest("01", "ab", now), now, storetest.Event("est-queue", "")); err != nil {
		t.Fatalf("pending table missing after migration: %v", err)
	}
	var v int
	if err := rawDB(t, path).QueryRow("PRAGMA user_version").Scan(&v); err != nil || v != store.SchemaVersion || v != 3 {
		t.Fatalf("user_version %d (%v), want 3", v, err)
	}
}
