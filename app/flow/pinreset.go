package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"madoguchi/app/identity"
	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis/api"
)

// PINResetInput is what the clerk and the citizen provide. The new PIN is
// wiped when the flow ends.
type PINResetInput struct {
	PIN    card.PINKind
	NewPIN secret.Value
	Lang   string // the citizen's language for the receipt
	Holder string // the name on the card face, for the receipt
	// Visit is the identity step as the clerk recorded it.
	Visit identity.Visit
}

// PINResetResult is what the result screen shows.
type PINResetResult struct {
	ProcedureID int64
	Receipt     receipt.Record
	TriesAfter  int
	APDUs       int
	Expiry      Expiry
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
	rec, err := p.issuedRecord(ctx, c.Serial())
	if err != nil {
		return PINResetResult{}, err
	}
	if _, err := p.identify(ctx, in.Visit, identity.ProcPINReset, rec.Holder.BirthDate); err != nil {
		return PINResetResult{}, err
	}
	if in.Holder == "" {
		in.Holder = rec.Holder.Name
	}
	// Challenge from the card, cryptogram from the central system.
	if err := p.authorise(ctx, c, spec.AID, api.OpResetPIN, spec.Ref, nil); err != nil {
		return PINResetResult{}, err
	}
	if err := p.step(ctx, StepCardWrite); err != nil {
		return PINResetResult{}, err
	}
	if err := c.ResetPIN(ctx, in.PIN, in.NewPIN); err != nil {
		return PINResetResult{}, stop(StepCardWrite, err)
	}
	tries, err := c.Tries(ctx, in.PIN)
	if err != nil {
		return PINResetResult{}, stop(StepCardWrite, err)
	}
	// One transaction: the procedure record and the statistics event.
	var auth time.Time
	if ac, err := c.AuthCertificate(ctx); err == nil {
		auth = ac.NotAfter
	}
	ex := NewExpiry(c.Profile(), CardExpiry(rec.CardExpiry), auth, latest(rec.Certificates, "sign"), p.now())
	detail, _ := json.Marshal(map[string]any{"pin": string(in.PIN), "profile": c.Profile().Name, "expiry": expiryDetail(ex)})
	finished := p.now()
	if err := p.step(ctx, StepRecord); err != nil {
		return PINResetResult{}, err
	}
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
	rp := receiptPIN[in.PIN]
	if c.Profile() == card.Next {
		rp = map[card.PINKind]receipt.PIN{card.PINAuth: receipt.PINShort, card.PINSign: receipt.PINLong}[in.PIN]
	}
	r, err := p.receipt(ctx, id, receipt.Data{Procedure: receipt.PINReset, Lang: in.Lang,
		Details: receipt.Details{HolderName: in.Holder, CardLast4: SerialTail(c.Serial()), CardExpiry: ex.Card, PINs: []receipt.PIN{rp}}})
	if err != nil {
		return PINResetResult{ProcedureID: id, TriesAfter: tries}, err
	}
	return PINResetResult{ProcedureID: id, Receipt: r, TriesAfter: tries, APDUs: c.APDUCount(), Expiry: ex}, nil
}
