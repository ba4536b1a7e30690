package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
)

// SuspendInput: a card reported lost (一時停止). No card is placed: the
// citizen does not have it.
type SuspendInput struct {
	Serial string
	Reason string // e.g. "lost", "stolen"
	Lang   string
	Holder string
}

// SuspendResult says whether the central system already took the
// suspension or it waits in the queue.
type SuspendResult struct {
	ProcedureID int64
	Receipt     receipt.Record
	JobID       int64
}

// Suspend records a suspension request and queues it at the highest
// priority, ordered with the card's other jobs: it is never lost, and it
// reaches the central system as soon as it can (domain.md §2). The
// receipt says when it is still queued.
func (p Ports) Suspend(ctx context.Context, in SuspendInput, online bool) (SuspendResult, error) {
	if in.Serial == "" {
		return SuspendResult{}, stop(StepChecks, errors.New("flow: which card? (serial)"))
	}
	if in.Reason == "" {
		in.Reason = "lost"
	}
	now := p.now().UTC().Format("2006-01-02T15:04:05.000Z")
	detail, _ := json.Marshal(map[string]any{"reason": in.Reason})
	tx, err := p.Store.DB.BeginTx(ctx, nil)
	if err != nil {
		return SuspendResult{}, stop(StepRecord, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome, detail) VALUES ('suspension', ?, ?, ?, ?, 'queued', ?)`,
		in.Serial, p.Terminal, now, now, string(detail))
	if err != nil {
		return SuspendResult{}, stop(StepRecord, err)
	}
	id, _ := res.LastInsertId()
	job, err := p.Queue.Enqueue(ctx, tx, queue.NewJob{Kind: queue.KindTransition, OrderingKey: in.Serial, Priority: queue.PrioritySuspension,
		Payload: queue.Payload(queue.TransitionJob{Serial: in.Serial, To: api.StateSuspended, Reason: in.Reason})})
	if err != nil {
		return SuspendResult{}, stop(StepRecord, err)
	}
	if err := tx.Commit(); err != nil {
		return SuspendResult{}, stop(StepRecord, err)
	}
	r, err := p.Receipts.Issue(ctx, receipt.Data{Procedure: receipt.Suspension, Lang: in.Lang,
		Details: receipt.Details{HolderName: in.Holder, CardLast4: SerialTail(in.Serial), Reference: fmt.Sprintf("S-%d", id), Queued: !online}})
	if err != nil {
		return SuspendResult{ProcedureID: id, JobID: job}, stop(StepReceipt, err)
	}
	if _, err := p.Store.DB.ExecContext(ctx, `UPDATE procedures SET receipt = ? WHERE id = ?`, r.Number, id); err != nil {
		return SuspendResult{ProcedureID: id, JobID: job}, stop(StepReceipt, err)
	}
	return SuspendResult{ProcedureID: id, Receipt: r, JobID: job}, nil
}

// ErrNotSuspended: there is no suspension to lift.
var ErrNotSuspended = errors.New("flow: the card is not suspended")

// Resume lifts a suspension (the card was found). It needs the central
// system now: the card must come back to use at once, and a queued lifting
// could overtake nothing useful.
func (p Ports) Resume(ctx context.Context, serial, lang, holder string) (receipt.Record, error) {
	cur, err := p.Central.Card(ctx, serial)
	switch {
	case errors.Is(err, jlis.ErrUnreachable):
		return receipt.Record{}, stop(StepChecks, fmt.Errorf("%w: %v", ErrCentralDown, err))
	case err != nil:
		return receipt.Record{}, stop(StepChecks, err)
	case cur.State != api.StateSuspended:
		return receipt.Record{}, stop(StepChecks, fmt.Errorf("%w: the card is %s", ErrNotSuspended, cur.State))
	}
	c, err := p.Central.Transition(ctx, jlis.NewIdempotencyKey(), serial, api.Transition{To: api.StateIssued, Reason: "found"})
	switch {
	case errors.Is(err, jlis.ErrUnreachable):
		return receipt.Record{}, stop(StepChecks, fmt.Errorf("%w: %v", ErrCentralDown, err))
	case err != nil:
		return receipt.Record{}, stop(StepAuthorise, err)
	}
	now := p.now().UTC().Format("2006-01-02T15:04:05.000Z")
	res, err := p.Store.DB.ExecContext(ctx, `INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome) VALUES ('suspension_lift', ?, ?, ?, ?, 'ok')`,
		c.Serial, p.Terminal, now, now)
	if err != nil {
		return receipt.Record{}, stop(StepRecord, err)
	}
	id, _ := res.LastInsertId()
	r, err := p.Receipts.Issue(ctx, receipt.Data{Procedure: receipt.SuspensionLift, Lang: lang,
		Details: receipt.Details{HolderName: holder, CardLast4: SerialTail(serial), Reference: fmt.Sprintf("L-%d", id)}})
	if err != nil {
		return receipt.Record{}, stop(StepReceipt, err)
	}
	_, err = p.Store.DB.ExecContext(ctx, `UPDATE procedures SET receipt = ? WHERE id = ?`, r.Number, id)
	return r, err
}
