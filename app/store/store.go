// Package store opens Madoguchi's SQLite database and keeps its schema
// current with embedded SQL migrations numbered by PRAGMA user_version.
//
// Every connection runs in WAL mode with synchronous=FULL (a committed
// transaction survives a power cut), a busy timeout, foreign keys on, and
// BEGIN IMMEDIATE so that a writer takes the lock up front instead of
// failing on a lock upgrade.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrTooNew means the database was written by a newer Madoguchi.
var ErrTooNew = errors.New("store: database schema is newer than this program")

// Store is the open database.
type Store struct {
	DB   *sql.DB
	Path string
}

// Open opens (creating if needed) the database at path and migrates it to
// the newest schema.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, migrations, -1)
}

// OpenFS opens a database with another schema: fsys holds
// migrations/NNNN_name.sql (the central simulator uses it).
func OpenFS(ctx context.Context, path string, fsys fs.FS) (*Store, error) {
	return open(ctx, path, fsys, -1)
}

func open(ctx context.Context, path string, fsys fs.FS, target int) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store dir: %w", err)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(5000)", "foreign_keys(1)", "synchronous(FULL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		db.Close()
		return nil, fmt.Errorf("store permissions: %w", err)
	}
	if err := migrate(ctx, db, fsys, target); err != nil {
		db.Close()
		return nil, err
	}
	return &Store{DB: db, Path: path}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }

// Version returns the schema version (PRAGMA user_version).
func (s *Store) Version(ctx context.Context) (int, error) { return userVersion(ctx, s.DB) }

// Latest is the schema version this program migrates to.
func Latest() int {
	ms, _ := list(migrations)
	return len(ms)
}

func userVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

type migration struct {
	version int
	name    string
}

// list returns the migrations of fsys, which must be numbered 1..n
// without gaps (NNNN_name.sql).
func list(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]migration, 0, len(names))
	for i, n := range names {
		base := filepath.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: want number %04d", base, i+1)
		}
		out = append(out, migration{version: v, name: n})
	}
	return out, nil
}

// migrate applies every migration above the current user_version, each in
// its own transaction together with the new user_version, up to target
// (-1: all).
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, target int) error {
	ms, err := list(fsys)
	if err != nil {
		return err
	}
	if target < 0 {
		target = len(ms)
	}
	cur, err := userVersion(ctx, db)
	if err != nil {
		return err
	}
	if cur > len(ms) {
		return fmt.Errorf("%w: schema %d, this program knows up to %d", ErrTooNew, cur, len(ms))
	}
	for _, m := range ms {
		if m.version <= cur || m.version > target {
			continue
		}
		body, err := fs.ReadFile(fsys, m.name)
		if err != nil {
			return err
		}
		if err := apply(ctx, db, m, string(body)); err != nil {
			return err
		}
	}
	return nil
}

func apply(ctx context.Context, db *sql.DB, m migration, body string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %d: %w", m.version, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return fmt.Errorf("migration %s: %w", filepath.Base(m.name), err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version)); err != nil {
		return fmt.Errorf("migration %d: set version: %w", m.version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %d: commit: %w", m.version, err)
	}
	return nil
}
