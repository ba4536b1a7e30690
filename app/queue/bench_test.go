package queue_test

// Benchmarks of the queue (docs/BENCHMARKS.md): durable enqueue latency,
// draining 10,000 jobs into the central simulator on loopback, and how
// long the worker takes to notice that the central system is back.

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"madoguchi/app/queue"
	"madoguchi/drivers/jlis/sim"
)

// percentile of sorted durations, in milliseconds.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(p*float64(len(sorted))), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// BenchmarkEnqueueDurable: one op is one procedure's commit — a business
// row and its job in one transaction — on a file on disk with
// synchronous=FULL (store.Open), so each commit waits for fsync.
//
// "alone": nothing else writes. "worker-draining-backlog": the worker
// delivers a backlog of 10,000 events (an outage's worth) into the
// in-process simulator meanwhile, and its claims and completions (a
// transaction for up to 2,000 jobs each) compete for SQLite's single write
// lock; the enqueues come 0–2 ms apart (the pauses are not timed), as a
// counter's do, not back to back: a loop that re-takes the write lock at
// once after each commit starves the worker, whose transactions then wait
// in SQLite's busy handler (this is what a back-to-back loop measured: 3,000
// enqueues, 0 deliveries).
func BenchmarkEnqueueDurable(b *testing.B) {
	b.Run("alone", func(b *testing.B) { benchEnqueue(b, false) })
	b.Run("worker-draining-backlog", func(b *testing.B) { benchEnqueue(b, true) })
}

func benchEnqueue(b *testing.B, withWorker bool) {
	ctx := context.Background()
	st, q := openTerminal(b)
	var syncMode, journal string
	if err := st.DB.QueryRow(`PRAGMA synchronous`).Scan(&syncMode); err != nil {
		b.Fatal(err)
	}
	if err := st.DB.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil {
		b.Fatal(err)
	}
	if syncMode != "2" || journal != "wal" {
		b.Fatalf("synchronous=%s journal_mode=%s: want 2 (FULL) and wal", syncMode, journal)
	}
	const backlog = 10000
	if withWorker {
		enqueueMany(b, st.DB, q, backlog, "backlog")
		rig := startSim(b, sim.Faults{})
		w := queue.NewWorker(q, queue.Options{Kinds: queue.CentralKinds(rig.client),
			Probe: func(ctx context.Context) error { _, err := rig.client.Health(ctx); return err }})
		runWorker(b, w)
	}
	run := queue.NewKey()[:8]
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		if withWorker {
			b.StopTimer()
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			b.StartTimer()
		}
		key := fmt.Sprintf("b-%s-%d", run, i)
		start := time.Now()
		tx, err := st.DB.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, "job/"+key, queue.KindEvent); err != nil {
			b.Fatal(err)
		}
		if _, err := q.Enqueue(ctx, tx, eventJob(key)); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(percentile(lat, 0.50), "ms-p50")
	b.ReportMetric(percentile(lat, 0.99), "ms-p99")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "ms-max")
	if withWorker {
		c := counts(b, q)
		b.Logf("%d enqueued; meanwhile the worker delivered %d of the %d-job backlog and the new jobs", b.N, c[queue.Done], backlog)
	}
}

// enqueueMany queues n events with their business rows in one
// transaction.
func enqueueMany(tb testing.TB, db *sql.DB, q *queue.Queue, n int, prefix string) []string {
	tb.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	keys := make([]string, n)
	for k := range n {
		keys[k] = fmt.Sprintf("%s-%d-%s", prefix, k, queue.NewKey())
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, "job/"+keys[k], queue.KindEvent); err != nil {
			tb.Fatal(err)
		}
		if _, err := q.Enqueue(ctx, tx, eventJob(keys[k])); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return keys
}

