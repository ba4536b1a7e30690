package flow

import (
	"context"
	"crypto"
	_ "crypto/sha512" // SHA-384 for P-384 proofs
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"madoguchi/app/audit"
	"madoguchi/app/i18n"
	"madoguchi/app/identity"
	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
)

// Result is what a procedure's result screen shows.
type Result struct {
	ProcedureID int64
	Receipt     receipt.Record
	// Expiry is the card's and the certificates' validity after the
	// procedure, shown side by side (zero times: not known).
	Expiry Expiry
	// Queued: part of the procedure waits in the queue for the central
	// system.
	Queued bool
	// Notices are messages the clerk must pass on (e.g. no signature
	// certificate under 15).
	Notices []i18n.Key
	// APDUs is the number of commands sent to the card.
	APDUs int
	// PINEntries counts the PIN values the citizen entered.
	PINEntries int
}

// step runs the test hook before a step.
func (p Ports) step(ctx context.Context, s Step) error {
	if p.Audit != nil {
		if err := p.Audit.Append(ctx, nil, audit.Event{Actor: p.Actor, Kind: "procedure.step", Subject: p.Subject,
			Detail: map[string]any{"procedure": p.Procedure, "step": string(s)}}); err != nil && p.Log != nil {
			p.Log.Error("audit", "err", err)
		}
	}
	if p.Hook == nil {
		return nil
	}
	if err := p.Hook(ctx, s); err != nil {
		return stop(s, err)
	}
	return nil
}

// central marks an unreachable central system as ErrCentralDown.
func central(err error) error {
	if errors.Is(err, jlis.ErrUnreachable) {
		return fmt.Errorf("%w: %v", ErrCentralDown, err)
	}
	return err
}

// authorise opens one privileged card operation: the card's challenge
// goes to the central system, its cryptogram back to the card
// (docs/CARD-COMMANDS.md).
func (p Ports) authorise(ctx context.Context, c *card.Card, aid []byte, op string, ref uint16, content []byte) error {
	if err := p.step(ctx, StepAuthorise); err != nil {
		return err
	}
	chal, err := c.Challenge(ctx, aid)
	if err != nil {
		return stop(StepAuthorise, err)
	}
	req := api.AuthoriseRequest{Operation: op, Ref: ref, Challenge: chal}
	if content != nil {
		d := card.Digest(content)
		req.Digest = d[:]
	}
	auth, err := p.Central.Authorise(ctx, jlis.NewIdempotencyKey(), c.Serial(), req)
	if err != nil {
		return stop(StepAuthorise, central(err))
	}
	if err := c.Authorise(ctx, auth.Cryptogram); err != nil {
		return stop(StepAuthorise, err)
	}
	return nil
}

// certPurpose is the central system's name of a key's purpose.
func certPurpose(k card.PINKind) string {
	if k == card.PINSign {
		return "sign"
	}
	return "auth"
}

// NewCertificate is newCertificate for the demo's card factory.
func (p Ports) NewCertificate(ctx context.Context, c *card.Card, key card.PINKind, pin secret.Value) (api.Certificate, error) {
	return p.newCertificate(ctx, c, key, pin)
}

// newCertificate generates a key pair on the card, has the central system
// certify it (proof of possession signed by the card under the PIN the
// citizen entered) and writes the certificate: steps keys, certify,
// card-write.
func (p Ports) newCertificate(ctx context.Context, c *card.Card, key card.PINKind, pin secret.Value) (api.Certificate, error) {
	ref, err := card.KeyRef(key)
	if err != nil {
		return api.Certificate{}, stop(StepKeys, err)
	}
	jpki := c.Profile().JPKI
	if err := p.authorise(ctx, c, jpki, api.OpGenerateKey, ref, nil); err != nil {
		return api.Certificate{}, err
	}
	if err := p.step(ctx, StepKeys); err != nil {
		return api.Certificate{}, err
	}
	pub, err := c.GenerateKey(ctx, key)
	if err != nil {
		return api.Certificate{}, stop(StepKeys, err)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return api.Certificate{}, stop(StepKeys, err)
	}
	if err := p.step(ctx, StepCertify); err != nil {
		return api.Certificate{}, err
	}
	if err := c.Verify(ctx, key, pin); err != nil {
		return api.Certificate{}, stop(StepCertify, err)
	}
	purpose := certPurpose(key)
	msg := api.PoPMessage(c.Serial(), purpose, spki)
	// RSA: PKCS#1 v1.5 over SHA-256; ECDSA P-384: over SHA-384 (api.CertRequest).
	h := crypto.SHA256
	if c.Profile().Keys == card.ECDSAP384 {
		h = crypto.SHA384
	}
	hh := h.New()
	hh.Write(msg)
	digest := hh.Sum(nil)
	proof, err := c.Sign(ctx, key, digest, h)
	if err != nil {
		return api.Certificate{}, stop(StepCertify, err)
	}
	cert, err := p.Central.IssueCertificate(ctx, jlis.NewIdempotencyKey(), c.Serial(), api.CertRequest{Purpose: purpose, PublicKey: spki, Proof: proof})
	if err != nil {
		return api.Certificate{}, stop(StepCertify, central(err))
	}
	ef := card.EFAuthCert
	if key == card.PINSign {
		ef = card.EFSignCert
	}
	if err := p.authorise(ctx, c, jpki, api.OpWriteCert, ef, cert.DER); err != nil {
		return api.Certificate{}, err
	}
	if err := p.step(ctx, StepCardWrite); err != nil {
		return api.Certificate{}, err
	}
	if err := c.WriteCertificate(ctx, key, cert.DER); err != nil {
		return api.Certificate{}, stop(StepCardWrite, err)
	}
	return cert, nil
}

