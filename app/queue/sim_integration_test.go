package queue_test

// Tests of the queue and its worker through the real central simulator
// (drivers/jlis/sim), started in-process on loopback with mutual TLS: an
// outage and the recovery from it, each injected fault, and dead letters.
// The server's own records (its events and card transitions) are the count
// of effects: it must equal the number of distinct jobs.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"madoguchi/app/queue"
	"madoguchi/app/store"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/sim"
)

// terminalName is the common name of sim.Init's terminal certificate: the
// server files events under it ("terminal-01/<event id>").
const terminalName = "terminal-01"

// simRig is an in-process central simulator that can be stopped and
// started again on the same data directory and the same ports.
type simRig struct {
	tb      testing.TB
	ir      *sim.InitResult
	faults  sim.Faults
	addr    string // host:port of the API (fixed after the first start)
	pubAddr string // host:port of the public repository

	mu  sync.Mutex
	run *sim.Running

	client *jlis.Client
	logs   *logCounter // the server's and the client's log records
}

// logCounter counts log records by message: evidence that an injected
// fault really happened ("fault: dropped connection after commit",
// "replayed", "jlis: retrying").
type logCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[r.Message]++
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

func (l *logCounter) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[msg]
}

func startSim(tb testing.TB, f sim.Faults) *simRig {
	tb.Helper()
	dir := tb.TempDir()
	ir, err := sim.Init(dir)
	if err != nil {
		tb.Fatalf("sim.Init: %v", err)
	}
	r := &simRig{tb: tb, ir: ir, faults: f, addr: "127.0.0.1:0", pubAddr: "127.0.0.1:0", logs: &logCounter{n: map[string]int{}}}
	r.start()
	r.addr, r.pubAddr = hostPort(tb, r.run.URL), hostPort(tb, r.run.PublicURL)
	tb.Cleanup(func() { r.stop() })
	r.client, err = jlis.New(jlis.Config{BaseURL: r.run.URL, CertFile: ir.TerminalCert, KeyFile: ir.TerminalKey, CAFile: ir.RootCA, Timeout: 10 * time.Second, Log: slog.New(r.logs)})
	if err != nil {
		tb.Fatalf("jlis.New: %v", err)
	}
	tb.Cleanup(r.client.Close)
	return r
}

func hostPort(tb testing.TB, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u.Host
}