// BenchmarkDrain10000: 10,000 event jobs queued (before the timer), then
// one Drain with the worker's default options into the in-process
// simulator on loopback, rate limit off. "s-drain" is Drain's whole time;
// "s-delivered" ends when the last batch was accepted (Drain then still
// waits for nothing to be due).
func BenchmarkDrain10000(b *testing.B) {
	const jobs = 10000
	ctx := context.Background()
	rig := startSim(b, sim.Faults{})
	st, q := openTerminal(b)
	kinds := queue.CentralKinds(rig.client)
	var mu sync.Mutex
	var lastAccepted time.Time
	ev := kinds[queue.KindEvent]
	inner := ev.Handler
	ev.Handler = func(ctx context.Context, js []queue.Job) []error {
		errs := inner(ctx, js)
		mu.Lock()
		lastAccepted = time.Now()
		mu.Unlock()
		return errs
	}
	kinds[queue.KindEvent] = ev
	w := queue.NewWorker(q, queue.Options{Kinds: kinds,
		Probe: func(ctx context.Context) error { _, err := rig.client.Health(ctx); return err }})

	var drain, delivered time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		enqueueMany(b, st.DB, q, jobs, fmt.Sprintf("d%d", i))
		before := len(rig.eventIDs(ctx))
		b.StartTimer()
		start := time.Now()
		n, err := w.Drain(ctx)
		d := time.Since(start)
		b.StopTimer()
		if err != nil || n != jobs {
			b.Fatalf("drain: %d delivered, %v; want %d", n, err, jobs)
		}
		if got := len(rig.eventIDs(ctx)) - before; got != jobs {
			b.Fatalf("server took %d events, want %d", got, jobs)
		}
		if c := counts(b, q); c[queue.Done] != jobs*(i+1) || len(c) != 1 {
			b.Fatalf("counts %v", c)
		}
		drain += d
		mu.Lock()
		delivered += lastAccepted.Sub(start)
		mu.Unlock()
	}
	b.ReportMetric(drain.Seconds()/float64(b.N), "s-drain")
	b.ReportMetric(delivered.Seconds()/float64(b.N), "s-delivered")
	b.ReportMetric(float64(jobs*b.N)/drain.Seconds(), "jobs/s")
}

// BenchmarkRecoveryDetection: the server stops with jobs queued; the
// worker (default ProbeMin and ProbeMax: 250 ms doubling to 5 s, per
// Options) goes offline; after the outage the server starts again on the
// same address and data, and the op is the time until Status().Online.
// One sub-benchmark per outage length: where the restart falls in the
// probing schedule decides the figure. Each probe is a Health call, which
// the client itself retries (three attempts, 200 ms and 400 ms apart)
// while the server is down; the log shows the waits between probes.
func BenchmarkRecoveryDetection(b *testing.B) {
	for _, outage := range []time.Duration{time.Second, 4 * time.Second, 12 * time.Second} {
		b.Run(fmt.Sprintf("outage=%v", outage), func(b *testing.B) { benchRecovery(b, outage) })
	}
}

func benchRecovery(b *testing.B, outage time.Duration) {
	rig := startSim(b, sim.Faults{})
	st, q := openTerminal(b)
	type probe struct{ start, end time.Time }
	var mu sync.Mutex
	var probes []probe
	w := queue.NewWorker(q, queue.Options{Kinds: queue.CentralKinds(rig.client),
		Probe: func(ctx context.Context) error {
			start := time.Now()
			_, err := rig.client.Health(ctx)
			mu.Lock()
			probes = append(probes, probe{start, time.Now()})
			mu.Unlock()
			return err
		}})
	runWorker(b, w)
	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		rig.stop()
		stopped := time.Now()
		for k := range 3 { // three jobs, one failed batch: the circuit opens
			enqueue(b, st, q, eventJob(fmt.Sprintf("r-%d-%d-%s", i, k, queue.NewKey())))
		}
		w.Kick()
		waitFor(b, 30*time.Second, "the worker to go offline", func() bool { return !w.Status().Online })
		offline := time.Now()
		mu.Lock()
		probes = nil
		mu.Unlock()
		time.Sleep(outage)
		rig.start()
		back := time.Now()
		b.StartTimer()
		for !w.Status().Online {
			time.Sleep(time.Millisecond)
		}
		d := time.Since(back)
		b.StopTimer()
		total += d
		mu.Lock()
		var waits, took []string
		for k, p := range probes {
			took = append(took, p.end.Sub(p.start).Round(10*time.Millisecond).String())
			if k > 0 {
				waits = append(waits, p.start.Sub(probes[k-1].end).Round(10*time.Millisecond).String())
			}
		}
		mu.Unlock()
		b.Logf("outage %v (offline %v after the stop): noticed %v after the restart; probes since offline took %v, waits between them %v",
			outage, offline.Sub(stopped).Round(time.Millisecond), d.Round(time.Millisecond), took, waits)
		waitDelivered(b, q, 3*(i+1), 30*time.Second)
	}
	b.ReportMetric(float64(total)/float64(b.N)/float64(time.Millisecond), "ms-to-online")
}
