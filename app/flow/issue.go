package flow

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"madoguchi/app/i18n"
	"madoguchi/app/identity"
	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
)

// IssueInput is what the clerk and the citizen provide at issuance (交付)
// or card renewal.
type IssueInput struct {
	// Visit is the identity step as the clerk recorded it; the flow fills
	// in the procedure, the birth date and today.
	Visit identity.Visit
	// PINs are the new PINs the citizen chose, one per PIN of the card
	// (the PUK of a next-generation card is optional). The flow wipes them.
	PINs map[card.PINKind]secret.Value
	// Entries is how many values the citizen typed (the three 4-digit PINs
	// may be set to one value in one entry); for the figures only.
	Entries int
	Lang    string
	// OldSerial is the previous card, collected at the counter (card
	// renewal; optional at issuance): it is returned through the queue,
	// which revokes its certificates.
	OldSerial string
}

// ErrAlreadyIssued: the card was issued by an earlier, finished
// procedure; issuing it again would overwrite the citizen's PINs.
var ErrAlreadyIssued = errors.New("flow: the card is already issued")

// ErrMissingPIN: a PIN the card needs was not given.
var ErrMissingPIN = errors.New("flow: a new PIN is missing")

// Issue hands over a new card: identity, the citizen sets every PIN, key
// pairs are generated on the card, the central system certifies them and
// the certificates are written, the card record becomes issued, and one
// transaction records it all with its events (and the old card's return);
// then the receipt. Every card write is authorised by the central system.
// Run again after an interruption, it continues where it stopped.
func (p Ports) Issue(ctx context.Context, c *card.Card, in IssueInput) (Result, error) {
	return p.issue(ctx, c, in, false)
}

// RenewCard is Issue for a new card replacing an expiring one: the old
// card (in.OldSerial) is collected and returned, which revokes its
// certificates (domain.md §2).
func (p Ports) RenewCard(ctx context.Context, c *card.Card, in IssueInput) (Result, error) {
	if in.OldSerial == "" {
		wipeAll(in.PINs)
		return Result{}, stop(StepChecks, errors.New("flow: card renewal needs the old card's serial"))
	}
	return p.issue(ctx, c, in, true)
}

func wipeAll(m map[card.PINKind]secret.Value) {
	for _, v := range m {
		v.Wipe()
	}
}

