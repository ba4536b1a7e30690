package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"madoguchi/app/faceimg"
	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/app/identity"
	"madoguchi/app/pinpolicy"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
)

// CardSource gives the card in the counter's reader.
type CardSource interface {
	// Open connects to the card in the reader (card.ErrNoCard when none);
	// close ends the connection.
	Open(ctx context.Context) (c *card.Card, close func(), err error)
}

// DemoCards puts a fresh virtual card into the built-in reader (demo
// only): "blank" (as delivered, for issuance), "issued", "due" (its
// certificates inside their renewal window), each optionally with
// "-next" for the next generation.
type DemoCards interface {
	Insert(ctx context.Context, kind string) error
}

// CounterDeps wire the counter procedures.
type CounterDeps struct {
	// Ports returns the flows' ports once the central connection is set
	// up (it may still be unreachable: the flows say so).
	Ports  func(ctx context.Context) (flow.Ports, error)
	Cards  CardSource
	Phones PhoneSource // nil: no phone procedures
	Demo   DemoCards   // nil outside the demo
}

// counterSession is the card on the counter's reader for one citizen:
// opened once, used by every step, closed by CounterEnd.
type counterSession struct {
	card  *card.Card
	close func()
}

// HolderView is the card record's holder as the clerk sees it.
type HolderView struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	BirthDate string `json:"birthDate"` // YYYY-MM-DD
	Sex       string `json:"sex"`
	Age       int    `json:"age"`
}

// PINView is one PIN of the card for the PIN pad.
type PINView struct {
	Kind     string   `json:"kind"`
	Label    i18n.Key `json:"label"`
	Min      int      `json:"min"`
	Max      int      `json:"max"`
	Digits   bool     `json:"digits"` // digits only; else A–Z and 0–9
	Tries    int      `json:"tries"`  // left now (-1: not known)
	MaxTries int      `json:"maxTries"`
	// Notice is what to say before an entry: the count and the
	// consequence of the next failure.
	Notice pinpolicy.Notice `json:"notice"`
}

// CardView is what the counter shows of the card in the reader.
type CardView struct {
	SerialLast4 string      `json:"serialLast4"`
	Generation  string      `json:"generation"` // current or next
	State       string      `json:"state"`      // at the central system; "" offline
	Holder      HolderView  `json:"holder"`
	Expiry      flow.Expiry `json:"expiry"`
	PINs        []PINView   `json:"pins"`
	// FaceCheckLength is the length of the number printed on the card
	// that opens the face photo (照合番号B: 14 digits; next generation: 6).
	FaceCheckLength int  `json:"faceCheckLength"`
	Demo            bool `json:"demo"`
}

// Errors of the counter screens.
var (
	ErrNoCounter = &Error{Code: i18n.Key("counter.error.unavailable")}
	ErrNoCard    = &Error{Code: i18n.Key("counter.error.no_card")}
	ErrDemoOnly  = &Error{Code: i18n.Key("counter.error.demo_only")}
	ErrFaceCheck = &Error{Code: i18n.Key("counter.error.face_check")}
)

func (a *App) counterCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// session returns the open card session, opening one if needed.
func (a *App) session(ctx context.Context) (*counterSession, error) {
	if a.d.Counter == nil || a.d.Counter.Cards == nil {
		return nil, ErrNoCounter
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sess != nil {
		return a.sess, nil
	}
	c, closeFn, err := a.d.Counter.Cards.Open(ctx)
	if err != nil {
		a.d.Log.Debug("counter: no card", "err", err)
		return nil, ErrNoCard
	}
	a.sess = &counterSession{card: c, close: closeFn}
	return a.sess, nil
}

// endSession closes the card session (the card may be taken).
func (a *App) endSession() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sess != nil {
		a.sess.close()
		a.sess = nil
	}
}

// CounterEnd ends the citizen's session: the card connection closes and
// nothing of the citizen stays in memory.
func (a *App) CounterEnd() bool {
	a.endSession()
	return true
}

// CounterCard reads the card on the counter's reader (one placement for
// the whole procedure) and its record at the central system.
func (a *App) CounterCard() (CardView, error) {
	ctx, cancel := a.counterCtx()
	defer cancel()
	a.endSession() // a new citizen, or the card placed again
	s, err := a.session(ctx)
	if err != nil {
		return CardView{}, err
	}
	v, err := a.cardView(ctx, s.card)
	if err != nil {
		a.endSession()
		return CardView{}, err
	}
	return v, nil
}

