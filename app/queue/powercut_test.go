package queue_test

// The power-cut test: while jobs are enqueued and delivered, the database
// files are copied as they are on disk at that moment (the database, then
// its write-ahead log, then the shared-memory index), as a power cut could
// leave them; each copy must open cleanly and work as a queue.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"madoguchi/app/queue"
	"madoguchi/app/store"
)

// stubKinds delivers every job at once (no central system).
func stubKinds() map[string]queue.Kind {
	ok := func(_ context.Context, jobs []queue.Job) []error { return make([]error, len(jobs)) }
	return map[string]queue.Kind{
		queue.KindEvent:      {Handler: ok, Batch: 50},
		queue.KindTransition: {Handler: ok},
	}
}

// enqueueErr is enqueue for goroutines: a business row and its job in one
// transaction.
func enqueueErr(ctx context.Context, db *sql.DB, q *queue.Queue, j queue.NewJob) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, "job/"+j.IdempotencyKey, j.Kind); err != nil {
		return err
	}
	if _, err := q.Enqueue(ctx, tx, j); err != nil {
		return err
	}
	return tx.Commit()
}

// TestPowerCutCopiesOpenCleanly copies the live database files ten times
// at random moments while a goroutine enqueues (a business row and its
// job per transaction) and a worker delivers, and checks every copy:
// store.Open succeeds, PRAGMA integrity_check is ok, every business row
// has its job and every job its row (nothing half-committed), the queue
// counts, and a new enqueue and a drain work on it.
//
// A power cut keeps what was synced and may lose or tear what was not: the
// copy of the log races with appends to it (a torn last frame), and every
// other copy also loses a random part of the log's tail written during the
// copy. What a power cut can never leave is a database file older than a
// log that was reset after a checkpoint — SQLite syncs the checkpointed
// database before it reuses the log — but plain copies one after the other
// can capture exactly that when a reset falls between them. A read
// transaction held during the copy keeps the log from being reset (it does
// not stop writers or checkpoints up to its snapshot), so each copy is a
// state a power cut could leave.
func TestPowerCutCopiesOpenCleanly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.New(st.DB, nil)
	w := queue.NewWorker(q, queue.Options{Kinds: stubKinds(), Idle: 5 * time.Millisecond})
	runWorker(t, w)

	pin, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer pin.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	var written int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			j := eventJob(fmt.Sprintf("pc-%d-%s", i, queue.NewKey()))
			if i%7 == 0 {
				j = transitionJob(fmt.Sprintf("CARD%d", i%3), "issued")
			}
			if err := enqueueErr(ctx, st.DB, q, j); err != nil {
				writeErr = err
				return
			}
			written++
			w.Kick()
			// Without a pause, this loop re-takes SQLite's write lock at
			// once after each commit and the worker's transactions starve
			// in the busy handler's sleeps: leave it room, so that the
			// copies catch claims and completions too.
			time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
		}
	}()

	// Checkpoints, as SQLite's automatic ones after 1000 pages of log, but
	// often: the copies then catch the database file in the middle of a
	// checkpoint and logs that were reset and are being written again.
	var checkpoints int
	var ckptErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		modes := []string{"PASSIVE", "RESTART", "TRUNCATE"}
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(5+rand.IntN(40)) * time.Millisecond):
			}
			if _, err := st.DB.ExecContext(ctx, "PRAGMA wal_checkpoint("+modes[rand.IntN(len(modes))]+")"); err != nil {
				ckptErr = err
				return
			}
			checkpoints++
		}
	}()

	const copies = 10
	var dirs []string
	truncated := 0
	for i := range copies {
		time.Sleep(time.Duration(20+rand.IntN(130)) * time.Millisecond)
		cdir := filepath.Join(t.TempDir(), fmt.Sprintf("copy%02d", i))
		cut, err := copyLive(ctx, pin, path, cdir, i%2 == 1)
		if err != nil {
			t.Fatal(err)
		}
		if cut {
			truncated++
		}
		dirs = append(dirs, cdir)
	}
	close(stop)
	wg.Wait()
	if writeErr != nil || ckptErr != nil {
		t.Fatalf("writer: %v; checkpoints: %v", writeErr, ckptErr)
	}
	t.Logf("%d jobs enqueued meanwhile, %d checkpoints; %d copies, %d with the log's tail cut", written, checkpoints, copies, truncated)

	nonEmpty := 0
	for _, cdir := range dirs {
		n := checkCopy(t, filepath.Join(cdir, "m.db"))
		if n > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < copies/2 {
		t.Errorf("only %d of %d copies held jobs: the copies were not taken during the writes", nonEmpty, copies)
	}
}

