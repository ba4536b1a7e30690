package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"madoguchi/app/store"
)

func openQueue(t *testing.T, withKeys bool) (*Queue, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "q.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var keys *Keyring
	if withKeys {
		if keys, err = LoadKeyring(filepath.Join(t.TempDir(), "keys.json")); err != nil {
			t.Fatal(err)
		}
	}
	return New(st.DB, keys), st
}

func TestBacklog(t *testing.T) {
	ctx := context.Background()
	q, st := openQueue(t, false)
	if s, err := Backlog(ctx, st.DB); err != nil || s != (Stats{}) {
		t.Fatalf("empty backlog = %+v, %v", s, err)
	}
	for i, state := range []string{"pending", "pending", "inflight", "done", "dead", "discarded"} {
		if _, err := st.DB.Exec(`INSERT INTO outbox (idempotency_key, kind, payload, state) VALUES (?, 'x', x'00', ?)`, string(rune('a'+i)), state); err != nil {
			t.Fatal(err)
		}
	}
	if s, err := Backlog(ctx, st.DB); err != nil || s != (Stats{Pending: 3, Dead: 1}) {
		t.Fatalf("backlog = %+v, %v; want 3 pending, 1 dead", s, err)
	}
	_ = q
}

// TestOutboxIsAtomic: a job exists exactly when the business record does.
func TestOutboxIsAtomic(t *testing.T) {
	ctx := context.Background()
	q, st := openQueue(t, false)
	tx, _ := st.DB.BeginTx(ctx, nil)
	tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('proc-1', 'x')`)
	if _, err := q.Enqueue(ctx, tx, NewJob{Kind: "event", Payload: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if c, _ := q.Count(ctx); c[Pending] != 0 {
		t.Fatalf("a rolled-back transaction left %d jobs", c[Pending])
	}
	tx, _ = st.DB.BeginTx(ctx, nil)
	tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('proc-1', 'x')`)
	q.Enqueue(ctx, tx, NewJob{Kind: "event", Payload: []byte("{}")})
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if c, _ := q.Count(ctx); c[Pending] != 1 {
		t.Fatalf("committed: %v", c)
	}
}

func TestClaimOrderAndPriority(t *testing.T) {
	ctx := context.Background()
	q, _ := openQueue(t, false)
	a1, _ := q.EnqueueNow(ctx, NewJob{Kind: "k", OrderingKey: "card-A"})
	a2, _ := q.EnqueueNow(ctx, NewJob{Kind: "k", OrderingKey: "card-A"})
	b1, _ := q.EnqueueNow(ctx, NewJob{Kind: "k", OrderingKey: "card-B"})
	lost, _ := q.EnqueueNow(ctx, NewJob{Kind: "k", OrderingKey: "card-C", Priority: PrioritySuspension})
	jobs, err := q.claim(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	if len(ids) != 3 || ids[0] != lost || ids[1] != a1 || ids[2] != b1 {
		t.Fatalf("claimed %v; want suspension %d first, then %d and %d, not %d", ids, lost, a1, b1, a2)
	}
	if more, _ := q.claim(ctx, 10); len(more) != 0 {
		t.Fatalf("a2 claimed while a1 is in flight: %v", more)
	}
	q.complete(ctx, a1)
	more, _ := q.claim(ctx, 10)
	if len(more) != 1 || more[0].ID != a2 {
		t.Fatalf("after a1 done: %v", more)
	}
}

type stubCentral struct {
	mu        sync.Mutex
	down      bool
	fail      map[int64]error
	delivered []int64
	payloads  [][]byte
}

func (s *stubCentral) handler(ctx context.Context, jobs []Job) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(jobs))
	for i, j := range jobs {
		switch {
		case s.down:
			errs[i] = Unavailable(errors.New("connection refused"))
		case s.fail[j.ID] != nil:
			errs[i] = s.fail[j.ID]
		default:
			s.delivered = append(s.delivered, j.ID)
			s.payloads = append(s.payloads, append([]byte(nil), j.Payload...))
		}
	}
	return errs
}