func (a *App) cardView(ctx context.Context, c *card.Card) (CardView, error) {
	prof := c.Profile()
	v := CardView{SerialLast4: flow.SerialTail(c.Serial()), Generation: prof.Name, Demo: a.demo(), FaceCheckLength: 14}
	if prof == card.Next {
		v.FaceCheckLength = 6
	}
	tries, err := c.AllTries(ctx)
	if err != nil && card.IsGone(err) {
		return CardView{}, ErrNoCard
	}
	v.PINs = pinViews(prof, tries)
	var auth time.Time
	if cert, err := c.AuthCertificate(ctx); err == nil {
		auth = cert.NotAfter
	}
	var sign time.Time
	var cardExpiry time.Time
	if p, err := a.ports(ctx); err == nil {
		if rec, err := p.Central.Card(ctx, c.Serial()); err == nil {
			v.State = string(rec.State)
			h := rec.Holder
			v.Holder = HolderView{Name: h.Name, Address: h.Address, BirthDate: isoDate(h.BirthDate), Sex: h.Sex, Age: jpki.AgeAt(h.BirthDate, a.d.Now())}
			cardExpiry = flow.CardExpiry(rec.CardExpiry)
			for _, cs := range rec.Certificates {
				if cs.Purpose == "sign" && cs.State == api.CertGood && cs.NotAfter.After(sign) {
					sign = cs.NotAfter
				}
			}
		}
	}
	v.Expiry = flow.NewExpiry(prof, cardExpiry, auth, sign, a.d.Now())
	return v, nil
}

func (a *App) ports(ctx context.Context) (flow.Ports, error) {
	if a.d.Counter == nil || a.d.Counter.Ports == nil {
		return flow.Ports{}, ErrNoCounter
	}
	return a.d.Counter.Ports(ctx)
}

func isoDate(yyyymmdd string) string {
	if len(yyyymmdd) != 8 {
		return yyyymmdd
	}
	return yyyymmdd[:4] + "-" + yyyymmdd[4:6] + "-" + yyyymmdd[6:]
}

// pinViews describes every PIN of a profile with its tries left (-1: not
// known) and what to say before an entry.
func pinViews(prof *card.Profile, tries map[card.PINKind]int) []PINView {
	var out []PINView
	for _, spec := range prof.PINs {
		t, ok := tries[spec.Kind]
		if !ok {
			t = -1
		}
		pv := PINView{Kind: string(spec.Kind), Label: pinLabel(spec.Kind), Min: spec.Min, Max: spec.Max,
			Digits: spec.Charset == card.Digits, Tries: t, MaxTries: spec.MaxTries}
		if t >= 0 {
			pv.Notice = pinpolicy.BeforeEntry(t)
		}
		out = append(out, pv)
	}
	return out
}

// pinLabel is the message key naming a PIN.
func pinLabel(k card.PINKind) i18n.Key {
	switch k {
	case card.PINAuth:
		return i18n.Key("pin.auth")
	case card.PINSign:
		return i18n.Key("pin.sign")
	case card.PINInputAssist:
		return i18n.Key("pin.input_assist")
	case card.PINResident:
		return i18n.Key("pin.resident")
	case "face-check":
		return i18n.Key("counter.face_check")
	}
	return i18n.Key("pin.puk")
}

