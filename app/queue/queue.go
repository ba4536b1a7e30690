// Package queue is Madoguchi's durable job queue for the central system:
// an outbox in the terminal's SQLite store (synchronous=FULL). A job is
// enqueued in the same transaction as the business record that caused it,
// so both exist or neither; a sync worker delivers jobs with their
// idempotency keys, in order per ordering key (one card's jobs one after
// another), by priority (a lost card's suspension first), with backoff,
// batching and a circuit that notices the central system going away and
// coming back. Jobs that cannot succeed become dead letters with their
// reason, for a supervisor to retry or discard (both recorded).
package queue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Stats is the backlog shown on every status screen.
type Stats struct {
	Pending int `json:"pending"` // waiting or being delivered
	Dead    int `json:"dead"`    // failed permanently; a supervisor decides
}

// Backlog counts the outbox by state.
func Backlog(ctx context.Context, db *sql.DB) (Stats, error) {
	var s Stats
	err := db.QueryRowContext(ctx, `
		SELECT
		  coalesce(sum(state IN ('pending', 'inflight')), 0),
		  coalesce(sum(state = 'dead'), 0)
		FROM outbox`).Scan(&s.Pending, &s.Dead)
	if err != nil {
		return Stats{}, fmt.Errorf("queue backlog: %w", err)
	}
	return s, nil
}

// Priorities. Higher goes first.
const (
	PriorityNormal     = 0
	PriorityHigh       = 50
	PrioritySuspension = 100 // a lost card's suspension must never wait
)

// State of a job.
type State string

// Job states.
const (
	Pending   State = "pending"
	Inflight  State = "inflight"
	Done      State = "done"
	Dead      State = "dead"
	Discarded State = "discarded"
)

// NewJob is what a procedure enqueues.
type NewJob struct {
	Kind        string // names the Handler that delivers it
	OrderingKey string // jobs with the same key are delivered in order ("" = no order)
	Priority    int
	Payload     []byte
	// Personal marks payloads holding personal data: they are stored
	// encrypted (AES-GCM).
	Personal bool
	// IdempotencyKey is sent with the request; empty: a random one.
	IdempotencyKey string
}

// Job is a queued job.
type Job struct {
	// openErr is set when the payload does not decrypt; claim turns such
	// a job into a dead letter instead of stopping the queue.
	openErr        error
	ID             int64     `json:"id"`
	Kind           string    `json:"kind"`
	IdempotencyKey string    `json:"idempotencyKey"`
	OrderingKey    string    `json:"orderingKey"`
	Priority       int       `json:"priority"`
	Payload        []byte    `json:"-"`
	Encrypted      bool      `json:"encrypted"`
	State          State     `json:"state"`
	Attempts       int       `json:"attempts"`
	NextAttemptAt  time.Time `json:"nextAttemptAt"`
	LastError      string    `json:"lastError,omitempty"`
	DeadReason     string    `json:"deadReason,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
}

// Queue is the outbox.
type Queue struct {
	db   *sql.DB
	keys *Keyring
	now  func() time.Time
}

// New makes a queue over the store's database. keys may be nil when no
// job holds personal data.
func New(db *sql.DB, keys *Keyring) *Queue { return &Queue{db: db, keys: keys, now: time.Now} }

// ErrNoKeys: a personal payload without a keyring.
var ErrNoKeys = errors.New("queue: personal data needs the encryption keyring")

// ErrNotFound: no such job (or not in a state that allows the action).
var ErrNotFound = errors.New("queue: no such job in that state")

// ts writes times like the schema's defaults (strftime %f: milliseconds),
// so that comparisons as strings agree.
func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func parseTS(s string) time.Time {
	for _, layout := range []string{"2006-01-02T15:04:05.000000Z", "2006-01-02T15:04:05.000Z", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// NewKey is a random idempotency key: 128 bits, base32.
func NewKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return strings.TrimRight(base32.StdEncoding.EncodeToString(b), "=")
}

// Execer is *sql.Tx (or *sql.DB): Enqueue joins the caller's transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Enqueue adds a job inside the caller's transaction: commit the business
// record and the job together, or neither.
func (q *Queue) Enqueue(ctx context.Context, tx Execer, j NewJob) (int64, error) {
	if j.Kind == "" {
		return 0, errors.New("queue: job without a kind")
	}
	if j.IdempotencyKey == "" {
		j.IdempotencyKey = NewKey()
	}
	payload, keyID := j.Payload, ""
	if j.Personal {
		if q.keys == nil {
			return 0, ErrNoKeys
		}
		var err error
		if keyID, payload, err = q.keys.Seal(j.Payload, []byte(j.IdempotencyKey)); err != nil {
			return 0, fmt.Errorf("queue: seal: %w", err)
		}
	}
	if payload == nil {
		payload = []byte{}
	}
	now := ts(q.now())
	res, err := tx.ExecContext(ctx, `INSERT INTO outbox (idempotency_key, kind, ordering_key, priority, payload, key_id, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, j.IdempotencyKey, j.Kind, j.OrderingKey, j.Priority, payload, keyID, now, now, now)
	if err != nil {
		return 0, fmt.Errorf("queue: enqueue %s: %w", j.Kind, err)
	}
	return res.LastInsertId()
}

