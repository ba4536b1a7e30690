package queue_test

// The crash test: a child process (this test binary again, running
// TestCrashChild) enqueues jobs with their business rows and delivers
// them to the central simulator at the same time; the parent kills it with
// SIGKILL at a random moment, over and over, then drains what is left and
// proves that no job was lost and no effect was duplicated.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"madoguchi/app/queue"
	"madoguchi/app/store"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/sim"
)

// Environment of the child process.
const (
	envCrashDB    = "MADOGUCHI_CRASH_DB"
	envCrashURL   = "MADOGUCHI_CRASH_URL"
	envCrashCert  = "MADOGUCHI_CRASH_CERT"
	envCrashKey   = "MADOGUCHI_CRASH_KEY"
	envCrashCA    = "MADOGUCHI_CRASH_CA"
	envCrashCards = "MADOGUCHI_CRASH_CARDS" // comma-separated serials
	crashReady    = "CRASH-CHILD-READY"
)

// crashTrials is how many times the child is killed (at least 50;
// MADOGUCHI_CRASH_TRIALS raises it).
func crashTrials() int {
	if n, err := strconv.Atoi(os.Getenv("MADOGUCHI_CRASH_TRIALS")); err == nil && n > 50 {
		return n
	}
	return 50
}

// nextState is the card state change the child asks for next: a card goes
// from delivered to issued, then suspended and issued again in turn.
func nextState(cur api.CardState) api.CardState {
	if cur == api.StateIssued {
		return api.StateSuspended
	}
	return api.StateIssued
}

// TestCrashChild is the process the crash test kills. It does nothing
// unless the parent set its environment.
func TestCrashChild(t *testing.T) {
	dbPath := os.Getenv(envCrashDB)
	if dbPath == "" {
		t.Skip("run by TestCrashNoJobLostNoEffectDuplicated in a child process")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	client, err := jlis.New(jlis.Config{BaseURL: os.Getenv(envCrashURL), CertFile: os.Getenv(envCrashCert),
		KeyFile: os.Getenv(envCrashKey), CAFile: os.Getenv(envCrashCA), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cards := strings.Split(os.Getenv(envCrashCards), ",")
	q := queue.New(st.DB, nil)
	w := queue.NewWorker(q, testOptions(client, nil))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	workerErr := make(chan error, 1)
	go func() { workerErr <- w.Run(runCtx) }()
	fmt.Println(crashReady)

	run := queue.NewKey()[:10] // this process's prefix: keys stay unique across trials
	// The parent kills within a second; stop on our own in case it is gone.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case err := <-workerErr:
			t.Fatalf("worker stopped: %v", err)
		default:
		}
		key := fmt.Sprintf("c-%s-%d", run, i)
		tx, err := st.DB.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var job queue.NewJob
		if i%10 == 9 {
			// A card procedure: the card's state in the terminal's record
			// and the transition for the central system, together.
			serial := cards[(i/10)%len(cards)]
			var cur string
			err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, "card/"+serial).Scan(&cur)
			if errors.Is(err, sql.ErrNoRows) {
				cur = string(api.StateDelivered)
			} else if err != nil {
				t.Fatal(err)
			}
			to := nextState(api.CardState(cur))
			if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, "card/"+serial, string(to)); err != nil {
				t.Fatal(err)
			}
			job = transitionJob(serial, to)
			job.IdempotencyKey = key
		} else {
			job = eventJob(key)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, "job/"+key, job.Kind); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Enqueue(ctx, tx, job); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		w.Kick()
		// A counter's pace, faster than any counter: the worker keeps up
		// with it, so kills land in the middle of deliveries as well as of
		// enqueues.
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
	}
	t.Fatal("the crash child was not killed")
}