// FaceView is the card's face photo for comparison with the citizen.
type FaceView struct {
	// Photo is a data: URL of a PNG.
	Photo  string `json:"photo"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// CounterFace opens the card-face application with the number printed on
// the card (照合番号B, or the next generation's 6 digits), which the
// clerk types, and returns the photo decoded for display.
func (a *App) CounterFace(check string) (FaceView, error) {
	ctx, cancel := a.counterCtx()
	defer cancel()
	s, err := a.session(ctx)
	if err != nil {
		return FaceView{}, err
	}
	v := secret.New(secret.KindPIN, strings.TrimSpace(check))
	defer v.Wipe()
	f, err := s.card.Face(ctx, v)
	if err != nil {
		if card.IsGone(err) {
			a.endSession()
			return FaceView{}, ErrNoCard
		}
		a.d.Log.Info("counter: face check", "err", err)
		return FaceView{}, ErrFaceCheck
	}
	png, size, err := faceimg.PNG(ctx, f.Photo, 0)
	if err != nil {
		a.d.Log.Warn("counter: face photo", "err", err)
		return FaceView{}, &Error{Code: i18n.Key("counter.error.photo")}
	}
	return FaceView{Photo: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), Width: size.X, Height: size.Y}, nil
}

// DocumentView is one identity document of the clerk's checklist.
type DocumentView struct {
	ID    string   `json:"id"`
	Photo bool     `json:"photo"` // one suffices; else two are needed
	Label i18n.Key `json:"label"`
}

// IdentityDocuments lists the documents the clerk may tick.
func (a *App) IdentityDocuments() []DocumentView {
	var out []DocumentView
	for _, d := range identity.Documents() {
		out = append(out, DocumentView{ID: string(d.ID), Photo: d.Kind == identity.KindPhoto, Label: d.Label})
	}
	return out
}

// PINCheckRequest asks whether a new PIN is acceptable.
type PINCheckRequest struct {
	Kind    string `json:"kind"`
	PIN     string `json:"pin"`
	Confirm string `json:"confirm"` // empty: not entered yet
}

// PINCheck is the PIN pad's verdict: Error (the format, or the
// confirmation differs) blocks; Warnings (weak PIN) ask the citizen to
// think again but allow it.
type PINCheck struct {
	OK       bool                `json:"ok"`
	Error    i18n.Key            `json:"error,omitempty"`
	Data     map[string]any      `json:"data,omitempty"`
	Warnings []pinpolicy.Warning `json:"warnings"`
}

// CheckNewPIN checks a new PIN for the card in the reader (its format,
// the confirmation, and weak choices such as the birth date).
func (a *App) CheckNewPIN(r PINCheckRequest) (PINCheck, error) {
	pin := secret.New(secret.KindPIN, r.PIN)
	defer pin.Wipe()
	prof := card.Current
	var birth string
	a.mu.Lock()
	if a.sess != nil {
		prof = a.sess.card.Profile()
	}
	a.mu.Unlock()
	spec, ok := prof.PIN(card.PINKind(r.Kind))
	if !ok {
		return PINCheck{}, &Error{Code: i18n.Key("counter.error.no_such_pin")}
	}
	if a.sess != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if p, err := a.ports(ctx); err == nil {
			if rec, err := p.Central.Card(ctx, a.sess.card.Serial()); err == nil {
				birth = rec.Holder.BirthDate
			}
		}
		cancel()
	}
	ferr, warns := pinpolicy.Check(spec, pin, secret.Value{}, pinpolicy.Holder{BirthDate: birth})
	out := PINCheck{OK: ferr == nil, Warnings: warns}
	if out.Warnings == nil {
		out.Warnings = []pinpolicy.Warning{}
	}
	if ferr != nil {
		out.Error, out.Data = i18n.Key("counter.pin.format"), map[string]any{"Min": spec.Min, "Max": spec.Max}
		if spec.Charset != card.Digits {
			out.Error = i18n.Key("counter.pin.format_alnum")
		}
		return out, nil
	}
	if r.Confirm != "" && !strings.EqualFold(r.Confirm, r.PIN) {
		out.OK, out.Error = false, i18n.Key("counter.pin.mismatch")
	}
	return out, nil
}

// DemoInsert puts a fresh virtual card into the built-in reader (demo
// only) and reads it.
func (a *App) DemoInsert(kind string) (CardView, error) {
	if a.d.Counter == nil || a.d.Counter.Demo == nil {
		return CardView{}, ErrDemoOnly
	}
	ctx, cancel := a.counterCtx()
	defer cancel()
	a.endSession()
	if err := a.d.Counter.Demo.Insert(ctx, kind); err != nil {
		a.d.Log.Error("demo card", "kind", kind, "err", err)
		return CardView{}, &Error{Code: i18n.Key("counter.error.demo_card")}
	}
	return a.CounterCard()
}

// errCounter turns an unexpected error into ErrInternal (logged).
func (a *App) errCounter(what string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	a.d.Log.Error(what, "err", err)
	return fmt.Errorf("%w", ErrInternal)
}