// copyLive copies the database, then its -wal, then its -shm (if any) into
// dir, holding a read transaction on pin meanwhile, and letting writers
// append to the log for a few milliseconds between the database and the
// log. With cut, the copy of the log then loses a random part (cut at any
// byte, so a frame may be torn) of what was appended after the read
// transaction began — never less: that part may be in the database file
// already. It reports whether it cut.
func copyLive(ctx context.Context, pin *sql.DB, path, dir string, cut bool) (bool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, err
	}
	conn, err := pin.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return false, err
	}
	defer conn.ExecContext(ctx, "ROLLBACK")
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM outbox").Scan(&n); err != nil { // the snapshot starts here
		return false, err
	}
	endAtPin, err := walEnd(path + "-wal")
	if err != nil {
		return false, err
	}
	if err := copyFile(path, filepath.Join(dir, "m.db")); err != nil {
		return false, err
	}
	time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
	if err := copyFile(path+"-wal", filepath.Join(dir, "m.db-wal")); err != nil {
		return false, err
	}
	if err := copyFile(path+"-shm", filepath.Join(dir, "m.db-shm")); err != nil && !os.IsNotExist(err) {
		return false, err
	}
	if !cut {
		return false, nil
	}
	wal := filepath.Join(dir, "m.db-wal")
	end, err := walEnd(wal)
	if err != nil || end <= endAtPin {
		return false, err
	}
	return true, os.Truncate(wal, endAtPin+rand.Int64N(end-endAtPin))
}

// walEnd is where the frames of a write-ahead log's current generation
// (those carrying the salts of its header) end: an upper bound of what a
// reader can see, and past the end of every committed transaction. The
// log keeps its size when it is reset, so the file's size says nothing.
func walEnd(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil || len(b) < 32 {
		return int64(len(b)), err
	}
	frame := int64(24 + binary.BigEndian.Uint32(b[8:12]))
	salts := b[16:24]
	off := int64(32)
	for off+frame <= int64(len(b)) && bytes.Equal(b[off+8:off+16], salts) {
		off += frame
	}
	return off, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// checkCopy opens a copy and checks it; it returns the number of jobs the
// copy held.
func checkCopy(t *testing.T, path string) int {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatalf("open copy %s: %v", path, err)
	}
	defer st.Close()
	wantIntegrity(t, st)
	jobs := wantAtomicOutbox(t, st)
	q := queue.New(st.DB, nil)
	before := counts(t, q)
	sum := 0
	for _, n := range before {
		sum += n
	}
	if sum != jobs {
		t.Fatalf("copy %s: counts %v add up to %d, the outbox holds %d", path, before, sum, jobs)
	}
	if _, err := queue.Backlog(ctx, st.DB); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := enqueueErr(ctx, st.DB, q, eventJob(fmt.Sprintf("after-%d-%s", i, queue.NewKey()))); err != nil {
			t.Fatalf("enqueue on the copy: %v", err)
		}
	}
	w := queue.NewWorker(q, queue.Options{Kinds: stubKinds(), Idle: time.Millisecond})
	if _, err := w.Drain(ctx); err != nil {
		t.Fatalf("drain the copy: %v", err)
	}
	if c := counts(t, q); c[queue.Done] != jobs+5 || len(c) != 1 {
		t.Fatalf("copy %s: after the drain counts %v, want all %d done (was %v)", path, c, jobs+5, before)
	}
	wantIntegrity(t, st)
	t.Logf("copy %s: %d jobs (%v), reopened, enqueued and drained", filepath.Base(filepath.Dir(path)), jobs, before)
	return jobs
}
