package flow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
)

// ReservedResetInput is what the citizen enters at the kiosk: which PIN
// to reset, the OTHER PIN as proof, and the new one (both wiped when the
// flow ends).
type ReservedResetInput struct {
	// PIN is the one to reset: card.PINSign (the signature password) or
	// card.PINAuth (the auth PIN; on the next generation the 4-digit PIN).
	PIN card.PINKind
	// Proof is the other of the two: the auth PIN when the signature
	// password is reset, the signature password when the auth PIN is.
	Proof  secret.Value
	NewPIN secret.Value
	Lang   string // the citizen's language for the receipt
}

// ErrNoReservation: the central system holds no open reservation for this
// card and PIN (none made, used already, or expired): the citizen does
// the remote face check on their smartphone first, or goes to the
// counter.
var ErrNoReservation = errors.New("flow: no open reservation for a kiosk reset of this PIN")

// reservationPIN is the central system's name of a PIN a reservation may
// reset, and proofPIN the other PIN that proves the holder.
var (
	reservationPIN = map[card.PINKind]string{card.PINSign: api.ReservationPINSign, card.PINAuth: api.ReservationPINAuth}
	proofPIN       = map[card.PINKind]card.PINKind{card.PINSign: card.PINAuth, card.PINAuth: card.PINSign}
)