// record writes the procedure record and its queue jobs in one
// transaction (step record).
func (p Ports) record(ctx context.Context, kind, serial string, started time.Time, outcome string, detail map[string]any, jobs ...queue.NewJob) (int64, error) {
	if err := p.step(ctx, StepRecord); err != nil {
		return 0, err
	}
	d, _ := json.Marshal(detail)
	tx, err := p.Store.DB.BeginTx(ctx, nil)
	if err != nil {
		return 0, stop(StepRecord, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO procedures (kind, card_serial, terminal, started_at, finished_at, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		kind, serial, p.Terminal, stamp(started), stamp(p.now()), outcome, string(d))
	if err != nil {
		return 0, stop(StepRecord, err)
	}
	id, _ := res.LastInsertId()
	for _, j := range jobs {
		if _, err := p.Queue.Enqueue(ctx, tx, j); err != nil {
			return 0, stop(StepRecord, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, stop(StepRecord, err)
	}
	return id, nil
}

// event is a statistics event for the queue (no personal data).
func (p Ports) event(typ string, data map[string]any) queue.NewJob {
	key := queue.NewKey()
	if data == nil {
		data = map[string]any{}
	}
	data["terminal"] = p.Terminal
	ev := api.Event{ID: key, Type: typ, At: p.now().UTC(), Data: data}
	return queue.NewJob{Kind: queue.KindEvent, IdempotencyKey: key, Payload: queue.Payload(ev)}
}

// receipt stores (and links) the procedure's receipt (step receipt).
func (p Ports) receipt(ctx context.Context, id int64, d receipt.Data) (receipt.Record, error) {
	if err := p.step(ctx, StepReceipt); err != nil {
		return receipt.Record{}, err
	}
	if d.Lang == "" {
		d.Lang = "ja" // Japanese is always printed
	}
	r, err := p.Receipts.Issue(ctx, d)
	if err != nil {
		return receipt.Record{}, stop(StepReceipt, err)
	}
	if _, err := p.Store.DB.ExecContext(ctx, `UPDATE procedures SET receipt = ? WHERE id = ?`, r.Number, id); err != nil {
		return r, stop(StepReceipt, err)
	}
	return r, nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// markInterrupted notes that a procedure starts writing to a card; the
// note goes when it is recorded. An issuance interrupted after the card
// record became issued may then continue.
func (p Ports) markInterrupted(ctx context.Context, serial, kind string) {
	if _, err := p.Store.DB.ExecContext(ctx, `INSERT INTO procedure_progress (card_serial, kind, started_at) VALUES (?, ?, ?)
		ON CONFLICT (card_serial) DO UPDATE SET kind = excluded.kind`, serial, kind, stamp(p.now())); err != nil && p.Log != nil {
		p.Log.Warn("procedure progress", "err", err)
	}
}

func (p Ports) clearInterrupted(ctx context.Context, serial string) {
	if _, err := p.Store.DB.ExecContext(ctx, `DELETE FROM procedure_progress WHERE card_serial = ?`, serial); err != nil && p.Log != nil {
		p.Log.Warn("procedure progress", "err", err)
	}
}

func (p Ports) interrupted(ctx context.Context, serial string) bool {
	var n int
	_ = p.Store.DB.QueryRowContext(ctx, `SELECT count(*) FROM procedure_progress WHERE card_serial = ?`, serial).Scan(&n)
	return n > 0
}

// expiryDetail is the validity a procedure record keeps for the daily
// report's "certificates near expiry among the day's visitors" (dates
// only, no personal data).
func expiryDetail(ex Expiry) map[string]string {
	out := map[string]string{}
	for k, t := range map[string]time.Time{"card": ex.Card, "auth": ex.Auth, "sign": ex.Sign} {
		if !t.IsZero() {
			out[k] = t.In(jpki.JST).Format("2006-01-02")
		}
	}
	return out
}

// issuedRecord is the checks step of a procedure on an issued card: the
// card record at the central system, which must be issued.
func (p Ports) issuedRecord(ctx context.Context, serial string) (api.Card, error) {
	if err := p.step(ctx, StepChecks); err != nil {
		return api.Card{}, err
	}
	rec, err := p.Central.Card(ctx, serial)
	if err != nil {
		return api.Card{}, stop(StepChecks, central(err))
	}
	if rec.State != api.StateIssued {
		return api.Card{}, stop(StepChecks, fmt.Errorf("%w: the card is %s at the central system", ErrWrongState, rec.State))
	}
	return rec, nil
}

// identify is the identity step for a procedure and the holder's birth
// date (from the card record).
func (p Ports) identify(ctx context.Context, v identity.Visit, procedure, birth string) (identity.Decision, error) {
	if err := p.step(ctx, StepIdentity); err != nil {
		return identity.Decision{}, err
	}
	v.Procedure, v.BirthDate, v.Today = procedure, birth, p.now()
	dec, err := identity.Check(v)
	if err != nil {
		return identity.Decision{}, stop(StepIdentity, err)
	}
	return dec, nil
}
