package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestOpenEmpty(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "sub", "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, err := s.Version(ctx)
	if err != nil || v != Latest() || v < 2 {
		t.Fatalf("version = %d, %v; want %d", v, err, Latest())
	}
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "5000",
	} {
		var got string
		if err := s.DB.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO outbox (idempotency_key, kind, payload) VALUES ('k', 'x', x'00')`); err != nil {
		t.Fatalf("outbox missing: %v", err)
	}
}

// TestUpgradeFromOlderVersion builds a database at schema 1 with data,
// then opens it with the current program.
func TestUpgradeFromOlderVersion(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	old, err := open(ctx, path, migrations, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := old.Version(ctx); v != 1 {
		t.Fatalf("old version = %d", v)
	}
	if _, err := old.DB.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('terminal', 'T-01')`); err != nil {
		t.Fatal(err)
	}
	if _, err := old.DB.ExecContext(ctx, `SELECT 1 FROM outbox`); err == nil {
		t.Fatal("outbox exists at version 1")
	}
	old.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Version(ctx); v != Latest() {
		t.Fatalf("version after upgrade = %d, want %d", v, Latest())
	}
	var term string
	if err := s.DB.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'terminal'`).Scan(&term); err != nil || term != "T-01" {
		t.Fatalf("data lost in upgrade: %q, %v", term, err)
	}
	if _, err := s.DB.ExecContext(ctx, `SELECT count(*) FROM outbox`); err != nil {
		t.Fatalf("outbox after upgrade: %v", err)
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	bad := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
		"migrations/0002_b.sql": {Data: []byte("CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);")},
	}
	if _, err := open(ctx, path, bad, -1); err == nil {
		t.Fatal("bad migration accepted")
	}
	s, err := open(ctx, path, bad, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.Version(ctx); v != 1 {
		t.Fatalf("version = %d after a failed migration 2, want 1", v)
	}
	if _, err := s.DB.ExecContext(ctx, "SELECT * FROM b"); err == nil {
		t.Fatal("table b survived the rolled-back migration")
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB.ExecContext(ctx, "PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, path); !errors.Is(err, ErrTooNew) {
		t.Fatalf("Open = %v, want ErrTooNew", err)
	}
}

func TestMigrationNumbering(t *testing.T) {
	gap := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("SELECT 1;")},
		"migrations/0003_c.sql": {Data: []byte("SELECT 1;")},
	}
	if _, err := list(gap); err == nil {
		t.Fatal("a gap in migration numbers was accepted")
	}
}