// start starts the server (again) on the rig's directory and ports. The
// port was just released by stop; the listener reuses it (SO_REUSEADDR),
// but allow a moment in case the kernel disagrees.
func (r *simRig) start() {
	r.tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.run != nil {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		run, err := sim.Start(context.Background(), sim.Options{Dir: r.ir.Dir, Addr: r.addr, PublicAddr: r.pubAddr, RateLimit: 1e9, Faults: r.faults, Log: slog.New(r.logs)})
		if err == nil {
			r.run = run
			return
		}
		if time.Now().After(deadline) {
			r.tb.Fatalf("sim.Start on %s: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop closes the server: its listeners and its database.
func (r *simRig) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.run != nil {
		if err := r.run.Close(); err != nil {
			r.tb.Logf("sim close: %v", err)
		}
		r.run = nil
	}
}

func (r *simRig) running() *sim.Running {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.run == nil {
		r.tb.Fatal("the simulator is stopped")
	}
	return r.run
}

func (r *simRig) setFaults(f sim.Faults) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = f
	if r.run != nil {
		r.run.SetFaults(f)
	}
}

// eventIDs are the server's events as "terminal/id".
func (r *simRig) eventIDs(ctx context.Context) []string {
	r.tb.Helper()
	ids, err := r.running().EventIDs(ctx)
	if err != nil {
		r.tb.Fatal(err)
	}
	return ids
}

// wantEvents checks that the server holds exactly one event per key.
func (r *simRig) wantEvents(ctx context.Context, keys []string) {
	r.tb.Helper()
	got := r.eventIDs(ctx)
	want := make([]string, len(keys))
	for i, k := range keys {
		want[i] = terminalName + "/" + k
	}
	sort.Strings(want)
	sort.Strings(got) // EventIDs orders by terminal, id already; be sure
	if !slices.Equal(got, want) {
		missing, extra := diff(want, got), diff(got, want)
		r.tb.Fatalf("server events: %d, want %d (missing %d: %.5q; unexpected %d: %.5q)", len(got), len(want), len(missing), missing, len(extra), extra)
	}
}

func (r *simRig) transitions(ctx context.Context, serial string) int {
	r.tb.Helper()
	n, err := r.running().Transitions(ctx, serial)
	if err != nil {
		r.tb.Fatal(err)
	}
	return n
}

// diff is a − b for sorted slices.
func diff(a, b []string) []string {
	in := map[string]bool{}
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

// openTerminal is the terminal's store and its queue.
func openTerminal(tb testing.TB) (*store.Store, *queue.Queue) {
	tb.Helper()
	st, err := store.Open(context.Background(), tb.TempDir()+"/m.db")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st, queue.New(st.DB, nil)
}

// eventJob is an event whose id is the job's idempotency key.
func eventJob(key string) queue.NewJob {
	return queue.NewJob{Kind: queue.KindEvent, IdempotencyKey: key,
		Payload: queue.Payload(api.Event{ID: key, Type: "test", At: time.Now().UTC(), Data: map[string]any{"n": 1}})}
}

// transitionJob changes a card's state, in order with the card's other
// jobs; suspensions go first among the cards (PrioritySuspension).
func transitionJob(serial string, to api.CardState) queue.NewJob {
	prio := queue.PriorityNormal
	if to == api.StateSuspended {
		prio = queue.PrioritySuspension
	}
	return queue.NewJob{Kind: queue.KindTransition, OrderingKey: serial, Priority: prio, IdempotencyKey: "t-" + queue.NewKey(),
		Payload: queue.Payload(queue.TransitionJob{Serial: serial, To: to, Reason: "test"})}
}

// enqueue commits a business row and its job in one transaction, as a
// procedure does.
func enqueue(tb testing.TB, st *store.Store, q *queue.Queue, j queue.NewJob) int64 {
	tb.Helper()
	ctx := context.Background()
	tx, err := st.DB.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, "job/"+j.IdempotencyKey, j.Kind); err != nil {
		tb.Fatal(err)
	}
	id, err := q.Enqueue(ctx, tx, j)
	if err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return id
}

// testOptions are the worker's options against the simulator with short
// waits; tweak adjusts them.
func testOptions(c *jlis.Client, tweak func(*queue.Options)) queue.Options {
	o := queue.Options{
		Kinds:       queue.CentralKinds(c),
		Probe:       func(ctx context.Context) error { _, err := c.Health(ctx); return err },
		BaseBackoff: 20 * time.Millisecond,
		MaxBackoff:  500 * time.Millisecond,
		ProbeMin:    20 * time.Millisecond,
		ProbeMax:    200 * time.Millisecond,
		Idle:        20 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&o)
	}
	return o
}

// runWorker runs w until the test ends.
func runWorker(tb testing.TB, w *queue.Worker) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			tb.Errorf("worker: %v", err)
		}
	})
}