// EnqueueNow enqueues in a transaction of its own.
func (q *Queue) EnqueueNow(ctx context.Context, j NewJob) (int64, error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	id, err := q.Enqueue(ctx, tx, j)
	if err != nil {
		return 0, err
	}
	return id, tx.Commit()
}

const jobColumns = `id, kind, idempotency_key, ordering_key, priority, payload, key_id, state, attempts, next_attempt_at, last_error, dead_reason, created_at`

func (q *Queue) scan(rows *sql.Rows, decrypt bool) ([]Job, error) {
	defer rows.Close()
	var out []Job
	for rows.Next() {
		var j Job
		var keyID, next, created string
		if err := rows.Scan(&j.ID, &j.Kind, &j.IdempotencyKey, &j.OrderingKey, &j.Priority, &j.Payload, &keyID, &j.State, &j.Attempts, &next, &j.LastError, &j.DeadReason, &created); err != nil {
			return nil, err
		}
		j.NextAttemptAt, j.CreatedAt, j.Encrypted = parseTS(next), parseTS(created), keyID != ""
		if decrypt && keyID != "" {
			if q.keys == nil {
				return nil, ErrNoKeys
			}
			plain, err := q.keys.Open(keyID, j.Payload, []byte(j.IdempotencyKey))
			if err != nil {
				j.openErr = fmt.Errorf("job %d: %w", j.ID, err)
			} else {
				j.Payload = plain
			}
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// List returns jobs in a state (all when state is ""), newest first,
// without their payloads.
func (q *Queue) List(ctx context.Context, state State, limit int) ([]Job, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := q.db.QueryContext(ctx, `SELECT `+jobColumns+` FROM outbox WHERE (? = '' OR state = ?) ORDER BY id DESC LIMIT ?`, state, state, limit)
	if err != nil {
		return nil, err
	}
	jobs, err := q.scan(rows, false)
	for i := range jobs {
		jobs[i].Payload = nil
	}
	return jobs, err
}

// Counts is the number of jobs per state.
type Counts map[State]int

// Count counts jobs per state.
func (q *Queue) Count(ctx context.Context) (Counts, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT state, count(*) FROM outbox GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	c := Counts{}
	for rows.Next() {
		var s State
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		c[s] = n
	}
	return c, rows.Err()
}

// Recover puts jobs left in flight by a crash back in the queue. Their
// requests may have reached the central system: the idempotency key makes
// the redelivery harmless.
func (q *Queue) Recover(ctx context.Context) (int64, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE outbox SET state = 'pending', updated_at = ? WHERE state = 'inflight'`, ts(q.now()))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// claim takes up to n due jobs of the given kinds: highest priority first,
// and of each ordering key only the oldest undelivered job.
func (q *Queue) claim(ctx context.Context, n int) ([]Job, error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+jobColumns+` FROM outbox o
		WHERE o.state = 'pending' AND o.next_attempt_at <= ?
		  AND (o.ordering_key = '' OR NOT EXISTS (
		        SELECT 1 FROM outbox p WHERE p.ordering_key = o.ordering_key
		          AND p.state IN ('pending', 'inflight') AND p.id < o.id))
		ORDER BY o.priority DESC, o.id LIMIT ?`, ts(q.now()), n)
	if err != nil {
		return nil, err
	}
	jobs, err := q.scan(rows, true)
	if err != nil {
		return nil, err
	}
	ok := jobs[:0]
	for _, j := range jobs {
		if j.openErr != nil {
			// One payload that cannot be read must not stop the others.
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'dead', dead_reason = ?, last_error = ?, updated_at = ? WHERE id = ?`,
				j.openErr.Error(), j.openErr.Error(), ts(q.now()), j.ID); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'inflight', updated_at = ? WHERE id = ?`, ts(q.now()), j.ID); err != nil {
			return nil, err
		}
		ok = append(ok, j)
	}
	return ok, tx.Commit()
}

// complete marks delivered jobs done.
func (q *Queue) complete(ctx context.Context, ids ...int64) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, id := range ids {
		// A delivered job keeps no personal data: its sealed payload goes.
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET state = 'done', last_error = '', updated_at = ?,
			payload = CASE WHEN key_id != '' THEN x'' ELSE payload END, key_id = ''
			WHERE id = ? AND state = 'inflight'`, ts(q.now()), id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// release puts a job back without counting an attempt (paused, or the
// central system went away before it was sent).
func (q *Queue) release(ctx context.Context, ids ...int64) error {
	for _, id := range ids {
		if _, err := q.db.ExecContext(ctx, `UPDATE outbox SET state = 'pending', updated_at = ? WHERE id = ? AND state = 'inflight'`, ts(q.now()), id); err != nil {
			return err
		}
	}
	return nil
}

// fail records a failed attempt: back to pending at next, or dead.
// refused says the central system refused it (no effect took place).
func (q *Queue) fail(ctx context.Context, id int64, msg string, dead, refused bool, next time.Time) error {
	state, reason := Pending, ""
	if dead {
		state, reason = Dead, msg
	}
	_, err := q.db.ExecContext(ctx, `UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt_at = ?, last_error = ?, dead_reason = ?, refused = ?, updated_at = ?
		WHERE id = ? AND state = 'inflight'`, state, ts(next), msg, reason, refused, ts(q.now()), id)
	return err
}

// Retry gives a dead letter another chance (a supervisor's decision,
// recorded with who and why). A job the central system refused took no
// effect there, and its key now stands for the refusal (the server replays
// it): it is sent again under a fresh idempotency key, its sealed payload
// re-sealed for the new key. A job that died of failures whose outcome is
// unknown keeps its key, so that an effect that did happen is not repeated.
func (q *Queue) Retry(ctx context.Context, id int64, actor string) error {
	if actor == "" {
		return errors.New("queue: an action needs the actor's name")
	}
	var refused bool
	var oldKey, keyID string
	var payload []byte
	err := q.db.QueryRowContext(ctx, `SELECT refused, idempotency_key, key_id, payload FROM outbox WHERE id = ? AND state = 'dead'`, id).
		Scan(&refused, &oldKey, &keyID, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if err != nil {
		return err
	}
	if payload == nil {
		payload = []byte{}
	}
	newKey := oldKey
	if refused {
		newKey = NewKey()
		if keyID != "" {
			if q.keys == nil {
				return ErrNoKeys
			}
			plain, err := q.keys.Open(keyID, payload, []byte(oldKey))
			if err != nil {
				return err
			}
			keyID, payload, err = q.keys.Seal(plain, []byte(newKey))
			clear(plain)
			if err != nil {
				return err
			}
		}
	}
	return q.act(ctx, id, actor, "retry", "", `UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, dead_reason = '',
		idempotency_key = ?, key_id = ?, payload = ?, refused = 0, updated_at = ? WHERE id = ? AND state = 'dead'`, newKey, keyID, payload)
}

// Discard gives up a dead or pending job (a supervisor's decision,
// recorded with who and why).
func (q *Queue) Discard(ctx context.Context, id int64, actor, reason string) error {
	return q.act(ctx, id, actor, "discard", reason, `UPDATE outbox SET state = 'discarded', next_attempt_at = ?, updated_at = ? WHERE id = ? AND state IN ('dead', 'pending')`)
}

// act runs update (whose parameters are: now, then extra..., then now and
// id — see the callers) and records the action, in one transaction.
func (q *Queue) act(ctx context.Context, id int64, actor, action, reason, update string, extra ...any) error {
	if actor == "" {
		return errors.New("queue: an action needs the actor's name")
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := ts(q.now())
	args := append(append([]any{now}, extra...), now, id)
	res, err := tx.ExecContext(ctx, update, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %d", ErrNotFound, id)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO queue_actions (job_id, action, actor, reason, at) VALUES (?, ?, ?, ?, ?)`, id, action, actor, reason, now); err != nil {
		return err
	}
	return tx.Commit()
}

// Action is a recorded supervisor action.
type Action struct {
	JobID  int64     `json:"jobId"`
	Action string    `json:"action"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Actions lists the recorded actions, newest first.
func (q *Queue) Actions(ctx context.Context) ([]Action, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT job_id, action, actor, reason, at FROM queue_actions ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Action
	for rows.Next() {
		var a Action
		var at string
		if err := rows.Scan(&a.JobID, &a.Action, &a.Actor, &a.Reason, &at); err != nil {
			return nil, err
		}
		a.At = parseTS(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Reencrypt moves every undelivered encrypted payload to the current key
// (after Keyring.Rotate); then Keyring.Prune can drop the old keys.
func (q *Queue) Reencrypt(ctx context.Context) (int, error) {
	if q.keys == nil {
		return 0, ErrNoKeys
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+jobColumns+` FROM outbox WHERE key_id != '' AND key_id != ?`, q.keys.Current)
	if err != nil {
		return 0, err
	}
	jobs, err := q.scan(rows, true)
	if err != nil {
		return 0, err
	}
	for _, j := range jobs {
		if j.openErr != nil {
			return 0, j.openErr
		}
		id, sealed, err := q.keys.Seal(j.Payload, []byte(j.IdempotencyKey))
		clear(j.Payload)
		if err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET payload = ?, key_id = ? WHERE id = ?`, sealed, id, j.ID); err != nil {
			return 0, err
		}
	}
	return len(jobs), tx.Commit()
}

// KeysInUse lists the key ids some stored payload needs.
func (q *Queue) KeysInUse(ctx context.Context) (map[string]bool, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT DISTINCT key_id FROM outbox WHERE key_id != ''`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	used := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		used[id] = true
	}
	return used, rows.Err()
}

// RotateKey makes a new current key, re-encrypts every stored personal
// payload with it and drops the keys nothing uses any more. A crash in
// between is safe: the old keys stay in the keyring until the re-encryption
// has committed.
func (q *Queue) RotateKey(ctx context.Context) (newID string, reencrypted int, pruned []string, err error) {
	if q.keys == nil {
		return "", 0, nil, ErrNoKeys
	}
	if newID, err = q.keys.Rotate(); err != nil {
		return "", 0, nil, err
	}
	if reencrypted, err = q.Reencrypt(ctx); err != nil {
		return newID, 0, nil, err
	}
	used, err := q.KeysInUse(ctx)
	if err != nil {
		return newID, reencrypted, nil, err
	}
	pruned, err = q.keys.Prune(used)
	return newID, reencrypted, pruned, err
}
