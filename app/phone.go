package app

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"rsc.io/qr"

	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/app/identity"
	"madoguchi/app/secret"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/phone"
)

// PhoneSource opens the phone held to the counter's reader.
type PhoneSource interface {
	OpenPhone(ctx context.Context) (p *phone.Phone, close func(), err error)
}

// PhoneCardRequest is the card's part of storing a credential on a
// phone: the identity step, the signature password, and the number
// printed on the card for the face photo (the mdoc's portrait).
type PhoneCardRequest struct {
	Identity  IdentityInput `json:"identity"`
	SignPIN   string        `json:"signPIN"`
	FaceCheck string        `json:"faceCheck,omitempty"`
}

// PhoneCardView says the holder is proven; the card may be taken.
type PhoneCardView struct {
	SerialLast4 string `json:"serialLast4"`
	Portrait    bool   `json:"portrait"`
}

// PhoneStoreRequest is the phone's part.
type PhoneStoreRequest struct {
	Replace bool   `json:"replace"`
	Mdoc    bool   `json:"mdoc"`
	Lang    string `json:"lang"`
}

// PhoneCredView is one smartphone credential of the holder.
type PhoneCredView struct {
	ID            string    `json:"id"`
	State         string    `json:"state"`
	SecureElement string    `json:"secureElement,omitempty"`
	App           string    `json:"app,omitempty"`
	NotAfter      time.Time `json:"notAfter"`
	CreatedAt     time.Time `json:"createdAt"`
	Replaced      string    `json:"replaced,omitempty"`
}

// PhoneOutcome is the result of storing, or where it stopped.
type PhoneOutcome struct {
	ProcedureOutcome
	PhoneID  string `json:"phoneId,omitempty"`
	Device   string `json:"device,omitempty"`
	Replaced string `json:"replaced,omitempty"`
	Mdoc     bool   `json:"mdoc"`
}