// waitFor polls cond until it holds or d has passed.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	tb.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			tb.Fatalf("after %v: still waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func counts(tb testing.TB, q *queue.Queue) queue.Counts {
	tb.Helper()
	c, err := q.Count(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// waitDelivered waits until every one of n jobs is done, failing at once
// when one becomes a dead letter.
func waitDelivered(tb testing.TB, q *queue.Queue, n int, d time.Duration) {
	tb.Helper()
	waitFor(tb, d, fmt.Sprintf("%d jobs done", n), func() bool {
		c := counts(tb, q)
		if c[queue.Dead] > 0 {
			dead, _ := q.List(context.Background(), queue.Dead, 10)
			for _, j := range dead {
				tb.Errorf("dead letter %d (%s, attempts %d): %s", j.ID, j.Kind, j.Attempts, j.DeadReason)
			}
			tb.Fatalf("counts %v: a job became a dead letter", c)
		}
		return c[queue.Done] == n
	})
}

// TestSimOutageAndRecovery: the central system goes away with jobs queued
// and more are queued while it is away; the worker notices (offline),
// spends no attempts and loses nothing; the server comes back on the same
// address with the same data, the worker notices (online) and delivers
// every job exactly once.
func TestSimOutageAndRecovery(t *testing.T) {
	ctx := context.Background()
	rig := startSim(t, sim.Faults{})
	st, q := openTerminal(t)

	var keys []string
	add := func(n int) {
		for range n {
			k := "ev-" + queue.NewKey()
			keys = append(keys, k)
			enqueue(t, st, q, eventJob(k))
		}
	}
	add(40)
	rig.stop()

	w := queue.NewWorker(q, testOptions(rig.client, nil))
	runWorker(t, w)
	waitFor(t, 15*time.Second, "the worker to go offline", func() bool { return !w.Status().Online })
	if s := w.Status(); s.LastError == "" || !strings.Contains(s.LastError, "unreachable") {
		t.Errorf("offline status %+v: want the transport error as LastError", s)
	}
	add(20) // queued while the central system is away
	w.Kick()
	time.Sleep(300 * time.Millisecond) // several probes fail meanwhile

	c := counts(t, q)
	if c[queue.Pending]+c[queue.Inflight] != len(keys) || c[queue.Done] != 0 || c[queue.Dead] != 0 {
		t.Fatalf("while offline: counts %v, want all %d waiting", c, len(keys))
	}
	jobs, err := q.List(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Attempts != 0 {
			t.Errorf("job %d spent %d attempts while the central system was away (want 0: unavailability is not the job's fault)", j.ID, j.Attempts)
		}
	}
	if w.Status().Online {
		t.Fatal("worker came online while the server is down")
	}

	rig.start() // same directory, same port
	back := time.Now()
	noticed := waitFor(t, 10*time.Second, "the worker to notice the server is back", func() bool { return w.Status().Online })
	t.Logf("worker noticed the central system after %v (ProbeMax %v)", noticed.Round(time.Millisecond), 200*time.Millisecond)
	waitDelivered(t, q, len(keys), 15*time.Second)
	t.Logf("all %d jobs delivered %v after the restart", len(keys), time.Since(back).Round(time.Millisecond))
	rig.wantEvents(ctx, keys)
	if s := w.Status(); !s.Online || s.LastError != "" {
		t.Errorf("status after recovery %+v: want online, no error", s)
	}
}

// TestSimFaults runs a mix of event jobs and ordered card transitions
// through each injected fault. Afterwards the server's effects equal the
// distinct jobs: one event per event job, one transition per transition
// job, applied in the enqueued order (the card's history), and every job
// is done.
func TestSimFaults(t *testing.T) {
	cases := []struct {
		name     string
		f        sim.Faults
		evidence string // a log message the fault must have caused
	}{
		{"commit-then-drop", sim.Faults{DropAfterCommitRate: 0.5}, "fault: dropped connection after commit"},
		{"duplicates", sim.Faults{DuplicateRate: 1}, "replayed"},
		{"5xx", sim.Faults{ErrorRate: 0.5}, "jlis: retrying"},
		{"latency", sim.Faults{LatencyMs: 50}, ""},
		{"all-at-once", sim.Faults{DropAfterCommitRate: 0.3, DuplicateRate: 0.5, ErrorRate: 0.3, LatencyMs: 10}, "replayed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rig := runFaultCase(t, tc.f)
			if tc.evidence != "" && rig.logs.count(tc.evidence) == 0 {
				t.Errorf("no %q in the logs: the fault was not exercised", tc.evidence)
			}
			t.Logf("dropped after commit %d, replayed %d, client retries %d",
				rig.logs.count("fault: dropped connection after commit"), rig.logs.count("replayed"), rig.logs.count("jlis: retrying"))
		})
	}
}

