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
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
)

// PINResetInput is what the clerk and the citizen provide. The new PIN is
// wiped when the flow ends.
type PINResetInput struct {
	PIN    card.PINKind
	NewPIN secret.Value
	Lang   string // the citizen's language for the receipt
	Holder string // the name on the card face, for the receipt
}

// PINResetResult is what the result screen shows.
type PINResetResult struct {
	ProcedureID int64
	Receipt     receipt.Record
	TriesAfter  int
	APDUs       int
}

var receiptPIN = map[card.PINKind]receipt.PIN{
	card.PINAuth: receipt.PINAuth, card.PINSign: receipt.PINSignature,
	card.PINInputAssist: receipt.PINInputAssist, card.PINResident: receipt.PINResidents,
}

// PINReset sets a new PIN on a card whose PIN is forgotten or blocked
// (初期化), with the central system's authorisation, in one card session.
// The card c is open (identified) and stays in the reader throughout.
func (p Ports) PINReset(ctx context.Context, c *card.Card, in PINResetInput) (PINResetResult, error) {
	defer in.NewPIN.Wipe()
	started := p.now()
	spec, ok := c.Profile().PIN(in.PIN)
	if !ok || in.PIN == card.PUK {
		return PINResetResult{}, stop(StepChecks, fmt.Errorf("%w: %s", card.ErrNoSuchPIN, in.PIN))
	}
	if _, err := spec.Normalize(in.NewPIN); err != nil {
		return PINResetResult{}, stop(StepChecks, err)
	}
	// The central system must know the card as issued.
	rec, err := p.Central.Card(ctx, c.Serial())
	switch {
	case errors.Is(err, jlis.ErrUnreachable):
		return PINResetResult{}, stop(StepChecks, fmt.Errorf("%w: %v", ErrCentralDown, err))
	case err != nil:
		return PINResetResult{}, stop(StepChecks, err)
	case rec.State != api.StateIssued:
		return PINResetResult{}, stop(StepChecks, fmt.Errorf("the card is %s at the central system, not issued", rec.State))
	}
	// Challenge from the card, cryptogram from the central system.
	chal, err := c.Challenge(ctx, spec.AID)
	if err != nil {
		return PINResetResult{}, stop(StepCard, err)
	}
	auth, err := p.Central.Authorise(ctx, jlis.NewIdempotencyKey(), c.Serial(), api.AuthoriseRequest{
		Operation: api.OpResetPIN, Ref: spec.Ref, Challenge: chal})
	if err != nil {
		if errors.Is(err, jlis.ErrUnreachable) {
			err = fmt.Errorf("%w: %v", ErrCentralDown, err)
		}
		return PINResetResult{}, stop(StepAuthorise, err)
	}
	if err := c.Authorise(ctx, auth.Cryptogram); err != nil {
		return PINResetResult{}, stop(StepAuthorise, err)
	}
	if err := c.ResetPIN(ctx, in.PIN, in.NewPIN); err != nil {
		return PINResetResult{}, stop(StepCardWrite, err)
	}
	tries, err := c.Tries(ctx, in.PIN)
	if err != nil {
		return PINResetResult{}, stop(StepCardWrite, err)
	}
	// One transaction: the procedure record and the statistics event.
	detail, _ := json.Marshal(map[string]any{"pin": string(in.PIN), "profile": c.Profile().Name})
	finished := p.now()
	tx, err := p.Store.DB.BeginTx(ctx, nil)
	if err != nil {
		return PINResetResult{}, stop(StepRecord, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome, detail) VALUES ('pin_reset', ?, ?, ?, ?, 'ok', ?)`,
		c.Serial(), p.Terminal, started.UTC().Format("2006-01-02T15:04:05.000Z"), finished.UTC().Format("2006-01-02T15:04:05.000Z"), string(detail))
	if err != nil {
		return PINResetResult{}, stop(StepRecord, err)
	}
	id, _ := res.LastInsertId()
	key := queue.NewKey()
	ev := api.Event{ID: key, Type: "pin-reset", At: finished.UTC(), Data: map[string]any{"pin": string(in.PIN), "terminal": p.Terminal}}
	if _, err := p.Queue.Enqueue(ctx, tx, queue.NewJob{Kind: queue.KindEvent, IdempotencyKey: key, Payload: queue.Payload(ev)}); err != nil {
		return PINResetResult{}, stop(StepRecord, err)
	}
	if err := tx.Commit(); err != nil {
		return PINResetResult{}, stop(StepRecord, err)
	}
	// The receipt: stored first, then printed if a printer is set up.
	r, err := p.Receipts.Issue(ctx, receipt.Data{Procedure: receipt.PINReset, Lang: in.Lang,
		Details: receipt.Details{HolderName: in.Holder, CardLast4: last4(c.Serial()), PINs: []receipt.PIN{receiptPIN[in.PIN]}}})
	if err != nil {
		return PINResetResult{ProcedureID: id, TriesAfter: tries}, stop(StepReceipt, err)
	}
	if _, err := p.Store.DB.ExecContext(ctx, `UPDATE procedures SET receipt = ? WHERE id = ?`, r.Number, id); err != nil {
		return PINResetResult{ProcedureID: id, TriesAfter: tries}, stop(StepReceipt, err)
	}
	return PINResetResult{ProcedureID: id, Receipt: r, TriesAfter: tries, APDUs: c.APDUCount()}, nil
}
