package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Handler delivers jobs of one kind: one job, or a batch of up to
// Kind.Batch. It returns one error per job, nil when delivered. Wrap an
// error with Permanent when retrying cannot help (it goes to the dead
// letters) and with Unavailable when the central system is not there (the
// job waits without spending an attempt, and the circuit counts it).
type Handler func(ctx context.Context, jobs []Job) []error

// Kind is how jobs of one kind are delivered.
type Kind struct {
	Handler Handler
	Batch   int // most jobs per call; 0 or 1: one at a time
}

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

type unavailableError struct{ error }

func (e unavailableError) Unwrap() error { return e.error }

// Permanent marks an error retrying cannot fix.
func Permanent(err error) error { return permanentError{err} }

// Unavailable marks an error that means the central system is down.
func Unavailable(err error) error { return unavailableError{err} }

// Options configure a Worker.
type Options struct {
	Kinds map[string]Kind
	// Probe checks that the central system is back (a health call).
	Probe func(ctx context.Context) error
	// Concurrency is how many deliveries run at once (default 4).
	Concurrency int
	// BaseBackoff and MaxBackoff bound the wait before retrying a failed
	// job: Base·2^attempts with ±50 % jitter (defaults 1 s and 5 min).
	BaseBackoff, MaxBackoff time.Duration
	// MaxAttempts makes a job a dead letter (default 30).
	MaxAttempts int
	// TripAfter consecutive unavailable answers open the circuit (default 3).
	TripAfter int
	// ProbeMin and ProbeMax bound the probing interval while offline
	// (defaults 250 ms and 5 s, doubling).
	ProbeMin, ProbeMax time.Duration
	// Idle is the poll interval when nothing is due (default 1 s); Kick
	// wakes the worker sooner.
	Idle time.Duration
	// Heartbeat: with nothing to deliver, the worker probes the central
	// system this often, so the screen knows it is offline before a job
	// fails (default 10 s).
	Heartbeat time.Duration
	Log       *slog.Logger
}

// Status is the worker's state for the UI and the CLI.
type Status struct {
	Online    bool      `json:"online"`
	Paused    bool      `json:"paused"`
	Since     time.Time `json:"since"` // when Online last changed
	LastError string    `json:"lastError,omitempty"`
}

// Worker delivers the queue to the central system.
type Worker struct {
	q    *Queue
	o    Options
	kick chan struct{}

	mu       sync.Mutex
	status   Status
	failures int // consecutive unavailable answers
	resume   chan struct{}
	contact  time.Time // last answer from the central system
}

// NewWorker makes a worker; it starts online.
func NewWorker(q *Queue, o Options) *Worker {
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 30
	}
	if o.TripAfter <= 0 {
		o.TripAfter = 3
	}
	if o.ProbeMin <= 0 {
		o.ProbeMin = 250 * time.Millisecond
	}
	if o.ProbeMax <= 0 {
		o.ProbeMax = 5 * time.Second
	}
	if o.Idle <= 0 {
		o.Idle = time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 10 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Worker{q: q, o: o, kick: make(chan struct{}, 1), status: Status{Online: true, Since: q.now()}}
}

// Status reports the worker's state.
func (w *Worker) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status
}

// Pause stops deliveries after the ones under way; Resume restarts them.
func (w *Worker) Pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.status.Paused {
		w.status.Paused = true
		w.resume = make(chan struct{})
	}
}

// Resume restarts deliveries.
func (w *Worker) Resume() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status.Paused {
		w.status.Paused = false
		close(w.resume)
	}
	w.Kick()
}

// Kick wakes the worker (call after enqueueing).
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Worker) setOnline(on bool, lastErr string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.status.Online != on {
		w.status.Online, w.status.Since = on, w.q.now()
		w.o.Log.Info("central system", "online", on)
	}
	if lastErr != "" || on {
		w.status.LastError = lastErr
	}
	if on {
		w.failures = 0
		w.contact = w.q.now()
	}
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	if _, err := w.q.Recover(ctx); err != nil {
		return err
	}
	w.heartbeat(ctx) // know the state before the first job
	recoverPending := false
	for ctx.Err() == nil {
		if recoverPending {
			// An outcome may not have been recorded: this worker is the
			// only one delivering, so whatever is "in flight" now is not.
			if _, err := w.q.Recover(ctx); err != nil {
				w.o.Log.Error("queue worker: recover", "err", err)
				w.sleep(ctx, w.o.Idle)
				continue
			}
			recoverPending = false
		}
		if _, err := w.step(ctx, true); err != nil && ctx.Err() == nil {
			w.o.Log.Error("queue worker", "err", err)
			recoverPending = true
			w.sleep(ctx, w.o.Idle)
		}
	}
	return nil
}

// Drain delivers until no job is due, the circuit opens, or ctx ends.
// It returns the number delivered.
func (w *Worker) Drain(ctx context.Context) (int, error) {
	if _, err := w.q.Recover(ctx); err != nil {
		return 0, err
	}
	total := 0
	for {
		if !w.Status().Online {
			return total, errors.New("queue: the central system is unreachable")
		}
		n, err := w.step(ctx, false)
		total += n
		if err != nil {
			return total, err
		}
		if n == 0 {
			due, err := w.dueCount(ctx)
			if err != nil || due == 0 {
				return total, err
			}
		}
	}
}

