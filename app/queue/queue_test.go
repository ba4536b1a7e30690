package queue

import (
	"context"
	"path/filepath"
	"testing"

	"madoguchi/app/store"
)

func TestBacklog(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st, err := Backlog(ctx, s.DB); err != nil || st != (Stats{}) {
		t.Fatalf("empty backlog = %+v, %v", st, err)
	}
	for i, state := range []string{"pending", "pending", "inflight", "done", "dead"} {
		if _, err := s.DB.ExecContext(ctx, `INSERT INTO outbox (idempotency_key, kind, payload, state) VALUES (?, 'x', x'00', ?)`,
			"k"+string(rune('a'+i)), state); err != nil {
			t.Fatal(err)
		}
	}
	st, err := Backlog(ctx, s.DB)
	if err != nil || st != (Stats{Pending: 3, Dead: 1}) {
		t.Fatalf("backlog = %+v, %v; want 3 pending, 1 dead", st, err)
	}
}
