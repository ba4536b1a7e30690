package flow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"madoguchi/app/identity"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/phone"
)

// PhoneHolder is the card's part of storing a credential on a phone: the
// holder proven with the card and its signature password at the counter,
// and the face photo for the mdoc's portrait. It holds no secret.
type PhoneHolder struct {
	Serial   string
	Profile  string
	Portrait []byte // JPEG 2000 as read from the card; nil: none
	Proven   time.Time
}

// PhoneCardInput is what the citizen and the clerk give for the card's
// part.
type PhoneCardInput struct {
	Visit identity.Visit
	// SignPIN is the signature password (wiped by the flow).
	SignPIN secret.Value
	// FaceCheck opens the face photo (the number printed on the card);
	// empty: the mdoc carries no portrait.
	FaceCheck secret.Value
}

// ErrCardNotUsable: the card's authentication certificate, to which a
// phone credential is linked, is not good.
var ErrCardNotUsable = errors.New("flow: the card's authentication certificate is not valid")

// PhoneCard proves the holder with the card (steps checks, identity,
// pins, card): the card record issued, its auth certificate good, the
// identity step, the signature password verified on the card, and the
// face photo read.
func (p Ports) PhoneCard(ctx context.Context, c *card.Card, in PhoneCardInput) (PhoneHolder, error) {
	defer in.SignPIN.Wipe()
	defer in.FaceCheck.Wipe()
	rec, err := p.issuedRecord(ctx, c.Serial())
	if err != nil {
		return PhoneHolder{}, err
	}
	if _, err := p.identify(ctx, in.Visit, identity.ProcIssue, rec.Holder.BirthDate); err != nil {
		return PhoneHolder{}, err
	}
	if err := p.step(ctx, StepPINs); err != nil {
		return PhoneHolder{}, err
	}
	if err := c.Verify(ctx, card.PINSign, in.SignPIN); err != nil {
		return PhoneHolder{}, stop(StepPINs, err)
	}
	if err := p.step(ctx, StepCard); err != nil {
		return PhoneHolder{}, err
	}
	h := PhoneHolder{Serial: c.Serial(), Profile: c.Profile().Name, Proven: p.now()}
	if in.FaceCheck.Len() > 0 {
		f, err := c.Face(ctx, in.FaceCheck)
		if err != nil {
			return PhoneHolder{}, stop(StepCard, err)
		}
		h.Portrait = f.Photo
	}
	return h, nil
}

// PhoneStoreInput is the phone's part.
type PhoneStoreInput struct {
	Holder PhoneHolder
	// Replace: the holder has an active phone; the clerk confirmed that
	// storing on this one revokes it (one active phone per person).
	Replace bool
	// Mdoc also stores the ISO 18013-5 mdoc with the card's attributes.
	Mdoc bool
	Lang string
	// ApprovalWait is how long to wait for the holder to approve the
	// phone's signature on the phone (default 60 s).
	ApprovalWait time.Duration
}

// PhoneResult is what the result screen shows.
type PhoneResult struct {
	Result
	PhoneID    string
	Device     string // the phone's model
	Replaced   string // the phone this one replaced
	MdocUntil  time.Time
	PhoneTaps  int
	PhoneAPDUs int
}

// Errors of the phone procedures.
var (
	// ErrPhoneExists: the holder has an active phone; the clerk must
	// confirm its revocation (Replace).
	ErrPhoneExists = errors.New("flow: the holder already has a phone credential")
	// ErrNoApproval: the holder did not approve on the phone in time.
	ErrNoApproval = errors.New("flow: the holder did not approve on the phone")
	// ErrHolderNotProven: the card's part was not done (or too long ago).
	ErrHolderNotProven = errors.New("flow: the holder was not proven with the card")
)

// holderValidity is how long the card's proof counts for the phone tap.
const holderValidity = 10 * time.Minute

