// Package audit keeps the terminal's audit trail: every procedure step,
// login, approval, reprint and queue action as an append-only event whose
// HMAC-SHA256 covers its content and the previous event's HMAC. Editing,
// deleting or reordering rows breaks the chain at that row, and Verify
// says where. The HMAC key lives beside the config file (0600), so a copy
// of the database alone cannot be re-chained after an edit.
package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"madoguchi/app/secretfile"
)

// Event is one audited action. It carries no personal data: a card is
// named by its last four characters, a citizen not at all.
type Event struct {
	Seq      int64          `json:"seq"`
	At       time.Time      `json:"at"`
	Terminal string         `json:"terminal"`
	Actor    string         `json:"actor"`
	Kind     string         `json:"kind"`
	Subject  string         `json:"subject"`
	Detail   map[string]any `json:"detail,omitempty"`
}

// Log appends to and verifies the trail.
type Log struct {
	db       *sql.DB
	key      []byte
	keyID    string
	terminal string
	now      func() time.Time
	mu       sync.Mutex // serialises appends of this process
}

// keyFile is the chain key's saved form.
type keyFile struct {
	ID  string `json:"id"`
	Key []byte `json:"key"`
}

// Open loads the chain key from keyPath (created 0600 if missing).
func Open(db *sql.DB, keyPath, terminal string) (*Log, error) {
	var kf keyFile
	b, err := secretfile.Read(keyPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		k, err := secretfile.NewKey()
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(k)
		kf = keyFile{ID: hex.EncodeToString(sum[:4]), Key: k}
		data, _ := json.Marshal(kf)
		if err := secretfile.Write(keyPath, data); err != nil {
			return nil, fmt.Errorf("audit key: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("audit key: %w", err)
	default:
		if err := json.Unmarshal(b, &kf); err != nil || len(kf.Key) < 32 {
			return nil, fmt.Errorf("audit key %s: malformed", keyPath)
		}
	}
	return &Log{db: db, key: kf.Key, keyID: kf.ID, terminal: terminal, now: time.Now}, nil
}

// SetClock replaces the clock (tests, generated days).
func (l *Log) SetClock(now func() time.Time) { l.now = now }

// Execer is what Append writes through: the database, or the caller's
// transaction so that the event commits with what it records.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Append adds an event through x (nil: the database itself).
func (l *Log) Append(ctx context.Context, x Execer, e Event) error {
	if x == nil {
		x = l.db
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.At.IsZero() {
		e.At = l.now()
	}
	if e.Terminal == "" {
		e.Terminal = l.terminal
	}
	if e.Actor == "" {
		e.Actor = "system"
	}
	var seq int64
	prev := make([]byte, 32)
	err := x.QueryRowContext(ctx, `SELECT seq, mac FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit: %w", err)
	}
	e.Seq = seq + 1
	detail, err := json.Marshal(e.Detail)
	if err != nil {
		return fmt.Errorf("audit: detail: %w", err)
	}
	at := e.At.UTC().Format("2006-01-02T15:04:05.000Z")
	mac := l.mac(prev, e.Seq, at, e.Terminal, e.Actor, e.Kind, e.Subject, string(detail))
	if _, err := x.ExecContext(ctx, `INSERT INTO audit_events (seq, at, terminal, actor, kind, subject, detail, key_id, prev, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, at, e.Terminal, e.Actor, e.Kind, e.Subject, string(detail), l.keyID, prev, mac); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// mac is HMAC-SHA256 over the previous mac and the fields, each
// length-prefixed so that no two field lists share an encoding.
func (l *Log) mac(prev []byte, seq int64, fields ...string) []byte {
	h := hmac.New(sha256.New, l.key)
	h.Write(prev)
	h.Write([]byte(strconv.FormatInt(seq, 10)))
	for _, f := range fields {
		fmt.Fprintf(h, "\x00%d:", len(f))
		io.WriteString(h, f)
	}
	return h.Sum(nil)
}

// Problem is where the chain breaks.
type Problem struct {
	Seq  int64  `json:"seq"`
	What string `json:"what"` // edited, deleted, reordered, foreign key
}

func (p Problem) Error() string { return fmt.Sprintf("audit: event %d: %s", p.Seq, p.What) }

// Verify walks the whole trail and returns the number of events and the
// first problem (nil if none): an edited row (its mac no longer matches
// its content), a deleted one (a gap in the sequence, or a link to a mac
// that is not the previous row's), a reordered one (rows linked out of
// order).
func (l *Log) Verify(ctx context.Context) (int, *Problem, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT seq, at, terminal, actor, kind, subject, detail, key_id, prev, mac FROM audit_events ORDER BY rowid`)
	if err != nil {
		return 0, nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	n := 0
	want := int64(1)
	prevMAC := make([]byte, 32)
	for rows.Next() {
		var seq int64
		var at, term, actor, kind, subj, detail, keyID string
		var prev, mac []byte
		if err := rows.Scan(&seq, &at, &term, &actor, &kind, &subj, &detail, &keyID, &prev, &mac); err != nil {
			return n, nil, err
		}
		n++
		switch {
		case keyID != l.keyID:
			return n, &Problem{Seq: seq, What: "made with another key"}, nil
		case !hmac.Equal(mac, l.mac(prev, seq, at, term, actor, kind, subj, detail)):
			return n, &Problem{Seq: seq, What: "edited"}, nil
		case seq > want && bytes.Equal(prev, prevMAC):
			return n, &Problem{Seq: seq, What: "renumbered"}, nil
		case seq > want:
			return n, &Problem{Seq: want, What: "deleted"}, nil
		case seq < want || !bytes.Equal(prev, prevMAC):
			return n, &Problem{Seq: seq, What: "reordered or deleted before it"}, nil
		}
		prevMAC, want = mac, seq+1
	}
	return n, nil, rows.Err()
}

// Day returns the events of one day (in loc) in order.
func (l *Log) Day(ctx context.Context, day time.Time, loc *time.Location) ([]Event, error) {
	y, m, d := day.In(loc).Date()
	from := time.Date(y, m, d, 0, 0, 0, 0, loc).UTC().Format("2006-01-02T15:04:05.000Z")
	to := time.Date(y, m, d+1, 0, 0, 0, 0, loc).UTC().Format("2006-01-02T15:04:05.000Z")
	rows, err := l.db.QueryContext(ctx, `SELECT seq, at, terminal, actor, kind, subject, detail FROM audit_events WHERE at >= ? AND at < ? ORDER BY seq`, from, to)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		var at, detail string
		if err := rows.Scan(&e.Seq, &at, &e.Terminal, &e.Actor, &e.Kind, &e.Subject, &detail); err != nil {
			return nil, err
		}
		e.At, _ = time.Parse("2006-01-02T15:04:05.000Z", at)
		_ = json.Unmarshal([]byte(detail), &e.Detail)
		out = append(out, e)
	}
	return out, rows.Err()
}