// TestCrashNoJobLostNoEffectDuplicated kills the child with SIGKILL at a
// random moment 50–400 ms after it started enqueueing and delivering, at
// least 50 times, then drains the queue and checks:
//   - every job is done (none lost in the queue, none dead);
//   - every business row has exactly one job and every job its business
//     row (the outbox is atomic);
//   - the server holds exactly one event per event job, and per card
//     exactly one transition per transition job, in the enqueued order,
//     ending in the state the terminal recorded (a transition sent twice
//     under a new key would be refused and become a dead letter; one lost
//     would make the next refused);
//   - PRAGMA integrity_check is ok.
//
// The child runs the same binary, so under -race it is race-checked too
// (slower to start, which the readiness handshake absorbs).
func TestCrashNoJobLostNoEffectDuplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: -short")
	}
	ctx := context.Background()
	rig := startSim(t, sim.Faults{DuplicateRate: 0.2, DropAfterCommitRate: 0.2})
	dbPath := t.TempDir() + "/m.db"
	st, err := store.Open(ctx, dbPath) // created and migrated once, before the trials
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	env := append(os.Environ(),
		envCrashDB+"="+dbPath, envCrashURL+"="+rig.running().URL,
		envCrashCert+"="+rig.ir.TerminalCert, envCrashKey+"="+rig.ir.TerminalKey, envCrashCA+"="+rig.ir.RootCA,
		envCrashCards+"="+strings.Join(rig.ir.DemoCards, ","))
	trials := crashTrials()
	start := time.Now()
	var inflightSeen, checks int
	for i := range trials {
		out := runAndKill(t, env, time.Duration(50+rand.IntN(351))*time.Millisecond)
		if t.Failed() {
			t.Fatalf("trial %d: child output:\n%s", i, out)
		}
		if i%10 == 9 {
			// The state a crash left, before any recovery by the queue.
			n := checkCrashState(t, dbPath)
			inflightSeen += n
			checks++
		}
	}
	t.Logf("%d trials in %v; jobs left in flight by the kill at %d checks: %d; server replays (faults and redeliveries after a kill): %d",
		trials, time.Since(start).Round(time.Millisecond), checks, inflightSeen, rig.logs.count("replayed"))

	// Drain what the children left, without faults.
	rig.setFaults(sim.Faults{})
	st, err = store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.New(st.DB, nil)
	w := queue.NewWorker(q, testOptions(rig.client, nil))
	before := counts(t, q)
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := w.Drain(ctx)
		c := counts(t, q)
		if c[queue.Pending]+c[queue.Inflight] == 0 {
			t.Logf("left by the last child: %v; the final drain delivered %d", before, n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drain: %v; counts %v", err, c)
		}
		time.Sleep(50 * time.Millisecond)
	}
	verifyCrashOutcome(t, rig, st)
}

// runAndKill starts the child, waits until it is enqueueing, lets it run
// for d and kills it with SIGKILL. It returns the child's output.
func runAndKill(t *testing.T, env []string, d time.Duration) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.v")
	cmd.Env = env
	out := &syncBuffer{}
	cmd.Stderr = out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			fmt.Fprintln(out, sc.Text())
			if !signalled && sc.Text() == crashReady {
				close(ready)
				signalled = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
	case <-copied:
		cmd.Wait()
		t.Errorf("the child ended before it was ready")
		return out.String()
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-copied
		cmd.Wait()
		t.Errorf("the child did not become ready")
		return out.String()
	}
	time.Sleep(d)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("kill: %v", err)
	}
	<-copied
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Errorf("child: %v", err)
	} else if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the child ended by itself (%v) before it was killed", err)
	}
	return out.String()
}

// syncBuffer collects the child's stdout and stderr from two goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkCrashState opens the database a kill left (before the queue
// recovers anything) and checks its integrity and the atomic outbox. It
// returns the number of jobs the kill left in flight.
func checkCrashState(t *testing.T, path string) int {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wantIntegrity(t, st)
	wantAtomicOutbox(t, st)
	c := counts(t, queue.New(st.DB, nil))
	if c[queue.Dead] != 0 {
		t.Fatalf("after a crash: counts %v: a dead letter", c)
	}
	return c[queue.Inflight]
}

