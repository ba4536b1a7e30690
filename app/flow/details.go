package flow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"madoguchi/app/identity"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/card/tlv"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
)

// DetailsInput is a change of the card-face details (券面記載事項変更):
// the new name and/or address (the other items stay as recorded), the
// PIN that opens the card's text data, and the signature password when a
// new signature certificate is to be issued.
type DetailsInput struct {
	Visit   identity.Visit
	Name    string // empty: unchanged
	Address string // empty: unchanged
	// PINs: the text data's PIN (the input-assist PIN; the 4-digit PIN on
	// the next generation) and the signature password.
	PINs    map[card.PINKind]secret.Value
	Lang    string
	Entries int
}

// ErrNothingChanged: neither the name nor the address differs.
var ErrNothingChanged = errors.New("flow: nothing to change")

// ChangeDetails updates the card's text data with the central system's
// newly signed record, which revokes the signature certificate (it
// carries the old details, domain.md §1); a new signature certificate is
// issued and written in the same visit when the citizen gives the
// signature password (and is 15 or older).
func (p Ports) ChangeDetails(ctx context.Context, c *card.Card, in DetailsInput) (Result, error) {
	defer wipeAll(in.PINs)
	started := p.now()
	prof := c.Profile()
	rec, err := p.issuedRecord(ctx, c.Serial())
	if err != nil {
		return Result{}, err
	}
	h := rec.Holder
	var changed []receipt.Item
	if in.Name != "" && in.Name != h.Name {
		h.Name = in.Name
		changed = append(changed, receipt.ItemName)
	}
	if in.Address != "" && in.Address != h.Address {
		h.Address = in.Address
		changed = append(changed, receipt.ItemAddress)
	}
	if len(changed) == 0 && p.interrupted(ctx, c.Serial()) {
		// An interrupted change: the central record already has the new
		// details, the card may not; write them again.
		if in.Name != "" {
			changed = append(changed, receipt.ItemName)
		}
		if in.Address != "" {
			changed = append(changed, receipt.ItemAddress)
		}
	}
	if len(changed) == 0 {
		return Result{}, stop(StepChecks, ErrNothingChanged)
	}
	dec, err := p.identify(ctx, in.Visit, identity.ProcChangeDetails, rec.Holder.BirthDate)
	if err != nil {
		return Result{}, err
	}
	textPIN := prof.InputAssistPINs[0]
	need := []card.PINKind{textPIN}
	sign := dec.SignatureCertificate && !in.PINs[card.PINSign].Empty()
	if sign && textPIN != card.PINSign {
		need = append(need, card.PINSign)
	}
	for _, k := range need {
		spec, _ := prof.PIN(k)
		norm, err := spec.Normalize(in.PINs[k])
		if err != nil {
			return Result{}, stop(StepChecks, err)
		}
		defer in.PINs[k].Wipe() // may be shared by several PINs
		in.PINs[k] = norm
	}

	// The text PIN opens the current integrity record, whose hash of the
	// individual-number EF goes to the central system (never the number).
	if err := p.step(ctx, StepPINs); err != nil {
		return Result{}, err
	}
	// The text PIN last: selecting another application resets what the
	// text application's VERIFY opened.
	for i := len(need) - 1; i >= 0; i-- {
		if err := c.Verify(ctx, need[i], in.PINs[need[i]]); err != nil {
			return Result{}, stop(StepPINs, err)
		}
	}
	if err := p.step(ctx, StepCard); err != nil {
		return Result{}, err
	}
	integrity, err := c.ReadFile(ctx, prof.InputAssist, prof.IntegrityEF)
	if err != nil {
		return Result{}, stop(StepCard, err)
	}
	digest, err := myNumberDigest(integrity)
	if err != nil {
		return Result{}, stop(StepCard, err)
	}
	p.markInterrupted(ctx, c.Serial(), "change_of_details")
	if err := p.step(ctx, StepText); err != nil {
		return Result{}, err
	}
	td, err := p.Central.ChangeDetails(ctx, jlis.NewIdempotencyKey(), c.Serial(), api.DetailsChange{Holder: h, MyNumberDigest: digest})
	if err != nil {
		return Result{}, stop(StepText, central(err))
	}
	for _, f := range []struct {
		ef      uint16
		content []byte
	}{{prof.BasicFourEF, td.BasicFour}, {prof.IntegrityEF, td.Integrity}} {
		if err := p.authorise(ctx, c, prof.InputAssist, api.OpWriteText, f.ef, f.content); err != nil {
			return Result{}, err
		}
		if err := p.step(ctx, StepCardWrite); err != nil {
			return Result{}, err
		}
		if err := c.WriteFile(ctx, prof.InputAssist, f.ef, f.content); err != nil {
			return Result{}, stop(StepCardWrite, err)
		}
	}
	var signCert api.Certificate
	if sign {
		if signCert, err = p.newCertificate(ctx, c, card.PINSign, in.PINs[card.PINSign]); err != nil {
			return Result{}, err
		}
	}
	items := make([]string, len(changed))
	for i, it := range changed {
		items[i] = string(it)
	}
	id, err := p.record(ctx, "change_of_details", c.Serial(), started, "ok", map[string]any{"profile": prof.Name, "changed": items, "signCert": sign},
		p.event("change-of-details", map[string]any{"changed": items, "signCert": sign}))
	if err != nil {
		return Result{}, err
	}
	p.clearInterrupted(ctx, c.Serial())
	// The authentication certificate is unchanged: its expiry as on the
	// card (the central system may not know a card's first certificates).
	authExpiry := latest(td.Card.Certificates, "auth")
	if ac, err := c.AuthCertificate(ctx); err == nil {
		authExpiry = ac.NotAfter
	}
	ex := NewExpiry(prof, CardExpiry(td.Card.CardExpiry), authExpiry, signCert.NotAfter, p.now())
	rc := []receipt.Cert{}
	if ex.Auth.IsZero() {
		rc = append(rc, receipt.Cert{Purpose: receipt.CertAuth, Action: receipt.CertUnchanged})
	} else {
		rc = append(rc, receipt.Cert{Purpose: receipt.CertAuth, Action: receipt.CertUnchanged, Expiry: ex.Auth})
	}
	if sign {
		rc = append(rc, receipt.Cert{Purpose: receipt.CertSignature, Action: receipt.CertIssued, Expiry: ex.Sign})
	} else {
		rc = append(rc, receipt.Cert{Purpose: receipt.CertSignature, Action: receipt.CertRevoked})
	}
	r, err := p.receipt(ctx, id, receipt.Data{Procedure: receipt.ChangeOfDetails, Lang: in.Lang, Details: receipt.Details{
		HolderName: h.Name, CardLast4: SerialTail(c.Serial()), CardExpiry: ex.Card, Certs: rc, Changed: changed}})
	return Result{ProcedureID: id, Receipt: r, Expiry: ex, Notices: dec.Notices, APDUs: c.APDUCount(), PINEntries: in.Entries}, err
}

// myNumberDigest takes DF31 (SHA-256 of the individual-number EF) from
// the integrity record FF30 (ref §8.2).
func myNumberDigest(rec []byte) ([]byte, error) {
	o, err := tlv.First(rec, 0xFF30)
	if err != nil {
		return nil, fmt.Errorf("integrity record: %w", err)
	}
	kids, err := o.Children()
	if err != nil {
		return nil, fmt.Errorf("integrity record: %w", err)
	}
	d, ok := kids[0xDF31]
	if !ok || len(d.Value) != 32 {
		return nil, fmt.Errorf("integrity record: %w: no DF31", card.ErrMalformed)
	}
	return d.Value, nil
}

// latest is the latest expiry among the good certificates of a purpose.
func latest(cs []api.CertStatus, purpose string) (t0 time.Time) {
	for _, c := range cs {
		if c.Purpose == purpose && c.State == api.CertGood && c.NotAfter.After(t0) {
			t0 = c.NotAfter
		}
	}
	return t0
}