func (p Ports) issue(ctx context.Context, c *card.Card, in IssueInput, renewal bool) (Result, error) {
	defer wipeAll(in.PINs)
	started := p.now()
	kind, rp := "issuance", receipt.Issuance
	if renewal {
		kind, rp = "card_renewal", receipt.CardRenewal
	}
	prof := c.Profile()

	// Checks: the card record, then every PIN's format before anything
	// is written.
	if err := p.step(ctx, StepChecks); err != nil {
		return Result{}, err
	}
	rec, err := p.Central.Card(ctx, c.Serial())
	if err != nil {
		return Result{}, stop(StepChecks, central(err))
	}
	resume := false
	switch rec.State {
	case api.StateDelivered:
	case api.StateIssued:
		// Only an interrupted issuance of this terminal may continue.
		var n int
		if err := p.Store.DB.QueryRowContext(ctx, `SELECT count(*) FROM procedures WHERE card_serial = ? AND kind IN ('issuance','card_renewal')`, c.Serial()).Scan(&n); err != nil {
			return Result{}, stop(StepChecks, err)
		}
		if n > 0 || !p.interrupted(ctx, c.Serial()) {
			return Result{}, stop(StepChecks, ErrAlreadyIssued)
		}
		resume = true
	default:
		return Result{}, stop(StepChecks, fmt.Errorf("%w: the card is %s at the central system", ErrWrongState, rec.State))
	}
	if renewal && in.OldSerial == c.Serial() {
		return Result{}, stop(StepChecks, errors.New("flow: the old card and the new card are the same"))
	}

	// Identity: documents, face, proxy and age.
	if err := p.step(ctx, StepIdentity); err != nil {
		return Result{}, err
	}
	v := in.Visit
	v.Procedure, v.BirthDate, v.Today = kind, rec.Holder.BirthDate, p.now()
	if renewal {
		v.Procedure = "renew-card"
	} else {
		v.Procedure = "issue"
	}
	dec, err := identity.Check(v)
	if err != nil {
		return Result{}, stop(StepIdentity, err)
	}
	keys := []card.PINKind{card.PINAuth}
	if dec.SignatureCertificate {
		keys = append(keys, card.PINSign)
	}
	var pins []card.PINSpec
	for _, spec := range prof.PINs {
		val, ok := in.PINs[spec.Kind]
		if !ok || val.Len() == 0 {
			if spec.Kind == card.PUK {
				continue // optional
			}
			return Result{}, stop(StepChecks, fmt.Errorf("%w: %s", ErrMissingPIN, spec.Kind))
		}
		norm, err := spec.Normalize(val)
		if err != nil {
			return Result{}, stop(StepChecks, err)
		}
		in.PINs[spec.Kind] = norm
		defer val.Wipe() // may be shared by several PINs (one entry)
		pins = append(pins, spec)
	}
	p.markInterrupted(ctx, c.Serial(), kind)

	// PINs: each one set under its own central authorisation.
	for _, spec := range pins {
		if err := p.authorise(ctx, c, spec.AID, api.OpSetPIN, spec.Ref, nil); err != nil {
			return Result{}, err
		}
		if err := p.step(ctx, StepPINs); err != nil {
			return Result{}, err
		}
		if err := c.SetPIN(ctx, spec.Kind, in.PINs[spec.Kind]); err != nil {
			return Result{}, stop(StepPINs, err)
		}
	}

	// Keys, certificates, card writes.
	certs := map[card.PINKind]api.Certificate{}
	for _, k := range keys {
		cert, err := p.newCertificate(ctx, c, k, in.PINs[k])
		if err != nil {
			return Result{}, err
		}
		certs[k] = cert
	}

	// The card record becomes issued; offline, the transition queues.
	if err := p.step(ctx, StepActivate); err != nil {
		return Result{}, err
	}
	var jobs []queue.NewJob
	queued := false
	if !resume {
		if _, err := p.Central.Transition(ctx, jlis.NewIdempotencyKey(), c.Serial(), api.Transition{To: api.StateIssued, Reason: kind}); err != nil {
			if !errors.Is(err, jlis.ErrUnreachable) {
				return Result{}, stop(StepActivate, err)
			}
			queued = true
			jobs = append(jobs, queue.NewJob{Kind: queue.KindTransition, OrderingKey: c.Serial(), Priority: queue.PriorityHigh,
				Payload: queue.Payload(queue.TransitionJob{Serial: c.Serial(), To: api.StateIssued, Reason: kind})})
		}
	}
	if in.OldSerial != "" {
		queued = true
		jobs = append(jobs, queue.NewJob{Kind: queue.KindTransition, OrderingKey: in.OldSerial, Priority: queue.PriorityHigh,
			Payload: queue.Payload(queue.TransitionJob{Serial: in.OldSerial, To: api.StateReturned, Reason: "collected at " + kind})})
	}
	pinNames := make([]string, 0, len(pins))
	for _, s := range pins {
		pinNames = append(pinNames, string(s.Kind))
	}
	jobs = append(jobs, p.event(kind, map[string]any{"profile": prof.Name, "pins": pinNames, "signCert": dec.SignatureCertificate}))
	ex := NewExpiry(prof, CardExpiry(rec.CardExpiry), certs[card.PINAuth].NotAfter, certs[card.PINSign].NotAfter, p.now())
	id, err := p.record(ctx, kind, c.Serial(), started, outcome(queued), map[string]any{"profile": prof.Name, "pins": pinNames, "signCert": dec.SignatureCertificate, "oldCard": SerialTail(in.OldSerial), "expiry": expiryDetail(ex)}, jobs...)
	if err != nil {
		return Result{}, err
	}
	p.clearInterrupted(ctx, c.Serial())

	rc := []receipt.Cert{{Purpose: receipt.CertAuth, Action: receipt.CertIssued, Expiry: ex.Auth}}
	if dec.SignatureCertificate {
		rc = append(rc, receipt.Cert{Purpose: receipt.CertSignature, Action: receipt.CertIssued, Expiry: ex.Sign})
	}
	r, err := p.receipt(ctx, id, receipt.Data{Procedure: rp, Lang: in.Lang, Details: receipt.Details{
		HolderName: rec.Holder.Name, CardLast4: SerialTail(c.Serial()), CardExpiry: ex.Card, Certs: rc,
		OldCardCollected: in.OldSerial != "", Queued: queued}})
	res := Result{ProcedureID: id, Receipt: r, Expiry: ex, Queued: queued, Notices: dec.Notices, APDUs: c.APDUCount(), PINEntries: in.Entries}
	if !dec.SignatureCertificate && !slices.Contains(res.Notices, i18n.Key("flow.notice.no_sign_cert")) {
		res.Notices = append(res.Notices, i18n.Key("flow.notice.no_sign_cert"))
	}
	return res, err
}

// ErrWrongState: the card's state at the central system does not allow
// the procedure.
var ErrWrongState = errors.New("flow: the card's state does not allow this")

func outcome(queued bool) string {
	if queued {
		return "queued"
	}
	return "ok"
}
