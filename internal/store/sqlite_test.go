package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/internal/store"
	"github.com/mtlsgate/mtlsgate/internal/store/storetest"
)

var ctx = context.Background()

func openT(t testing.TB, path string) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	return s
}

func closeT(t testing.TB, s *store.SQLite) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func dbPath(t testing.TB) string { return filepath.Join(t.TempDir(), "ca.db") }

func put(t testing.TB, s store.Store, i int) store.Certificate {
	t.Helper()
	c := storetest.Cert(i, "cn-"+strconv.Itoa(i), time.Now().Add(time.Hour))
	if err := s.PutCertificate(ctx, c, storetest.Event("issue", c.Serial)); err != nil {
		t.Fatalf("PutCertificate %d: %v", i, err)
	}
	return c
}

// rawDB opens the file with the driver directly, bypassing the store.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openT(t, dbPath(t)) })
}

func TestFileMode(t *testing.T) {
	path := dbPath(t)
	s := openT(t, path)
	defer closeT(t, s)
	put(t, s, 1)
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(name), mode)
		}
	}
}

// TestTwoHandles is the CLI revoking while serve runs, in one process.
func TestTwoHandles(t *testing.T) {
	path := dbPath(t)
	server, cli := openT(t, path), openT(t, path)
	defer closeT(t, server)
	defer closeT(t, cli)

	c := put(t, server, 1)
	if _, err := cli.Certificate(ctx, c.Serial); err != nil {
		t.Fatalf("second handle does not see the put: %v", err)
	}
	if _, err := cli.Revoke(ctx, c.Serial, time.Now(), 1, storetest.Event("revoke", c.Serial)); err != nil {
		t.Fatal(err)
	}
	if seq, err := server.LastRevocationSeq(ctx); err != nil || seq != 1 {
		t.Fatalf("first handle: LastRevocationSeq %d, %v; want 1", seq, err)
	}
	if revs, err := server.Revocations(ctx, 0); err != nil || len(revs) != 1 || revs[0].Serial != c.Serial {
		t.Fatalf("first handle: Revocations %+v, %v", revs, err)
	}
	for want := int64(1); want <= 4; want++ {
		s := []*store.SQLite{server, cli}[want%2]
		if n, err := s.NextCRLNumber(ctx, storetest.Event("crl", "")); err != nil || n != want {
			t.Fatalf("NextCRLNumber: %d, %v; want %d", n, err, want)
		}
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() { put(t, []*store.SQLite{server, cli}[i%2], 100+i) })
	}
	wg.Wait()
	for _, s := range []*store.SQLite{server, cli} {
		if certs, err := s.List(ctx, store.Filter{}); err != nil || len(certs) != 41 {
			t.Errorf("List: %d certificates, %v; want 41", len(certs), err)
		}
	}
}

const helperEnv = "STORE_TEST_HELPER_DB"

// TestHelperProcess is the second process of TestSecondProcess; it does
// nothing unless started by it.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper for TestSecondProcess")
	}
	s := openT(t, path)
	defer closeT(t, s)
	for i := range helperWrites {
		c := put(t, s, 5000+i)
		if _, err := s.Revoke(ctx, c.Serial, time.Now(), 1, storetest.Event("revoke", c.Serial)); err != nil {
			t.Fatal(err)
		}
	}
}

const helperWrites = 100

// TestSecondProcess writes from a child process while this one reads and
// writes the same file.
func TestSecondProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in the helper")
	}
	path := dbPath(t)
	s := openT(t, path)
	defer closeT(t, s)

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var last int64
	var err error
	seen := 0 // distinct revocation counts observed while the child ran
	for i, running := 0, true; running || i < helperWrites; i++ {
		if i < helperWrites {
			put(t, s, 1+i)
		}
		seq, serr := s.LastRevocationSeq(ctx)
		if serr != nil {
			t.Fatal(serr)
		}
		if seq < last {
			t.Fatalf("LastRevocationSeq went back from %d to %d", last, seq)
		}
		if seq != last {
			seen++
		}
		last = seq
		if !running {
			continue
		}
		select {
		case err = <-exited:
			running = false
		case <-time.After(time.Millisecond):
		}
	}
	if err != nil {
		t.Fatalf("helper process: %v\n%s", err, out.String())
	}
	t.Logf("saw %d distinct LastRevocationSeq values while the child wrote", seen)
	revs, err := s.Revocations(ctx, 0)
	if err != nil || len(revs) != helperWrites {
		t.Fatalf("Revocations: %d, %v; want %d", len(revs), err, helperWrites)
	}
	certs, err := s.List(ctx, store.Filter{})
	if err != nil || len(certs) != 2*helperWrites {
		t.Fatalf("List: %d, %v; want %d (both processes' writes)", len(certs), err, 2*helperWrites)
	}
}