// OfferView is an OpenID4VCI credential offer for the citizen's wallet.
type OfferView struct {
	QR        string    `json:"qr"` // data: URL of a PNG of the offer URI
	TxCode    string    `json:"txCode"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// PhonePrepare proves the holder with the card on the reader and keeps,
// for the phone's tap that follows, only the card's serial and photo (no
// PIN). The card session ends: the card can be taken.
func (a *App) PhonePrepare(r PhoneCardRequest) (PhoneCardView, error) {
	ctx, cancel := a.counterCtx()
	defer cancel()
	pin := secret.New(secret.KindPIN, r.SignPIN)
	check := secret.New(secret.KindPIN, strings.TrimSpace(r.FaceCheck))
	r.SignPIN, r.FaceCheck = "", ""
	p, err := a.ports(ctx)
	if err != nil {
		pin.Wipe()
		check.Wipe()
		return PhoneCardView{}, a.errCounter("phone: ports", err)
	}
	s, err := a.session(ctx)
	if err != nil {
		pin.Wipe()
		check.Wipe()
		return PhoneCardView{}, err
	}
	visit := identity.Visit{Proxy: r.Identity.Proxy, LegalRepresentative: r.Identity.LegalRepresentative, FaceMatched: r.Identity.FaceMatched}
	for _, d := range r.Identity.Documents {
		visit.Documents = append(visit.Documents, identity.Document(d))
	}
	p.Audit, p.Procedure, p.Actor, p.Subject = a.d.Audit, "phone", a.actor(), flow.SerialTail(s.card.Serial())
	h, err := p.PhoneCard(ctx, s.card, flow.PhoneCardInput{Visit: visit, SignPIN: pin, FaceCheck: check})
	if err != nil {
		f := a.failure(s.card, err, a.d.Config.Language)
		return PhoneCardView{}, &Error{Code: f.Code}
	}
	a.mu.Lock()
	a.holder = &h
	a.mu.Unlock()
	a.endSession()
	return PhoneCardView{SerialLast4: flow.SerialTail(h.Serial), Portrait: h.Portrait != nil}, nil
}

// PhoneStore stores the credential on the phone held to the reader.
func (a *App) PhoneStore(r PhoneStoreRequest) (PhoneOutcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a.mu.Lock()
	h := a.holder
	a.mu.Unlock()
	out := PhoneOutcome{ProcedureOutcome: ProcedureOutcome{Procedure: "phone", Notices: []i18n.Key{}}, Mdoc: r.Mdoc}
	if h == nil {
		return out, &Error{Code: i18n.Key("phone.error.no_holder")}
	}
	src, ok := a.phoneSource()
	if !ok {
		return out, ErrNoCounter
	}
	p, err := a.ports(ctx)
	if err != nil {
		return out, a.errCounter("phone: ports", err)
	}
	ph, closeFn, err := src.OpenPhone(ctx)
	if err != nil {
		a.d.Log.Info("phone: not on the reader", "err", err)
		return out, &Error{Code: i18n.Key("phone.error.no_phone")}
	}
	defer closeFn()
	if r.Lang == "" {
		r.Lang = a.d.Config.Language
	}
	p.Audit, p.Procedure, p.Actor, p.Subject = a.d.Audit, "phone", a.actor(), flow.SerialTail(h.Serial)
	started := time.Now()
	res, err := p.PhoneStore(ctx, ph, flow.PhoneStoreInput{Holder: *h, Replace: r.Replace, Mdoc: r.Mdoc, Lang: r.Lang})
	out.Ms, out.APDUs = time.Since(started).Milliseconds(), ph.APDUCount()
	if err != nil {
		out.Failure = a.phoneFailure(err, r.Lang)
		a.audit("procedure.stopped", p.Subject, map[string]any{"procedure": "phone", "step": out.Failure.Step, "code": string(out.Failure.Code)})
		return out, nil
	}
	a.mu.Lock()
	a.holder = nil
	a.mu.Unlock()
	out.OK, out.Receipt, out.Expiry = true, res.Receipt.Number, res.Expiry
	out.PhoneID, out.Device, out.Replaced = res.PhoneID, res.Device, res.Replaced
	a.audit("procedure.done", p.Subject, map[string]any{"procedure": "phone", "receipt": res.Receipt.Number})
	if res.Receipt.Number != "" && p.Receipts != nil {
		if pr, err := p.Receipts.Print(ctx, res.Receipt.Number, ""); err == nil {
			out.Printed = pr.Message
		}
	}
	return out, nil
}

func (a *App) phoneSource() (PhoneSource, bool) {
	if a.d.Counter == nil || a.d.Counter.Phones == nil {
		return nil, false
	}
	return a.d.Counter.Phones, true
}

// phoneFailure maps the phone flows' errors.
func (a *App) phoneFailure(err error, lang string) *Failure {
	var se *flow.StepError
	f := &Failure{}
	if errors.As(err, &se) {
		f.Step = string(se.Step)
	}
	switch {
	case errors.Is(err, flow.ErrPhoneExists):
		f.Code = i18n.Key("phone.error.exists")
	case errors.Is(err, flow.ErrNoApproval):
		f.Code, f.Resume = i18n.Key("phone.error.no_approval"), true
	case errors.Is(err, flow.ErrHolderNotProven):
		f.Code = i18n.Key("phone.error.no_holder")
	case errors.Is(err, phone.ErrNotWallet):
		f.Code, f.Resume = i18n.Key("phone.error.no_phone"), true
	case jlisCode(err) == api.CodeAttestation:
		f.Code = i18n.Key("phone.error.attestation")
	default:
		return a.failure(nil, err, lang)
	}
	return f
}

// PhoneList lists the smartphone credentials of the card on the reader
// (or of the given card serial).
func (a *App) PhoneList(serial string) ([]PhoneCredView, error) {
	ctx, cancel := a.counterCtx()
	defer cancel()
	p, err := a.ports(ctx)
	if err != nil {
		return nil, a.errCounter("phone: ports", err)
	}
	serial = strings.TrimSpace(serial)
	if serial == "" {
		a.mu.Lock()
		switch {
		case a.sess != nil:
			serial = a.sess.card.Serial()
		case a.holder != nil:
			serial = a.holder.Serial
		}
		a.mu.Unlock()
	}
	if serial == "" {
		return nil, ErrNoCard
	}
	phones, err := p.Central.Phones(ctx, serial)
	if err != nil {
		f := a.failure(nil, err, a.d.Config.Language)
		return nil, &Error{Code: f.Code}
	}
	out := []PhoneCredView{}
	for _, ph := range phones {
		out = append(out, PhoneCredView{ID: ph.ID, State: string(ph.State), SecureElement: ph.SecureElement, App: ph.App,
			NotAfter: ph.Certificate.NotAfter, CreatedAt: ph.CreatedAt, Replaced: ph.Replaced})
	}
	return out, nil
}

// PhoneRevoke revokes a phone credential (a lost phone); the phone
// learns it at its next tap.
func (a *App) PhoneRevoke(id, lang string) (ProcedureOutcome, error) {
	ctx, cancel := a.counterCtx()
	defer cancel()
	p, err := a.ports(ctx)
	if err != nil {
		return ProcedureOutcome{}, a.errCounter("phone: ports", err)
	}
	p.Audit, p.Procedure, p.Actor, p.Subject = a.d.Audit, "phone_revoke", a.actor(), id
	out := ProcedureOutcome{Procedure: "phone_revoke", Notices: []i18n.Key{}}
	res, err := p.PhoneRevoke(ctx, id, lang)
	if err != nil {
		out.Failure = a.failure(nil, err, lang)
		return out, nil
	}
	out.OK, out.Receipt = true, res.Receipt.Number
	a.audit("procedure.done", id, map[string]any{"procedure": "phone_revoke"})
	return out, nil
}

// PhoneOffer makes an OpenID4VCI credential offer for a phone credential:
// a QR code for the citizen's wallet and the transaction code to type.
func (a *App) PhoneOffer(id string) (OfferView, error) {
	ctx, cancel := a.counterCtx()
	defer cancel()
	p, err := a.ports(ctx)
	if err != nil {
		return OfferView{}, a.errCounter("phone: ports", err)
	}
	var portrait []byte
	a.mu.Lock()
	if a.holder != nil {
		portrait = a.holder.Portrait
	}
	a.mu.Unlock()
	o, err := p.Central.CreateOffer(ctx, jlisKey(), id, api.OfferRequest{Portrait: portrait})
	if err != nil {
		f := a.failure(nil, err, a.d.Config.Language)
		return OfferView{}, &Error{Code: f.Code}
	}
	code, err := qr.Encode(o.OfferURI, qr.M)
	if err != nil {
		return OfferView{}, a.errCounter("phone: offer QR", err)
	}
	a.audit("phone.offer", id, nil)
	return OfferView{QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG()), TxCode: o.TxCode, ExpiresAt: o.ExpiresAt}, nil
}