func (s *stubCentral) probe(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return errors.New("down")
	}
	return nil
}

func worker(q *Queue, s *stubCentral, batch int) *Worker {
	return NewWorker(q, Options{Kinds: map[string]Kind{"k": {Handler: s.handler, Batch: batch}}, Probe: s.probe,
		BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, MaxAttempts: 3, ProbeMin: time.Millisecond, ProbeMax: 5 * time.Millisecond, Idle: 5 * time.Millisecond})
}

func TestDeadLettersRetryDiscard(t *testing.T) {
	ctx := context.Background()
	q, _ := openQueue(t, false)
	s := &stubCentral{fail: map[int64]error{}}
	refused, _ := q.EnqueueNow(ctx, NewJob{Kind: "k"})
	flaky, _ := q.EnqueueNow(ctx, NewJob{Kind: "k"})
	unknown, _ := q.EnqueueNow(ctx, NewJob{Kind: "nobody-handles-this"})
	s.fail[refused] = Permanent(errors.New("409 invalid-transition"))
	s.fail[flaky] = errors.New("500 internal")
	w := worker(q, s, 1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.Drain(ctx)
		if c, _ := q.Count(ctx); c[Dead] == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	dead, _ := q.List(ctx, Dead, 10)
	reasons := map[int64]string{}
	for _, j := range dead {
		reasons[j.ID] = j.DeadReason
	}
	if !strings.Contains(reasons[refused], "invalid-transition") || !strings.Contains(reasons[flaky], "gave up after 3 attempts") || !strings.Contains(reasons[unknown], "no handler") {
		t.Fatalf("dead letters: %v", reasons)
	}
	if err := q.Retry(ctx, flaky, ""); err == nil {
		t.Fatal("retry without an actor accepted")
	}
	delete(s.fail, flaky)
	if err := q.Retry(ctx, flaky, "supervisor-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Discard(ctx, refused, "supervisor-1", "card was returned"); err != nil {
		t.Fatal(err)
	}
	if err := q.Discard(ctx, flaky, "supervisor-1", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("discarding a delivered job: %v", err)
	}
	c, _ := q.Count(ctx)
	if c[Done] != 1 || c[Discarded] != 1 || c[Dead] != 1 {
		t.Fatalf("counts %v", c)
	}
	acts, _ := q.Actions(ctx)
	if len(acts) != 2 || acts[0].Action != "discard" || acts[0].Reason != "card was returned" || acts[1].Action != "retry" || acts[1].Actor != "supervisor-1" {
		t.Fatalf("actions %+v", acts)
	}
}

func TestCircuitOpensAndCloses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	q, _ := openQueue(t, false)
	s := &stubCentral{down: true}
	w := worker(q, s, 10)
	for i := 0; i < 5; i++ {
		q.EnqueueNow(ctx, NewJob{Kind: "k"})
	}
	go w.Run(ctx)
	waitFor(t, func() bool { c, _ := q.Count(ctx); return !w.Status().Online && c[Inflight] == 0 })
	if c, _ := q.Count(ctx); c[Pending] != 5 {
		t.Fatalf("jobs while offline: %v", c)
	}
	jobs, _ := q.List(ctx, Pending, 10)
	for _, j := range jobs {
		if j.Attempts != 0 {
			t.Fatalf("an outage spent attempts: %+v", j)
		}
	}
	s.mu.Lock()
	s.down = false
	s.mu.Unlock()
	waitFor(t, func() bool { c, _ := q.Count(ctx); return w.Status().Online && c[Done] == 5 })
	// Pause and resume.
	w.Pause()
	time.Sleep(20 * time.Millisecond)
	q.EnqueueNow(ctx, NewJob{Kind: "k"})
	w.Kick()
	time.Sleep(50 * time.Millisecond)
	if c, _ := q.Count(ctx); c[Done] != 5 || !w.Status().Paused {
		t.Fatalf("delivered while paused: %v", c)
	}
	w.Resume()
	waitFor(t, func() bool { c, _ := q.Count(ctx); return c[Done] == 6 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRecoverInflight(t *testing.T) {
	ctx := context.Background()
	q, _ := openQueue(t, false)
	q.EnqueueNow(ctx, NewJob{Kind: "k"})
	if jobs, _ := q.claim(ctx, 1); len(jobs) != 1 {
		t.Fatal("claim")
	}
	// The process dies here; at the next start:
	if n, err := q.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover = %d, %v", n, err)
	}
	if c, _ := q.Count(ctx); c[Pending] != 1 {
		t.Fatalf("%v", c)
	}
}

func TestPersonalPayloadsEncryptedAndRotated(t *testing.T) {
	ctx := context.Background()
	q, st := openQueue(t, true)
	secretText := []byte(`{"name":"窓口　花子","address":"デモ県デモ市"}`)
	id, err := q.EnqueueNow(ctx, NewJob{Kind: "k", Payload: secretText, Personal: true})
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	st.DB.QueryRow(`SELECT payload FROM outbox WHERE id = ?`, id).Scan(&raw)
	if bytes.Contains(raw, []byte("花子")) || len(raw) == 0 {
		t.Fatal("personal payload stored in clear")
	}
	// The file on disk holds no plaintext either.
	st.DB.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	disk, _ := os.ReadFile(filepath.Join(filepath.Dir(findDB(t, st)), "q.db"))
	if bytes.Contains(disk, []byte("花子")) {
		t.Fatal("plaintext in the database file")
	}
	// Moving a sealed payload to another row fails (AAD is the row's key).
	st.DB.Exec(`INSERT INTO outbox (idempotency_key, kind, payload, key_id) SELECT 'other', 'k', payload, key_id FROM outbox WHERE id = ?`, id)
	claimed, err := q.claim(ctx, 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != id {
		t.Fatalf("claim with a moved payload: %v %v", claimed, err)
	}
	var state, reason string
	st.DB.QueryRow(`SELECT state, dead_reason FROM outbox WHERE idempotency_key = 'other'`).Scan(&state, &reason)
	if state != "dead" || !strings.Contains(reason, "does not decrypt") {
		t.Fatalf("a payload moved to another job: %s %q", state, reason)
	}
	st.DB.Exec(`DELETE FROM outbox WHERE idempotency_key = 'other'`)
	q.Recover(ctx)
	// Rotation: new key, re-encrypt, prune; the job still decrypts.
	old := q.keys.Current
	if _, err := q.keys.Rotate(); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Reencrypt(ctx); n != 1 || err != nil {
		t.Fatalf("Reencrypt = %d, %v", n, err)
	}
	used, _ := q.KeysInUse(ctx)
	gone, err := q.keys.Prune(used)
	if err != nil || len(gone) != 1 || gone[0] != old {
		t.Fatalf("Prune = %v, %v", gone, err)
	}
	reloaded, err := LoadKeyring(q.keys.path)
	if err != nil || len(reloaded.IDs()) != 1 {
		t.Fatalf("reload: %v %v", reloaded, err)
	}
	q.keys = reloaded
	s := &stubCentral{}
	if _, err := worker(q, s, 1).Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if len(s.payloads) != 1 || !bytes.Equal(s.payloads[0], secretText) {
		t.Fatalf("delivered payload %q", s.payloads)
	}
	st.DB.QueryRow(`SELECT payload FROM outbox WHERE id = ?`, id).Scan(&raw)
	if len(raw) != 0 {
		t.Fatal("a delivered personal payload was kept")
	}
	// A key file others can read is refused.
	os.Chmod(q.keys.path, 0o644)
	if _, err := LoadKeyring(q.keys.path); !errors.Is(err, ErrKeyFileMode) {
		t.Fatalf("0644 key file: %v", err)
	}
}

func findDB(t *testing.T, st *store.Store) string { return st.Path }
