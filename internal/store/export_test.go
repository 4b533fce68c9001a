package store

import "time"

// OpenSQLiteTimeout is OpenSQLite with a chosen busy timeout, for tests
// that wait for ErrLocked.
func OpenSQLiteTimeout(path string, busy time.Duration) (*SQLite, error) {
	return openSQLite(path, sqliteOptions{busyTimeout: busy})
}

// SchemaVersion is the schema version this program writes.
var SchemaVersion = schemaVersion
