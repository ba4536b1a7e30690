package audit

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"madoguchi/app/store"
)

func newLog(t *testing.T) (*Log, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := Open(st.DB, filepath.Join(dir, "audit-key.json"), "T-01")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, k := range []string{"login", "procedure.issuance", "reprint", "queue.discard", "logout"} {
		if err := l.Append(ctx, nil, Event{Actor: "clerk1", Kind: k, Subject: "…" + string(rune('A'+i)), Detail: map[string]any{"n": i}}); err != nil {
			t.Fatal(err)
		}
	}
	return l, st
}

// tamper edits the database behind the triggers' back, as someone with
// the file would (dropping the triggers first).
func tamper(t *testing.T, st *store.Store, sqls ...string) {
	t.Helper()
	for _, s := range append([]string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}, sqls...) {
		if _, err := st.DB.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	ctx := context.Background()
	l, st := newLog(t)
	if n, p, err := l.Verify(ctx); err != nil || p != nil || n != 5 {
		t.Fatalf("intact trail: %d %v %v", n, p, err)
	}
	// The database refuses edits and deletes.
	if _, err := st.DB.Exec(`UPDATE audit_events SET actor = 'x' WHERE seq = 2`); err == nil {
		t.Fatal("an update went through")
	}
	if _, err := st.DB.Exec(`DELETE FROM audit_events WHERE seq = 2`); err == nil {
		t.Fatal("a delete went through")
	}
	for _, tc := range []struct {
		name string
		sql  []string
		seq  int64
		what string
	}{
		{"edited", []string{`UPDATE audit_events SET actor = 'supervisor' WHERE seq = 3`}, 3, "edited"},
		{"edited detail", []string{`UPDATE audit_events SET detail = '{"n":9}' WHERE seq = 4`}, 4, "edited"},
		{"deleted", []string{`DELETE FROM audit_events WHERE seq = 2`}, 2, "deleted"},
		{"deleted last-but-one and renumbered", []string{`DELETE FROM audit_events WHERE seq = 4`, `UPDATE audit_events SET seq = 4 WHERE seq = 5`}, 4, "edited"},
		{"reordered", []string{`UPDATE audit_events SET seq = 100 WHERE seq = 2`, `UPDATE audit_events SET seq = 2 WHERE seq = 3`, `UPDATE audit_events SET seq = 3 WHERE seq = 100`}, 2, "edited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, st := newLog(t)
			tamper(t, st, tc.sql...)
			_, p, err := l.Verify(ctx)
			if err != nil || p == nil || p.Seq != tc.seq || p.What != tc.what {
				t.Fatalf("got %+v, %v; want event %d %s", p, err, tc.seq, tc.what)
			}
		})
	}
}

func TestDay(t *testing.T) {
	l, _ := newLog(t)
	jst := time.FixedZone("JST", 9*3600)
	ev, err := l.Day(context.Background(), time.Now(), jst)
	if err != nil || len(ev) != 5 || ev[1].Kind != "procedure.issuance" || ev[1].Detail["n"] != float64(1) {
		t.Fatalf("%+v %v", ev, err)
	}
	ev, _ = l.Day(context.Background(), time.Now().AddDate(0, 0, -2), jst)
	if len(ev) != 0 {
		t.Fatalf("other day: %d", len(ev))
	}
}
