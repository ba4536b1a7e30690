package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis/api"
)

// PUKUnlockInput is what the citizen enters: the PUK and the new 4-digit
// PIN (both wiped when the flow ends).
type PUKUnlockInput struct {
	PUK    secret.Value
	NewPIN secret.Value
	Lang   string
	Holder string
}

// PUKUnlockResult is what the result screen shows.
type PUKUnlockResult struct {
	ProcedureID int64
	Receipt     receipt.Record
	APDUs       int
}

// PUKUnlock unlocks the next-generation card's 4-digit PIN with the PUK
// and sets a new one. The card needs no central authorisation (the PUK is
// the holder's proof); the statistics event queues, so it works offline
// (domain.md §2).
func (p Ports) PUKUnlock(ctx context.Context, c *card.Card, in PUKUnlockInput) (PUKUnlockResult, error) {
	defer in.PUK.Wipe()
	defer in.NewPIN.Wipe()
	started := p.now()
	if !c.Profile().HasPUK {
		return PUKUnlockResult{}, stop(StepChecks, fmt.Errorf("%w: %s", card.ErrNoSuchPIN, card.PUK))
	}
	if err := c.UnblockWithPUK(ctx, in.PUK, in.NewPIN); err != nil {
		var we *card.WrongPINError
		if errors.As(err, &we) || errors.Is(err, card.ErrBlocked) {
			return PUKUnlockResult{}, stop(StepCardWrite, err)
		}
		return PUKUnlockResult{}, stop(StepCard, err)
	}
	finished := p.now()
	detail, _ := json.Marshal(map[string]any{"profile": c.Profile().Name})
	tx, err := p.Store.DB.BeginTx(ctx, nil)
	if err != nil {
		return PUKUnlockResult{}, stop(StepRecord, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome, detail) VALUES ('puk_unlock', ?, ?, ?, ?, 'ok', ?)`,
		c.Serial(), p.Terminal, started.UTC().Format("2006-01-02T15:04:05.000Z"), finished.UTC().Format("2006-01-02T15:04:05.000Z"), string(detail))
	if err != nil {
		return PUKUnlockResult{}, stop(StepRecord, err)
	}
	id, _ := res.LastInsertId()
	key := queue.NewKey()
	ev := api.Event{ID: key, Type: "puk-unlock", At: finished.UTC(), Data: map[string]any{"terminal": p.Terminal}}
	if _, err := p.Queue.Enqueue(ctx, tx, queue.NewJob{Kind: queue.KindEvent, IdempotencyKey: key, Payload: queue.Payload(ev)}); err != nil {
		return PUKUnlockResult{}, stop(StepRecord, err)
	}
	if err := tx.Commit(); err != nil {
		return PUKUnlockResult{}, stop(StepRecord, err)
	}
	r, err := p.receipt(ctx, id, receipt.Data{Procedure: receipt.PUKUnlock, Lang: in.Lang,
		Details: receipt.Details{HolderName: in.Holder, CardLast4: SerialTail(c.Serial()), PINs: []receipt.PIN{receipt.PINShort}, Queued: true}})
	if err != nil {
		return PUKUnlockResult{ProcedureID: id}, err
	}
	return PUKUnlockResult{ProcedureID: id, Receipt: r, APDUs: c.APDUCount()}, nil
}

// SerialTail is the last four characters of a card serial: all that
// receipts, the audit trail and the screens show of it.
func SerialTail(serial string) string {
	if len(serial) > 4 {
		return serial[len(serial)-4:]
	}
	return serial
}