func (w *Worker) dueCount(ctx context.Context) (int, error) {
	var n int
	err := w.q.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?`, ts(w.q.now())).Scan(&n)
	return n, err
}

// step waits if paused or offline, then claims and delivers one round;
// with idle set it also waits when nothing is due (Run), without it
// returns at once (Drain).
func (w *Worker) step(ctx context.Context, idle bool) (int, error) {
	w.mu.Lock()
	paused, resume := w.status.Paused, w.resume
	w.mu.Unlock()
	if paused {
		select {
		case <-resume:
		case <-ctx.Done():
		}
		return 0, nil
	}
	if !w.Status().Online {
		w.probe(ctx)
		return 0, nil
	}
	maxBatch := 1
	for _, k := range w.o.Kinds {
		maxBatch = max(maxBatch, k.Batch)
	}
	jobs, err := w.q.claim(ctx, w.o.Concurrency*maxBatch)
	if err != nil {
		return 0, err
	}
	if len(jobs) == 0 {
		if !idle {
			return 0, nil
		}
		w.mu.Lock()
		stale := w.q.now().Sub(w.contact) >= w.o.Heartbeat
		w.mu.Unlock()
		if stale {
			w.heartbeat(ctx)
		}
		select {
		case <-w.kick:
		case <-time.After(w.o.Idle):
		case <-ctx.Done():
		}
		return 0, nil
	}
	return w.deliver(ctx, jobs)
}

// heartbeat asks the central system once: an answer keeps the worker
// online, no answer takes it offline at once (and step then probes until
// it is back).
func (w *Worker) heartbeat(ctx context.Context) {
	if w.o.Probe == nil {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := w.o.Probe(pctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		w.setOnline(false, err.Error())
		return
	}
	w.setOnline(true, "")
}

// probe waits with a growing interval until the central system answers.
func (w *Worker) probe(ctx context.Context) {
	wait := w.o.ProbeMin
	for ctx.Err() == nil {
		if w.o.Probe == nil {
			w.setOnline(true, "")
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := w.o.Probe(pctx)
		cancel()
		if err == nil {
			w.setOnline(true, "")
			w.Kick()
			return
		}
		w.sleep(ctx, wait)
		wait = min(2*wait, w.o.ProbeMax)
	}
}

func (w *Worker) sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

// deliver sends claimed jobs grouped by kind in batches, Concurrency at
// once, and records each outcome.
func (w *Worker) deliver(ctx context.Context, jobs []Job) (int, error) {
	byKind := map[string][]Job{}
	var order []string
	for _, j := range jobs {
		if _, ok := byKind[j.Kind]; !ok {
			order = append(order, j.Kind)
		}
		byKind[j.Kind] = append(byKind[j.Kind], j)
	}
	type batch struct {
		kind Kind
		jobs []Job
	}
	var batches []batch
	for _, name := range order {
		k, ok := w.o.Kinds[name]
		js := byKind[name]
		if !ok {
			for _, j := range js {
				if err := w.q.fail(ctx, j.ID, fmt.Sprintf("no handler for job kind %q", name), true, false, w.q.now()); err != nil {
					return 0, err
				}
			}
			continue
		}
		size := max(k.Batch, 1)
		for i := 0; i < len(js); i += size {
			batches = append(batches, batch{kind: k, jobs: js[i:min(i+size, len(js))]})
		}
	}
	results := make([][]error, len(batches))
	sem := make(chan struct{}, w.o.Concurrency)
	var wg sync.WaitGroup
	for i, b := range batches {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs := b.kind.Handler(ctx, b.jobs)
			if len(errs) != len(b.jobs) {
				errs = make([]error, len(b.jobs))
				for k := range errs {
					errs[k] = Permanent(errors.New("handler answered the wrong number of results"))
				}
			}
			results[i] = errs
		}()
	}
	wg.Wait()
	delivered := 0
	var done []int64
	for i, b := range batches {
		for k, j := range b.jobs {
			err := results[i][k]
			switch {
			case err == nil:
				done = append(done, j.ID)
				delivered++
			case errors.As(err, new(unavailableError)) || ctx.Err() != nil:
				w.unavailable(err)
				if e := w.q.release(context.WithoutCancel(ctx), j.ID); e != nil {
					return delivered, e
				}
			case errors.As(err, new(permanentError)):
				w.o.Log.Warn("job failed permanently", "job", j.ID, "kind", j.Kind, "err", err)
				if e := w.q.fail(ctx, j.ID, err.Error(), true, true, w.q.now()); e != nil {
					return delivered, e
				}
			default:
				dead := j.Attempts+1 >= w.o.MaxAttempts
				msg := err.Error()
				if dead {
					msg = fmt.Sprintf("gave up after %d attempts: %v", j.Attempts+1, err)
				}
				if e := w.q.fail(ctx, j.ID, msg, dead, false, w.q.now().Add(w.backoff(j.Attempts))); e != nil {
					return delivered, e
				}
			}
		}
	}
	if len(done) > 0 {
		w.setOnline(true, "")
	}
	return delivered, w.q.complete(context.WithoutCancel(ctx), done...)
}

func (w *Worker) unavailable(err error) {
	w.mu.Lock()
	w.failures++
	trip := w.failures >= w.o.TripAfter
	w.mu.Unlock()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if trip {
		w.setOnline(false, msg)
	} else {
		w.mu.Lock()
		w.status.LastError = msg
		w.mu.Unlock()
	}
}

// backoff is Base·2^attempts capped at Max, with ±50 % jitter.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.o.BaseBackoff << min(attempts, 20)
	if d <= 0 || d > w.o.MaxBackoff {
		d = w.o.MaxBackoff
	}
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}