// PhoneStore stores the JPKI-style authentication credential (and the
// mdoc) on the phone on the reader: the phone's secure element makes a
// key and attests it, the holder approves its proof of possession on the
// phone, the central system checks the attestation against its allow-list
// and certifies the key (linked to the card's authentication certificate,
// expiring with it; an older phone of the holder is revoked), and the
// credentials are written to the phone. Steps: checks, keys, certify,
// card-write (the phone), record, receipt.
func (p Ports) PhoneStore(ctx context.Context, ph *phone.Phone, in PhoneStoreInput) (PhoneResult, error) {
	started := p.now()
	h := in.Holder
	if h.Serial == "" || p.now().Sub(h.Proven) > holderValidity {
		return PhoneResult{}, stop(StepChecks, ErrHolderNotProven)
	}
	if err := p.step(ctx, StepChecks); err != nil {
		return PhoneResult{}, err
	}
	// Notices for the phone's earlier credentials go to it first.
	if err := p.DeliverNotices(ctx, ph); err != nil {
		return PhoneResult{}, stop(StepChecks, err)
	}
	phones, err := p.Central.Phones(ctx, h.Serial)
	if err != nil {
		return PhoneResult{}, stop(StepChecks, central(err))
	}
	for _, old := range phones {
		if (old.State == api.CertGood || old.State == api.CertSuspended) && !in.Replace {
			return PhoneResult{}, stop(StepChecks, fmt.Errorf("%w (%s)", ErrPhoneExists, old.ID))
		}
	}

	// The secure element's key and its attestation.
	if err := p.step(ctx, StepKeys); err != nil {
		return PhoneResult{}, err
	}
	chal, err := p.Central.ChallengePhone(ctx, jlis.NewIdempotencyKey())
	if err != nil {
		return PhoneResult{}, stop(StepKeys, central(err))
	}
	att, err := ph.GenerateKey(ctx, phone.PurposeAuth, chal.Challenge)
	if err != nil {
		return PhoneResult{}, stop(StepKeys, err)
	}
	// Proof of possession, signed on the phone after the holder approves.
	if err := p.step(ctx, StepCertify); err != nil {
		return PhoneResult{}, err
	}
	d := sha256.Sum256(api.PoPMessage(h.Serial, "phone", att.SPKI))
	proof, err := p.signApproved(ctx, ph, att.KeyID, d[:], in.ApprovalWait)
	if err != nil {
		return PhoneResult{}, stop(StepCertify, err)
	}
	info := ph.Info()
	rec, err := p.Central.IssuePhone(ctx, jlis.NewIdempotencyKey(), api.PhoneRequest{
		CardSerial: h.Serial, DeviceID: hex.EncodeToString(info.ID), Attestation: att.Raw, Challenge: chal.Challenge,
		PublicKey: att.SPKI, Proof: proof, Replace: in.Replace})
	if err != nil {
		return PhoneResult{}, stop(StepCertify, central(err))
	}
	if err := p.step(ctx, StepCardWrite); err != nil {
		return PhoneResult{}, err
	}
	chain := append([]byte{}, rec.Certificate.DER...)
	for _, c := range rec.Certificate.Chain {
		chain = append(chain, c...)
	}
	if err := ph.PutCredential(ctx, phone.Credential{ID: credID("jpki", rec.ID), Type: phone.CredentialCertChain, KeyID: att.KeyID,
		NotAfter: rec.Certificate.NotAfter, Data: chain}); err != nil {
		return PhoneResult{}, stop(StepCardWrite, err)
	}
	res := PhoneResult{PhoneID: rec.ID, Device: info.Model, Replaced: rec.Replaced}
	if in.Mdoc {
		chal2, err := p.Central.ChallengePhone(ctx, jlis.NewIdempotencyKey())
		if err != nil {
			return PhoneResult{}, stop(StepKeys, central(err))
		}
		datt, err := ph.GenerateKey(ctx, phone.PurposeMdoc, chal2.Challenge)
		if err != nil {
			return PhoneResult{}, stop(StepKeys, err)
		}
		md, err := p.Central.IssueMdoc(ctx, jlis.NewIdempotencyKey(), rec.ID, api.MdocRequest{DeviceKey: datt.SPKI, Portrait: h.Portrait,
			Attestation: datt.Raw, Challenge: chal2.Challenge})
		if err != nil {
			return PhoneResult{}, stop(StepCertify, central(err))
		}
		if err := ph.PutCredential(ctx, phone.Credential{ID: credID("mdoc", rec.ID), Type: phone.CredentialMdoc, KeyID: datt.KeyID,
			NotAfter: md.ValidUntil, Data: md.IssuerSigned}); err != nil {
			return PhoneResult{}, stop(StepCardWrite, err)
		}
		res.MdocUntil = md.ValidUntil
	}
	id, err := p.record(ctx, "phone", h.Serial, started, "ok",
		map[string]any{"profile": h.Profile, "mdoc": in.Mdoc, "replaced": rec.Replaced != "", "se": att.SecureElement, "app": att.App},
		p.event("phone-store", map[string]any{"mdoc": in.Mdoc, "replaced": rec.Replaced != ""}))
	if err != nil {
		return PhoneResult{}, err
	}
	certs := []receipt.Cert{{Purpose: receipt.CertPhone, Action: receipt.CertIssued, Expiry: rec.Certificate.NotAfter}}
	r, err := p.receipt(ctx, id, receipt.Data{Procedure: receipt.Phone, Lang: in.Lang, Details: receipt.Details{
		CardLast4: SerialTail(h.Serial), Certs: certs, Device: info.Model}})
	res.Result = Result{ProcedureID: id, Receipt: r, Expiry: Expiry{Auth: rec.Certificate.NotAfter}, APDUs: ph.APDUCount(), PINEntries: 1}
	res.PhoneTaps, res.PhoneAPDUs = 1, ph.APDUCount()
	return res, err
}