func runFaultCase(t *testing.T, f sim.Faults) *simRig {
	ctx := context.Background()
	rig := startSim(t, f)
	st, q := openTerminal(t)
	cards := rig.ir.DemoCards
	if len(cards) < 3 {
		t.Fatalf("demo cards %v: want 3", cards)
	}
	// Card A goes back and forth: every step depends on the one before,
	// so a lost, repeated or reordered transition is refused and shows.
	// Suspensions carry PrioritySuspension: the order of one card's jobs
	// must still win over priority.
	var seqA []api.CardState
	for i := range 12 {
		seqA = append(seqA, []api.CardState{api.StateIssued, api.StateSuspended}[i%2])
	}
	seqB := []api.CardState{api.StateIssued, api.StateReturned}
	var evKeys []string
	total := 0
	// Each round is a few events and a transition: many small requests,
	// so that every fault hits some of them.
	enqueueRound := func(round int) {
		for i := range 5 {
			k := fmt.Sprintf("ev-%d-%d-%s", round, i, queue.NewKey())
			evKeys = append(evKeys, k)
			enqueue(t, st, q, eventJob(k))
			total++
		}
		enqueue(t, st, q, transitionJob(cards[0], seqA[round]))
		total++
		if round%6 == 0 {
			enqueue(t, st, q, transitionJob(cards[1], seqB[round/6]))
			total++
		}
	}
	enqueueRound(0) // queued before the worker starts
	enqueueRound(1)
	w := queue.NewWorker(q, testOptions(rig.client, nil))
	runWorker(t, w)
	for round := 2; round < len(seqA); round++ { // and while it runs
		enqueueRound(round)
		w.Kick()
		time.Sleep(20 * time.Millisecond)
	}
	if total != len(evKeys)+len(seqA)+len(seqB) {
		t.Fatalf("enqueued %d jobs, the plan has %d", total, len(evKeys)+len(seqA)+len(seqB))
	}
	waitDelivered(t, q, total, 90*time.Second)

	rig.wantEvents(ctx, evKeys)
	rig.setFaults(sim.Faults{}) // read the cards without faults
	for _, c := range []struct {
		serial string
		seq    []api.CardState
	}{{cards[0], seqA}, {cards[1], seqB}, {cards[2], nil}} {
		if n := rig.transitions(ctx, c.serial); n != len(c.seq) {
			t.Errorf("card %s: server recorded %d transitions, want %d (one per job)", c.serial, n, len(c.seq))
		}
		card, err := rig.client.Card(ctx, c.serial)
		if err != nil {
			t.Fatal(err)
		}
		var hist []api.CardState
		for _, h := range card.History {
			hist = append(hist, h.To)
		}
		if !slices.Equal(hist, c.seq) {
			t.Errorf("card %s: history %v, want %v (the enqueued order)", c.serial, hist, c.seq)
		}
		want := api.StateDelivered
		if len(c.seq) > 0 {
			want = c.seq[len(c.seq)-1]
		}
		if card.State != want {
			t.Errorf("card %s: state %s, want %s", c.serial, card.State, want)
		}
	}
	if c := counts(t, q); c[queue.Done] != total || len(c) != 1 {
		t.Errorf("counts %v: want all %d done and nothing else", c, total)
	}
	return rig
}

// TestSimRefusedTransitionIsDeadLetter: a transition the central system
// refuses cannot succeed by retrying: it becomes a dead letter with the
// refusal as its reason; a supervisor's retry and discard work and are
// recorded with who and why.
func TestSimRefusedTransitionIsDeadLetter(t *testing.T) {
	ctx := context.Background()
	rig := startSim(t, sim.Faults{})
	st, q := openTerminal(t)
	serial := rig.ir.DemoCards[2]
	id := enqueue(t, st, q, transitionJob(serial, api.StateExpired)) // delivered → expired: not allowed
	w := queue.NewWorker(q, testOptions(rig.client, nil))

	drain := func() {
		t.Helper()
		if _, err := w.Drain(ctx); err != nil {
			t.Fatalf("drain: %v", err)
		}
	}
	wantDead := func() {
		t.Helper()
		dead, err := q.List(ctx, queue.Dead, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) != 1 || dead[0].ID != id {
			t.Fatalf("dead letters %+v: want job %d", dead, id)
		}
		if j := dead[0]; !strings.Contains(j.DeadReason, api.CodeInvalidTransition) || j.Attempts != 1 {
			t.Errorf("dead letter %+v: want reason %q after one attempt", j, api.CodeInvalidTransition)
		}
	}
	drain()
	wantDead()
	if !w.Status().Online {
		t.Error("a refusal took the worker offline: the central system answered")
	}

	if err := q.Retry(ctx, id, ""); err == nil {
		t.Error("retry without an actor was accepted")
	}
	if err := q.Retry(ctx, id, "supervisor-a"); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, q); c[queue.Pending] != 1 || c[queue.Dead] != 0 {
		t.Fatalf("after retry: counts %v, want the job pending", c)
	}
	drain() // refused again: the card still cannot expire
	wantDead()

	if err := q.Discard(ctx, id, "supervisor-b", "card handed back at the counter"); err != nil {
		t.Fatal(err)
	}
	if err := q.Discard(ctx, id, "supervisor-b", "again"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("second discard: %v, want ErrNotFound", err)
	}
	if err := q.Retry(ctx, id, "supervisor-a"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("retry of a discarded job: %v, want ErrNotFound", err)
	}
	if c := counts(t, q); c[queue.Discarded] != 1 || len(c) != 1 {
		t.Errorf("counts %v: want the job discarded", c)
	}
	acts, err := q.Actions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 2 ||
		acts[0].JobID != id || acts[0].Action != "discard" || acts[0].Actor != "supervisor-b" || acts[0].Reason != "card handed back at the counter" ||
		acts[1].JobID != id || acts[1].Action != "retry" || acts[1].Actor != "supervisor-a" || acts[1].At.IsZero() {
		t.Errorf("actions %+v: want discard by supervisor-b, then (older) retry by supervisor-a", acts)
	}
	if n := rig.transitions(ctx, serial); n != 0 {
		t.Errorf("server recorded %d transitions for a refused change", n)
	}
	card, err := rig.client.Card(ctx, serial)
	if err != nil || card.State != api.StateDelivered {
		t.Errorf("card %s: %v, %v; want delivered", serial, card.State, err)
	}
}

