package flow

import (
	"context"
	"errors"
	"fmt"

	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/drivers/jlis/api"
)

// ReturnInput: a card handed back (返納), e.g. on moving abroad or after a
// holder's death; the clerk collects it.
type ReturnInput struct {
	Serial string
	Lang   string
	Holder string
}

// Return records the return and queues the card's transition to
// "returned" (which revokes its certificates at the central system); it
// works offline (domain.md §2).
func (p Ports) Return(ctx context.Context, in ReturnInput) (SuspendResult, error) {
	if in.Serial == "" {
		return SuspendResult{}, stop(StepChecks, errors.New("flow: which card? (serial)"))
	}
	now := p.now().UTC().Format("2006-01-02T15:04:05.000Z")
	tx, err := p.Store.DB.BeginTx(ctx, nil)
	if err != nil {
		return SuspendResult{}, stop(StepRecord, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome) VALUES ('return', ?, ?, ?, ?, 'queued')`,
		in.Serial, p.Terminal, now, now)
	if err != nil {
		return SuspendResult{}, stop(StepRecord, err)
	}
	id, _ := res.LastInsertId()
	job, err := p.Queue.Enqueue(ctx, tx, queue.NewJob{Kind: queue.KindTransition, OrderingKey: in.Serial, Priority: queue.PriorityHigh,
		Payload: queue.Payload(queue.TransitionJob{Serial: in.Serial, To: api.StateReturned, Reason: "returned at the counter"})})
	if err != nil {
		return SuspendResult{}, stop(StepRecord, err)
	}
	if err := tx.Commit(); err != nil {
		return SuspendResult{}, stop(StepRecord, err)
	}
	r, err := p.Receipts.Issue(ctx, receipt.Data{Procedure: receipt.Return, Lang: in.Lang,
		Details: receipt.Details{HolderName: in.Holder, CardLast4: SerialTail(in.Serial), Reference: fmt.Sprintf("R-%d", id), Queued: true}})
	if err != nil {
		return SuspendResult{ProcedureID: id, JobID: job}, stop(StepReceipt, err)
	}
	_, err = p.Store.DB.ExecContext(ctx, `UPDATE procedures SET receipt = ? WHERE id = ?`, r.Number, id)
	return SuspendResult{ProcedureID: id, Receipt: r, JobID: job}, err
}