// credID names a credential on the phone by kind and the central
// system's phone id (at most phone.MaxCredentialID bytes).
func credID(kind, phoneID string) string {
	id := kind + "-" + phoneID
	if len(id) > phone.MaxCredentialID {
		id = id[:phone.MaxCredentialID]
	}
	return id
}

// signApproved asks the phone to sign, waiting for the holder to approve
// on the phone: the terminal never triggers the phone's key by itself.
func (p Ports) signApproved(ctx context.Context, ph *phone.Phone, keyID, digest []byte, wait time.Duration) ([]byte, error) {
	if wait <= 0 {
		wait = phone.ApprovalLifetime
	}
	deadline := time.Now().Add(wait)
	for {
		sig, err := ph.Sign(ctx, keyID, digest)
		if !errors.Is(err, phone.ErrNeedsApproval) {
			return sig, err
		}
		if time.Now().After(deadline) {
			return nil, ErrNoApproval
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// DeliverNotices brings the phone's credentials up to date with the
// central system: a credential revoked or suspended there (a lost phone,
// the card's certificate revoked, the card returned) is marked so on the
// phone, with a notice the phone shows its holder.
func (p Ports) DeliverNotices(ctx context.Context, ph *phone.Phone) error {
	creds, err := ph.Status(ctx)
	if err != nil {
		return err
	}
	for _, c := range creds {
		kind, id, ok := strings.Cut(c.ID, "-")
		if !ok || (kind != "jpki" && kind != "mdoc") || c.State == phone.StateRevoked {
			continue
		}
		rec, err := p.Central.Phone(ctx, id)
		if err != nil {
			if errors.Is(err, jlis.ErrUnreachable) {
				return central(err)
			}
			continue // unknown to this central system: leave it
		}
		want, code := phone.StateActive, phone.NoticeResumed
		switch rec.State {
		case api.CertRevoked:
			want, code = phone.StateRevoked, phone.NoticeRevoked
		case api.CertSuspended:
			want, code = phone.StateSuspended, phone.NoticeSuspended
		}
		if want == c.State {
			continue
		}
		if err := ph.SetState(ctx, c.ID, want); err != nil {
			return err
		}
		if err := ph.PutNotice(ctx, phone.Notice{Code: code, Date: p.now(), CredentialID: c.ID}); err != nil {
			return err
		}
	}
	return nil
}

// PhoneRevoke revokes a phone credential at the central system (a lost
// phone): needs the central system; the phone learns it at its next tap.
func (p Ports) PhoneRevoke(ctx context.Context, phoneID, lang string) (Result, error) {
	started := p.now()
	if err := p.step(ctx, StepChecks); err != nil {
		return Result{}, err
	}
	rec, err := p.Central.RevokePhone(ctx, jlis.NewIdempotencyKey(), phoneID)
	if err != nil {
		return Result{}, stop(StepChecks, central(err))
	}
	id, err := p.record(ctx, "phone_revoke", rec.CardSerial, started, "ok", map[string]any{}, p.event("phone-revoke", nil))
	if err != nil {
		return Result{}, err
	}
	r, err := p.receipt(ctx, id, receipt.Data{Procedure: receipt.Phone, Lang: lang, Details: receipt.Details{
		CardLast4: SerialTail(rec.CardSerial), Certs: []receipt.Cert{{Purpose: receipt.CertPhone, Action: receipt.CertRevoked}}}})
	return Result{ProcedureID: id, Receipt: r}, err
}