func TestCorrupt(t *testing.T) {
	random := make([]byte, 8192)
	rand.Read(random)
	cases := map[string]func(t *testing.T, path string){
		"random": func(t *testing.T, path string) { write(t, path, random) },
		"text":   func(t *testing.T, path string) { write(t, path, []byte("not a database\n")) },
		"truncated": func(t *testing.T, path string) {
			s := openT(t, path)
			for i := range 300 {
				put(t, s, i+1)
			}
			closeT(t, s)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, prepare := range cases {
		t.Run(name, func(t *testing.T) {
			path := dbPath(t)
			prepare(t, path)
			s, err := store.OpenSQLite(path)
			if err == nil {
				s.Close()
				t.Fatal("OpenSQLite succeeded")
			}
			t.Log(err)
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("got %v, want ErrCorrupt naming %s", err, path)
			}
		})
	}
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLocked holds the write lock from another connection: writes fail
// with ErrLocked after the busy timeout, reads go on.
func TestLocked(t *testing.T) {
	path := dbPath(t)
	closeT(t, openT(t, path)) // create the schema
	const timeout = 200 * time.Millisecond
	s, err := store.OpenSQLiteTimeout(path, timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer closeT(t, s)
	put(t, s, 1)

	conn, err := rawDB(t, path).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = s.PutCertificate(ctx, storetest.Cert(2, "x", time.Now()), storetest.Event("issue", ""))
	waited := time.Since(start)
	t.Logf("after %v: %v", waited, err)
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("PutCertificate under a held lock: got %v, want ErrLocked naming the file", err)
	}
	if waited < timeout/2 || waited > 10*timeout {
		t.Errorf("waited %v for a busy timeout of %v", waited, timeout)
	}
	if _, err := s.Certificate(ctx, storetest.Serial(1)); err != nil {
		t.Errorf("read under a held write lock: %v", err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	put(t, s, 2)
}

func TestSchemaTooNew(t *testing.T) {
	path := dbPath(t)
	closeT(t, openT(t, path))
	if _, err := rawDB(t, path).Exec(fmt.Sprintf("PRAGMA user_version = %d", store.SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenSQLite(path)
	if err == nil {
		s.Close()
		t.Fatal("OpenSQLite accepted a newer schema")
	}
	if !strings.Contains(err.Error(), "newer") || errors.Is(err, store.ErrCorrupt) {
		t.Errorf("got %v, want a schema-too-new error", err)
	}
}

func TestNotAStore(t *testing.T) {
	path := dbPath(t)
	if _, err := rawDB(t, path).Exec("CREATE TABLE other (x)"); err != nil {
		t.Fatal(err)
	}
	if s, err := store.OpenSQLite(path); err == nil || !strings.Contains(err.Error(), "not an mtlsgate store") {
		if err == nil {
			s.Close()
		}
		t.Errorf("OpenSQLite on another application's database: %v", err)
	}
}

func TestReopen(t *testing.T) {
	path := dbPath(t)
	s := openT(t, path)
	c := put(t, s, 1)
	put(t, s, 2)
	if _, err := s.Revoke(ctx, c.Serial, time.Now(), 1, storetest.Event("revoke", c.Serial)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NextCRLNumber(ctx, storetest.Event("crl", "")); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)

	s = openT(t, path)
	defer closeT(t, s)
	got, err := s.Certificate(ctx, c.Serial)
	if err != nil || !got.Revoked() || string(got.KeyPEM) != string(c.KeyPEM) {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	if certs, _ := s.List(ctx, store.Filter{}); len(certs) != 2 {
		t.Errorf("after reopen: %d certificates, want 2", len(certs))
	}
	if n, err := s.NextCRLNumber(ctx, storetest.Event("crl", "")); err != nil || n != 2 {
		t.Errorf("after reopen: NextCRLNumber %d, %v; want 2", n, err)
	}
	r, err := s.Revoke(ctx, storetest.Serial(2), time.Now(), 1, storetest.Event("revoke", ""))
	if err != nil || r.Seq != 2 {
		t.Errorf("after reopen: revocation Seq %d, %v; want 2", r.Seq, err)
	}
	if log, _ := s.AuditLog(ctx, 0, 0); len(log) != 6 {
		t.Errorf("after reopen: %d audit entries, want 6", len(log))
	}
}

func TestTimeOutOfRange(t *testing.T) {
	s := openT(t, dbPath(t))
	defer closeT(t, s)
	c := storetest.Cert(1, "forever", time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC))
	err := s.PutCertificate(ctx, c, storetest.Event("issue", c.Serial))
	if err == nil || !strings.Contains(err.Error(), "outside the range") {
		t.Errorf("NotAfter in 9999: got %v, want an out-of-range error", err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := store.OpenSQLite(""); err == nil {
		t.Error("OpenSQLite(\"\") succeeded")
	}
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "ca.db")
	if _, err := store.OpenSQLite(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("OpenSQLite in a missing directory: %v", err)
	}
	odd := filepath.Join(t.TempDir(), "a dir?with#odd%chars", "ca.db")
	if err := os.MkdirAll(filepath.Dir(odd), 0o700); err != nil {
		t.Fatal(err)
	}
	s := openT(t, odd)
	put(t, s, 1)
	closeT(t, s)
	if _, err := os.Stat(odd); err != nil {
		t.Errorf("database not at the path given: %v", err)
	}
}

// BenchmarkPutCertificate measures durable issuance records per second:
// one writer at a time, and many at once (group commit).
func BenchmarkPutCertificate(b *testing.B) {
	der := make([]byte, 700) // about an ECDSA client certificate
	rand.Read(der)
	var next atomic.Int64
	cert := func() (store.Certificate, store.Audit) {
		c := storetest.Cert(int(next.Add(1)), "bench", time.Now().Add(24*time.Hour))
		c.DER, c.KeyPEM = der, nil
		return c, storetest.Event("issue", c.Serial)
	}
	b.Run("serial", func(b *testing.B) {
		s := openT(b, dbPath(b))
		defer closeT(b, s)
		for b.Loop() {
			c, a := cert()
			if err := s.PutCertificate(ctx, c, a); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		s := openT(b, dbPath(b))
		defer closeT(b, s)
		b.SetParallelism(32) // concurrent requests per CPU
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c, a := cert()
				if err := s.PutCertificate(ctx, c, a); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
	})
}
