package app

import (
	"context"
	"errors"
	"strings"
	"time"

	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/app/identity"
	"madoguchi/app/pinpolicy"
	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/app/staff"
	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis"
)

// IdentityInput is the identity step as the clerk recorded it.
type IdentityInput struct {
	Documents           []string `json:"documents"`
	Proxy               bool     `json:"proxy"`
	LegalRepresentative bool     `json:"legalRepresentative"`
	FaceMatched         bool     `json:"faceMatched"`
}

// PINEntry is one PIN the citizen typed on the PIN pad. It lives only for
// the call: the flow wipes its copy, and nothing keeps it.
type PINEntry struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// ProcedureRequest runs one counter procedure on the card in the reader.
type ProcedureRequest struct {
	// Procedure: issuance, card_renewal, cert_renewal, change_of_details,
	// pin_reset, puk_unlock, suspension, suspension_lift, return.
	Procedure string        `json:"procedure"`
	Identity  IdentityInput `json:"identity"`
	// PINs: new PINs (issuance, card renewal, PIN reset, PUK unlock's new
	// PIN) or the PINs the citizen knows (renewal, change of details; the
	// PUK).
	PINs []PINEntry `json:"pins"`
	// Entries is how many values the citizen typed (one value may set the
	// three 4-digit PINs).
	Entries int `json:"entries"`
	// Target is the PIN a PIN reset sets.
	Target string `json:"target,omitempty"`
	// Serial is the card of a suspension, its lifting or a return when it
	// is not in the reader (lost cards are not); empty: the card in the
	// reader.
	Serial    string `json:"serial,omitempty"`
	OldSerial string `json:"oldSerial,omitempty"`
	Name      string `json:"name,omitempty"`
	Address   string `json:"address,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Reissue   bool   `json:"reissue,omitempty"`
	Lang      string `json:"lang"`
}

// Failure says where a procedure stopped and why, in the clerk's words.
type Failure struct {
	Step  string         `json:"step"`
	Code  i18n.Key       `json:"code"`
	Count int            `json:"count"` // for plural messages (tries left)
	Data  map[string]any `json:"data,omitempty"`
	// Resume: place the card again (or wait for the central system) and
	// run the same procedure; what was done is kept.
	Resume bool `json:"resume"`
}

// ProcedureOutcome is the result screen.
type ProcedureOutcome struct {
	OK        bool        `json:"ok"`
	Procedure string      `json:"procedure"`
	Receipt   string      `json:"receipt,omitempty"`
	Printed   i18n.Key    `json:"printed,omitempty"` // what the printer did
	Expiry    flow.Expiry `json:"expiry"`
	Queued    bool        `json:"queued"`
	Notices   []i18n.Key  `json:"notices"`
	Failure   *Failure    `json:"failure,omitempty"`
	// Figures: software time, commands sent to the card.
	Ms    int64 `json:"ms"`
	APDUs int   `json:"apdus"`
}

// RunProcedure performs one counter procedure end to end through its
// flow. A procedure that stops is an outcome with a Failure, not an
// error: the screen says where and what to do.
func (a *App) RunProcedure(r ProcedureRequest) (ProcedureOutcome, error) {
	if r.Procedure == "reserved_reset" {
		return ProcedureOutcome{}, &Error{Code: i18n.Key("counter.error.unknown_procedure")}
	}
	// Outside the demo a clerk (or supervisor) must be logged in.
	if !a.demo() {
		if _, err := a.authorize(staff.ActProcedure, nil); err != nil {
			return ProcedureOutcome{}, err
		}
	}
	return a.run(r)
}

// KioskRun performs a kiosk procedure: puk_unlock or reserved_reset (the
// PIN to reset in Target, the other PIN as its own kind, the new value as
// kind "new").
func (a *App) KioskRun(r ProcedureRequest) (ProcedureOutcome, error) {
	a.KioskTouch()
	if r.Procedure != "puk_unlock" && r.Procedure != "reserved_reset" {
		return ProcedureOutcome{}, &Error{Code: i18n.Key("counter.error.unknown_procedure")}
	}
	a.kioskStep(r.Procedure, "pins")
	out, err := a.run(r)
	switch {
	case err == nil && out.OK:
		a.kioskStep(r.Procedure, "done")
	case err == nil && out.Failure != nil && !out.Failure.Resume && out.Failure.Count == 0:
		a.kioskStep(r.Procedure, "failed")
	}
	return out, err
}

func (a *App) run(r ProcedureRequest) (ProcedureOutcome, error) {
	ctx, cancel := a.counterCtx()
	defer cancel()
	pins := map[card.PINKind]secret.Value{}
	for _, e := range r.PINs {
		pins[card.PINKind(e.Kind)] = secret.New(secret.KindPIN, e.Value)
	}
	r.PINs = nil
	defer func() {
		for _, v := range pins {
			v.Wipe()
		}
	}()
	p, err := a.ports(ctx)
	if err != nil {
		return ProcedureOutcome{}, a.errCounter("counter: ports", err)
	}
	if r.Lang == "" {
		r.Lang = a.d.Config.Language
	}
	p.Audit, p.Procedure, p.Actor = a.d.Audit, r.Procedure, a.actor()
	a.mu.Lock()
	if a.sess != nil {
		p.Subject = flow.SerialTail(a.sess.card.Serial())
	} else if r.Serial != "" {
		p.Subject = flow.SerialTail(strings.TrimSpace(r.Serial))
	}
	a.mu.Unlock()
	started := time.Now()
	out := ProcedureOutcome{Procedure: r.Procedure, Notices: []i18n.Key{}}
	visit := identity.Visit{Proxy: r.Identity.Proxy, LegalRepresentative: r.Identity.LegalRepresentative, FaceMatched: r.Identity.FaceMatched}
	for _, d := range r.Identity.Documents {
		visit.Documents = append(visit.Documents, identity.Document(d))
	}
	var res flow.Result
	var c *card.Card
	withCard := func() error {
		s, err := a.session(ctx)
		if err != nil {
			return err
		}
		c = s.card
		return nil
	}
	serial := func() (string, error) {
		if r.Serial != "" {
			return strings.TrimSpace(r.Serial), nil
		}
		if err := withCard(); err != nil {
			return "", err
		}
		return c.Serial(), nil
	}
	switch r.Procedure {
	case "issuance", "card_renewal":
		if err = withCard(); err == nil {
			in := flow.IssueInput{Visit: visit, PINs: pins, Entries: r.Entries, Lang: r.Lang, OldSerial: strings.TrimSpace(r.OldSerial)}
			if r.Procedure == "issuance" {
				res, err = p.Issue(ctx, c, in)
			} else {
				res, err = p.RenewCard(ctx, c, in)
			}
		}
	case "cert_renewal":
		if err = withCard(); err == nil {
			res, err = p.RenewCert(ctx, c, flow.RenewCertInput{Visit: visit, PINs: pins, Reissue: r.Reissue, Lang: r.Lang, Entries: r.Entries})
		}
	case "change_of_details":
		if err = withCard(); err == nil {
			res, err = p.ChangeDetails(ctx, c, flow.DetailsInput{Visit: visit, Name: r.Name, Address: r.Address, PINs: pins, Lang: r.Lang, Entries: r.Entries})
		}
	case "pin_reset":
		if err = withCard(); err == nil {
			kind := card.PINKind(r.Target)
			var pr flow.PINResetResult
			pr, err = p.PINReset(ctx, c, flow.PINResetInput{PIN: kind, NewPIN: pins[kind], Lang: r.Lang, Visit: visit})
			res = flow.Result{ProcedureID: pr.ProcedureID, Receipt: pr.Receipt, APDUs: pr.APDUs, Expiry: pr.Expiry}
		}
	case "reserved_reset":
		if err = withCard(); err == nil {
			kind := card.PINKind(r.Target)
			other := card.PINAuth
			if kind == card.PINAuth {
				other = card.PINSign
			}
			res, err = p.ReservedReset(ctx, c, flow.ReservedResetInput{PIN: kind, Proof: pins[other], NewPIN: pins["new"], Lang: r.Lang})
		}
	case "puk_unlock":
		if err = withCard(); err == nil {
			var pr flow.PUKUnlockResult
			pr, err = p.PUKUnlock(ctx, c, flow.PUKUnlockInput{PUK: pins[card.PUK], NewPIN: pins[card.PINAuth], Lang: r.Lang})
			res = flow.Result{ProcedureID: pr.ProcedureID, Receipt: pr.Receipt, APDUs: pr.APDUs, Queued: true}
		}
	case "suspension", "return":
		var s string
		if s, err = serial(); err == nil {
			var sr flow.SuspendResult
			if r.Procedure == "suspension" {
				sr, err = p.Suspend(ctx, flow.SuspendInput{Serial: s, Reason: r.Reason, Lang: r.Lang}, a.online())
			} else {
				sr, err = p.Return(ctx, flow.ReturnInput{Serial: s, Lang: r.Lang})
			}
			res = flow.Result{ProcedureID: sr.ProcedureID, Receipt: sr.Receipt, Queued: true}
		}
	case "suspension_lift":
		var s string
		if s, err = serial(); err == nil {
			var rr receipt.Record
			rr, err = p.Resume(ctx, s, r.Lang, "")
			res = flow.Result{Receipt: rr}
		}
	default:
		return ProcedureOutcome{}, &Error{Code: i18n.Key("counter.error.unknown_procedure")}
	}
	out.Ms = time.Since(started).Milliseconds()
	if c != nil {
		out.APDUs = c.APDUCount()
	}
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return ProcedureOutcome{}, ae
		}
		out.Failure = a.failure(c, err, r.Lang)
		a.audit("procedure.stopped", p.Subject, map[string]any{"procedure": r.Procedure, "step": out.Failure.Step, "code": string(out.Failure.Code)})
		a.d.Log.Info("counter procedure stopped", "procedure", r.Procedure, "step", out.Failure.Step, "code", string(out.Failure.Code))
		if out.Failure.Code == i18n.Key("flow.error.card_removed") {
			a.endSession()
		}
		return out, nil
	}
	out.OK, out.Receipt, out.Expiry, out.Queued = true, res.Receipt.Number, res.Expiry, res.Queued
	a.audit("procedure.done", p.Subject, map[string]any{"procedure": r.Procedure, "receipt": res.Receipt.Number})
	if r.Procedure == "suspension" || r.Procedure == "return" {
		// Sent at once when the central system answers (a suspension
		// must not wait for the next round of the queue's worker).
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		w := queue.NewWorker(p.Queue, queue.Options{Kinds: queue.CentralKinds(p.Central)})
		if _, err := w.Drain(dctx); err == nil {
			if b, err := queue.Backlog(dctx, p.Store.DB); err == nil && b.Pending == 0 {
				out.Queued = false
			}
		}
		cancel()
	}
	if res.Notices != nil {
		out.Notices = res.Notices
	}
	if res.Receipt.Number != "" && p.Receipts != nil {
		if pr, err := p.Receipts.Print(ctx, res.Receipt.Number, ""); err == nil {
			out.Printed = pr.Message
		}
	}
	return out, nil
}

// failure maps a flow's error onto what the clerk sees.
func (a *App) failure(c *card.Card, err error, lang string) *Failure {
	f := Describe(c, err, a.d.Messages, a.d.Messages.Match(lang))
	if f.Code == i18n.Key("flow.error.failed") {
		a.d.Log.Error("counter procedure", "err", err)
	}
	return f
}

// Describe maps a flow's error onto what the clerk sees (the screens and
// the CLI share it); dates are formatted in lang.
func Describe(c *card.Card, err error, msgs *i18n.Bundle, lang string) *Failure {
	f := &Failure{Code: i18n.Key("flow.error.failed")}
	var se *flow.StepError
	if errors.As(err, &se) {
		f.Step = string(se.Step)
	}
	var we *card.WrongPINError
	var fe *card.PINFormatError
	var nd *flow.NotDueError
	var ie *identity.Error
	switch {
	case card.IsGone(err):
		f.Code, f.Resume = i18n.Key("flow.error.card_removed"), true
	case errors.Is(err, flow.ErrCentralDown), errors.Is(err, jlis.ErrUnreachable):
		f.Code, f.Resume = i18n.Key("flow.error.central_down"), true
	case errors.As(err, &we):
		puk := c != nil && c.Profile().HasPUK && we.PIN == card.PINAuth
		n := pinpolicy.AfterWrong(we.Remaining, puk)
		f.Code, f.Count, f.Data = n.Key, n.Count, map[string]any{"PIN": msgs.T(lang, pinLabel(we.PIN), nil), "PINKind": string(we.PIN)}
	case errors.Is(err, card.ErrBlocked):
		f.Code = i18n.Key("flow.error.blocked")
	case errors.As(err, &fe):
		f.Code, f.Data = i18n.Key("counter.pin.format"), map[string]any{"Min": fe.Min, "Max": fe.Max, "PIN": string(fe.PIN)}
	case errors.As(err, &ie):
		f.Code, f.Data = ie.Key, ie.Data
	case errors.As(err, &nd):
		f.Code, f.Data = i18n.Key("flow.error.not_due"), map[string]any{"From": msgs.FormatDate(lang, nd.From)}
	case errors.Is(err, flow.ErrAlreadyIssued):
		f.Code = i18n.Key("flow.error.already_issued")
	case errors.Is(err, flow.ErrWrongState):
		f.Code = i18n.Key("flow.error.wrong_state")
	case errors.Is(err, flow.ErrNothingChanged):
		f.Code = i18n.Key("flow.error.nothing_changed")
	case errors.Is(err, flow.ErrMissingPIN):
		f.Code = i18n.Key("flow.error.missing_pin")
	case errors.Is(err, flow.ErrNoReservation):
		f.Code = i18n.Key("flow.error.no_reservation")
	case errors.Is(err, flow.ErrNotSuspended):
		f.Code = i18n.Key("flow.error.not_suspended")
	case errors.Is(err, card.ErrNoSuchPIN):
		f.Code = i18n.Key("counter.error.no_such_pin")
	case jlis.Code(err) != "":
		f.Code, f.Data = i18n.Key("flow.error.refused"), map[string]any{"Code": jlis.Code(err)}
	}
	return f
}