func wantIntegrity(t testing.TB, st *store.Store) {
	t.Helper()
	rows, err := st.DB.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		t.Fatalf("integrity_check: %q", msgs)
	}
}

// wantAtomicOutbox: every business row "job/<key>" has exactly one job
// with that idempotency key and kind, and every job its business row.
func wantAtomicOutbox(t testing.TB, st *store.Store) (jobs int) {
	t.Helper()
	var orphanRows, orphanJobs int
	err := st.DB.QueryRow(`SELECT
		  (SELECT count(*) FROM meta m WHERE m.key LIKE 'job/%' AND NOT EXISTS (
		      SELECT 1 FROM outbox o WHERE o.idempotency_key = substr(m.key, 5) AND o.kind = m.value)),
		  (SELECT count(*) FROM outbox o WHERE NOT EXISTS (
		      SELECT 1 FROM meta m WHERE m.key = 'job/' || o.idempotency_key)),
		  (SELECT count(*) FROM outbox)`).Scan(&orphanRows, &orphanJobs, &jobs)
	if err != nil {
		t.Fatal(err)
	}
	if orphanRows != 0 || orphanJobs != 0 {
		t.Fatalf("outbox not atomic: %d business rows without their job, %d jobs without their business row (of %d jobs)", orphanRows, orphanJobs, jobs)
	}
	return jobs
}

// verifyCrashOutcome compares the drained terminal with the server.
func verifyCrashOutcome(t *testing.T, rig *simRig, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	wantIntegrity(t, st)
	total := wantAtomicOutbox(t, st)
	q := queue.New(st.DB, nil)
	if c := counts(t, q); c[queue.Done] != total || len(c) != 1 {
		dead, _ := q.List(ctx, queue.Dead, 5)
		t.Fatalf("counts %v: want all %d jobs done (dead letters: %+v)", c, total, dead)
	}

	rows, err := st.DB.Query(`SELECT idempotency_key, kind, ordering_key, payload FROM outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var events []string
	perCard := map[string][]api.CardState{}
	for rows.Next() {
		var key, kind, ordering string
		var payload []byte
		if err := rows.Scan(&key, &kind, &ordering, &payload); err != nil {
			t.Fatal(err)
		}
		switch kind {
		case queue.KindEvent:
			events = append(events, key)
		case queue.KindTransition:
			var tj queue.TransitionJob
			if err := json.Unmarshal(payload, &tj); err != nil || tj.Serial != ordering {
				t.Fatalf("transition job %s: %v, %+v", key, err, tj)
			}
			perCard[tj.Serial] = append(perCard[tj.Serial], tj.To)
		default:
			t.Fatalf("job %s of kind %q", key, kind)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rig.wantEvents(ctx, events)
	transitions := 0
	for _, serial := range rig.ir.DemoCards {
		seq := perCard[serial]
		transitions += len(seq)
		if n := rig.transitions(ctx, serial); n != len(seq) {
			t.Errorf("card %s: server recorded %d transitions, the terminal enqueued %d", serial, n, len(seq))
		}
		card, err := rig.client.Card(ctx, serial)
		if err != nil {
			t.Fatal(err)
		}
		var hist []api.CardState
		for _, h := range card.History {
			hist = append(hist, h.To)
		}
		if !slices.Equal(hist, seq) {
			t.Errorf("card %s: server history %v, want the enqueued order %v", serial, hist, seq)
		}
		var recorded string
		if err := st.DB.QueryRow(`SELECT value FROM meta WHERE key = ?`, "card/"+serial).Scan(&recorded); err != nil {
			recorded = string(api.StateDelivered)
		}
		if string(card.State) != recorded {
			t.Errorf("card %s: server state %s, the terminal recorded %s", serial, card.State, recorded)
		}
	}
	t.Logf("%d jobs enqueued across the trials (%d events, %d card transitions): all delivered exactly once", total, len(events), transitions)
}