// TestSimRetryOfRefusedJobAfterTheCauseIsFixed: a supervisor retries a
// dead letter after fixing what made the central system refuse it (here:
// a suspension refused while the card was not yet issued; the card has
// been issued since). The retry must reach the central system and
// succeed: under the old idempotency key the server would only replay its
// stored refusal.
func TestSimRetryOfRefusedJobAfterTheCauseIsFixed(t *testing.T) {
	ctx := context.Background()
	rig := startSim(t, sim.Faults{})
	st, q := openTerminal(t)
	serial := rig.ir.DemoCards[0]
	w := queue.NewWorker(q, testOptions(rig.client, nil))

	id := enqueue(t, st, q, transitionJob(serial, api.StateSuspended)) // delivered → suspended: refused
	if _, err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, q); c[queue.Dead] != 1 {
		t.Fatalf("counts %v: want the suspension dead", c)
	}
	enqueue(t, st, q, transitionJob(serial, api.StateIssued)) // the cause is fixed
	if _, err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Retry(ctx, id, "supervisor"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	card, err := rig.client.Card(ctx, serial)
	if err != nil {
		t.Fatal(err)
	}
	if c := counts(t, q); c[queue.Done] != 2 || card.State != api.StateSuspended {
		dead, _ := q.List(ctx, queue.Dead, 1)
		t.Errorf("after the supervisor's retry: counts %v, card %s, dead letters %+v; want both jobs done and the card suspended", c, card.State, dead)
	}
}

// TestDrainReturnsWithoutIdleWait: Drain on a queue with nothing due
// returns at once, not after the worker's idle poll interval (it used to
// wait Options.Idle at the end of every drain).
func TestDrainReturnsWithoutIdleWait(t *testing.T) {
	_, q := openTerminal(t)
	w := queue.NewWorker(q, queue.Options{Idle: 3 * time.Second,
		Kinds: map[string]queue.Kind{"x": {Handler: func(_ context.Context, jobs []queue.Job) []error { return make([]error, len(jobs)) }}}})
	start := time.Now()
	if _, err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Drain of an empty queue took %v (Options.Idle is 3 s)", d.Round(time.Millisecond))
	}
}