// ReservedReset resets the signature password or the auth PIN at an
// unattended kiosk (domain.md §1, §2): the citizen did a remote face
// check on their smartphone beforehand, so the central system holds a
// reservation for this card and PIN; at the kiosk the card and the OTHER
// PIN prove the holder. Steps: checks (the card record is issued, an open
// reservation, the new PIN's format) → pins (VERIFY of the other PIN; a
// wrong one stops here with the card's *card.WrongPINError and nothing
// else happens) → authorise (reset-pin with the reservation, which the
// central system uses up when it grants the authorisation) → card-write
// (RESET RETRY COUNTER) → record → receipt.
//
// Resuming: the reservation is used only when the authorisation is
// granted. A stop before that leaves it open and the same flow run again
// finishes; a stop after it (the card pulled before RESET RETRY COUNTER)
// leaves it used, and a run again stops at checks with ErrNoReservation:
// the citizen needs a new reservation (docs/PROCEDURES.md, Kiosk
// procedures).
func (p Ports) ReservedReset(ctx context.Context, c *card.Card, in ReservedResetInput) (Result, error) {
	defer in.Proof.Wipe()
	defer in.NewPIN.Wipe()
	started := p.now()
	prof := c.Profile()
	other, ok := proofPIN[in.PIN]
	if !ok {
		return Result{}, stop(StepChecks, fmt.Errorf("%w: a kiosk reset is for the signature password or the auth PIN, not %s", card.ErrNoSuchPIN, in.PIN))
	}
	spec, ok := prof.PIN(in.PIN)
	if !ok {
		return Result{}, stop(StepChecks, fmt.Errorf("%w: %s", card.ErrNoSuchPIN, in.PIN))
	}
	otherSpec, ok := prof.PIN(other)
	if !ok {
		return Result{}, stop(StepChecks, fmt.Errorf("%w: %s", card.ErrNoSuchPIN, other))
	}
	// The formats (the normalised copies are not needed: the card
	// driver normalises again).
	for _, f := range []struct {
		spec card.PINSpec
		v    secret.Value
	}{{spec, in.NewPIN}, {otherSpec, in.Proof}} {
		n, err := f.spec.Normalize(f.v)
		n.Wipe()
		if err != nil {
			return Result{}, stop(StepChecks, err)
		}
	}
	// The central record and the reservation.
	if err := p.step(ctx, StepChecks); err != nil {
		return Result{}, err
	}
	rec, err := p.Central.Card(ctx, c.Serial())
	switch {
	case err != nil:
		return Result{}, stop(StepChecks, central(err))
	case rec.State != api.StateIssued:
		return Result{}, stop(StepChecks, fmt.Errorf("%w: the card is %s at the central system, not issued", ErrWrongState, rec.State))
	}
	rs, err := p.Central.Reservations(ctx, c.Serial())
	if err != nil {
		return Result{}, stop(StepChecks, central(err))
	}
	var rv api.Reservation
	for _, r := range rs { // the newest open one for this PIN
		if r.PIN == reservationPIN[in.PIN] && r.State == api.ReservationOpen && !r.CreatedAt.Before(rv.CreatedAt) {
			rv = r
		}
	}
	if rv.ID == "" {
		return Result{}, stop(StepChecks, ErrNoReservation)
	}
	// The other PIN proves the holder before anything is written.
	if err := p.step(ctx, StepPINs); err != nil {
		return Result{}, err
	}
	if err := c.Verify(ctx, other, in.Proof); err != nil {
		return Result{}, stop(StepPINs, err)
	}
	// Challenge from the card, cryptogram from the central system, which
	// uses the reservation up in the same transaction.
	if err := p.step(ctx, StepAuthorise); err != nil {
		return Result{}, err
	}
	chal, err := c.Challenge(ctx, spec.AID)
	if err != nil {
		return Result{}, stop(StepAuthorise, err)
	}
	auth, err := p.Central.Authorise(ctx, jlis.NewIdempotencyKey(), c.Serial(),
		api.AuthoriseRequest{Operation: api.OpResetPIN, Ref: spec.Ref, Challenge: chal, Reservation: rv.ID})
	if err != nil {
		if jlis.Code(err) == api.CodeReservationInvalid {
			err = fmt.Errorf("%w: %w", ErrNoReservation, err)
		}
		return Result{}, stop(StepAuthorise, central(err))
	}
	if err := c.Authorise(ctx, auth.Cryptogram); err != nil {
		return Result{}, stop(StepAuthorise, err)
	}
	if err := p.step(ctx, StepCardWrite); err != nil {
		return Result{}, err
	}
	if err := c.ResetPIN(ctx, in.PIN, in.NewPIN); err != nil {
		return Result{}, stop(StepCardWrite, err)
	}
	// One transaction: the procedure record and the statistics event.
	data := map[string]any{"pin": string(in.PIN), "profile": prof.Name}
	id, err := p.record(ctx, "reserved_reset", c.Serial(), started, "ok", data,
		p.event("reserved-reset", map[string]any{"pin": string(in.PIN), "profile": prof.Name}))
	if err != nil {
		return Result{}, err
	}
	res := Result{ProcedureID: id, APDUs: c.APDUCount(), PINEntries: 2}
	res.Expiry = NewExpiry(prof, CardExpiry(rec.CardExpiry), cardAuthExpiry(ctx, c), latest(rec.Certificates, "sign"), p.now())
	r, err := p.receipt(ctx, id, receipt.Data{Procedure: receipt.ReservedReset, Lang: in.Lang, Details: receipt.Details{
		HolderName: rec.Holder.Name, CardLast4: SerialTail(c.Serial()), CardExpiry: res.Expiry.Card, PINs: []receipt.PIN{receiptPINOf(prof, in.PIN)}}})
	res.Receipt = r
	return res, err
}

// cardAuthExpiry is the end of the auth certificate on the card (free to
// read), zero when there is none or the card cannot be read.
func cardAuthExpiry(ctx context.Context, c *card.Card) (t0 time.Time) {
	if ac, err := c.AuthCertificate(ctx); err == nil {
		return ac.NotAfter
	}
	return t0
}

// receiptPINOf names a PIN on a receipt: the next generation's two PINs
// are "the 4-digit PIN" and "the password".
func receiptPINOf(prof *card.Profile, k card.PINKind) receipt.PIN {
	if prof == card.Next {
		return map[card.PINKind]receipt.PIN{card.PINAuth: receipt.PINShort, card.PINSign: receipt.PINLong}[k]
	}
	return receiptPIN[k]
}