// TestSimRetryOfRefusedPersonalJob: as above with a job holding personal
// data, sealed with the job's idempotency key as additional data. The
// supervisor's retry must deliver it, and must not stop the rest of the
// queue.
func TestSimRetryOfRefusedPersonalJob(t *testing.T) {
	ctx := context.Background()
	rig := startSim(t, sim.Faults{})
	st, _ := openTerminal(t)
	keys, err := queue.LoadKeyring(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	q := queue.New(st.DB, keys)
	serial := rig.ir.DemoCards[0]
	w := queue.NewWorker(q, testOptions(rig.client, nil))

	job := transitionJob(serial, api.StateSuspended) // refused: the card is not issued yet
	job.Personal = true
	id := enqueue(t, st, q, job)
	if _, err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	enqueue(t, st, q, transitionJob(serial, api.StateIssued))
	if _, err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, q); c[queue.Dead] != 1 || c[queue.Done] != 1 {
		t.Fatalf("counts %v: want the refused suspension dead, the issue done", c)
	}
	if err := q.Retry(ctx, id, "supervisor"); err != nil {
		t.Fatal(err)
	}
	ev := "ev-" + queue.NewKey() // an unrelated job queued after the retry
	enqueue(t, st, q, eventJob(ev))
	if _, err := w.Drain(ctx); err != nil {
		t.Errorf("drain after retrying a refused personal job: %v", err)
	}
	if c := counts(t, q); c[queue.Done] != 3 {
		t.Errorf("counts %v: want all 3 jobs done", c)
	}
	if card, err := rig.client.Card(ctx, serial); err != nil || card.State != api.StateSuspended {
		t.Errorf("card %s: %v, %v; want suspended", serial, card.State, err)
	}
	if got := rig.eventIDs(ctx); len(got) != 1 {
		t.Errorf("server events %v: want the unrelated event delivered", got)
	}
}

// TestSimRefusedJobRetriedManyTimes: a supervisor may retry a refused job
// again and again (say each morning until the card's record is fixed).
// Each retry must still reach the central system and get its answer, not
// fail in the client because the job's idempotency key has outgrown what
// the API accepts (api.MaxIdempotencyKey).
func TestSimRefusedJobRetriedManyTimes(t *testing.T) {
	ctx := context.Background()
	rig := startSim(t, sim.Faults{})
	st, q := openTerminal(t)
	job := transitionJob(rig.ir.DemoCards[1], api.StateExpired) // delivered → expired: refused every time
	job.IdempotencyKey = queue.NewKey()                         // as procedures make them
	id := enqueue(t, st, q, job)
	w := queue.NewWorker(q, testOptions(rig.client, nil))
	for i := range 15 {
		if _, err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		dead, err := q.List(ctx, queue.Dead, 1)
		if err != nil || len(dead) != 1 {
			t.Fatalf("retry %d: dead letters %v, %v", i, dead, err)
		}
		if !strings.Contains(dead[0].DeadReason, api.CodeInvalidTransition) {
			t.Fatalf("after %d retries: dead reason %q (key %q, %d bytes), want the central system's refusal %q",
				i, dead[0].DeadReason, dead[0].IdempotencyKey, len(dead[0].IdempotencyKey), api.CodeInvalidTransition)
		}
		if err := q.Retry(ctx, id, "supervisor"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWorkerRecoversFromStoreErrorAfterDelivery: the store can fail a
// write for a moment (here: another writer holds the lock past the busy
// timeout, as a long burst of enqueues can). When that happens after a
// delivery, as the worker records it, the job must not stay "in flight"
// for the rest of the process's life (only Recover, at start, puts
// in-flight jobs back), holding up every later job of its ordering key.
func TestWorkerRecoversFromStoreErrorAfterDelivery(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The queue on its own handle with a short busy timeout, so that the
	// test does not wait store.Open's 5 s.
	qdb, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(100)&_pragma=synchronous(FULL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer qdb.Close()
	locker, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close()
	q := queue.New(qdb, nil)

	var once sync.Once
	release := make(chan struct{})
	handler := func(_ context.Context, jobs []queue.Job) []error {
		// While the first job is being delivered, someone else takes the
		// write lock and keeps it for 300 ms.
		once.Do(func() {
			locked := make(chan error)
			go func() {
				tx, err := locker.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
				locked <- err
				if err == nil {
					<-release
					tx.Rollback()
				}
			}()
			if err := <-locked; err != nil {
				t.Error(err)
			}
			time.AfterFunc(300*time.Millisecond, func() { close(release) })
		})
		return make([]error, len(jobs))
	}
	w := queue.NewWorker(q, queue.Options{Kinds: map[string]queue.Kind{"x": {Handler: handler}}, Idle: 10 * time.Millisecond})
	for i := range 2 {
		if _, err := q.EnqueueNow(ctx, queue.NewJob{Kind: "x", OrderingKey: "card-1", IdempotencyKey: fmt.Sprintf("k%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	runWorker(t, w)
	<-release
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := q.Count(ctx)
		if err == nil && c[queue.Done] == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("3 s after the lock was released: counts %v, %v; want both jobs done", c, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
