package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"

	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/app/passhash"
	"madoguchi/app/secret"
)

// DemoKioskCode is the supervisor code that leaves kiosk mode in the demo
// when no hash is configured (documented in the README).
const DemoKioskCode = "31415926"

// kioskOrder is the order of the language choice: Japanese, easy
// Japanese, English, then the languages of Japan's largest foreign-
// resident groups.
var kioskOrder = []string{"ja", "ja-x-easy", "en", "zh-Hans", "zh-Hant", "ko", "vi", "pt-BR", "es", "fil", "ne", "id", "th"}

// kiosk is the unattended mode's state for the citizen at the screen:
// their language and when they last touched it. Everything of theirs is
// cleared when they finish, or when the idle timeout passes — by a timer
// here, so that a frozen or closed screen cannot keep it.
type kiosk struct {
	mu      sync.Mutex
	active  bool
	lang    string
	last    time.Time
	timer   *time.Timer
	session string // random id for the funnel figures
	proc    string // the procedure chosen
	done    bool   // the procedure finished (ok or not)
	// fails and lockedUntil guard the supervisor code.
	fails       int
	lockedUntil time.Time
}

// KioskSettings are what the kiosk screens need once.
type KioskSettings struct {
	IdleSeconds int             `json:"idleSeconds"`
	WarnSeconds int             `json:"warnSeconds"`
	Shuffle     bool            `json:"shuffle"`
	Languages   []i18n.Language `json:"languages"` // in the order of the language choice
}

// KioskView is the Go side's state of the citizen's session.
type KioskView struct {
	Active      bool   `json:"active"`
	Lang        string `json:"lang,omitempty"`
	SecondsLeft int    `json:"secondsLeft"`
	Card        bool   `json:"card"` // a card session is open
}

// KioskSettings returns the idle timeout, the PIN pad's shuffle and the
// languages in the order the citizen chooses from.
func (a *App) KioskSettings() KioskSettings {
	k := a.d.Config.Kiosk
	s := KioskSettings{IdleSeconds: k.IdleSeconds, WarnSeconds: k.WarnSeconds, Shuffle: k.ShufflePINPad}
	have := map[string]i18n.Language{}
	for _, l := range a.d.Messages.Languages() {
		have[l.Tag] = l
	}
	for _, tag := range kioskOrder {
		if l, ok := have[tag]; ok {
			s.Languages = append(s.Languages, l)
			delete(have, tag)
		}
	}
	for _, l := range a.d.Messages.Languages() {
		if _, ok := have[l.Tag]; ok {
			s.Languages = append(s.Languages, l)
		}
	}
	return s
}

// KioskStart begins a citizen's session in their language.
func (a *App) KioskStart(lang string) KioskView {
	a.kiosk.mu.Lock()
	if !a.kiosk.active {
		a.kiosk.session, a.kiosk.proc, a.kiosk.done = randomID(), "", false
	}
	a.kiosk.active, a.kiosk.lang = true, a.d.Messages.Match(lang)
	a.kiosk.mu.Unlock()
	a.kioskStep("", "start")
	return a.KioskTouch()
}

// KioskChoose records the procedure the citizen chose (for the funnel).
func (a *App) KioskChoose(procedure string) KioskView {
	a.kiosk.mu.Lock()
	a.kiosk.proc = procedure
	a.kiosk.mu.Unlock()
	a.kioskStep(procedure, "procedure")
	return a.KioskTouch()
}

// kioskStep records that the session reached a step.
func (a *App) kioskStep(procedure, step string) {
	k := &a.kiosk
	k.mu.Lock()
	sess := k.session
	if procedure == "" {
		procedure = k.proc
	}
	if step == "done" || step == "failed" {
		k.done = true
	}
	k.mu.Unlock()
	if sess == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := a.d.Store.DB.ExecContext(ctx, `INSERT INTO kiosk_steps (session, at, terminal, procedure, step) VALUES (?, ?, ?, ?, ?)`,
		sess, a.d.Now().UTC().Format("2006-01-02T15:04:05.000Z"), a.d.Config.Terminal, procedure, step); err != nil {
		a.d.Log.Warn("kiosk: funnel step", "err", err)
	}
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// KioskTouch records the citizen's activity and returns the time left
// before the session is cleared.
func (a *App) KioskTouch() KioskView {
	k := &a.kiosk
	idle := time.Duration(a.d.Config.Kiosk.IdleSeconds) * time.Second
	k.mu.Lock()
	if k.active {
		k.last = a.d.Now()
		if k.timer != nil {
			k.timer.Stop()
		}
		k.timer = time.AfterFunc(idle, a.kioskIdle)
	}
	k.mu.Unlock()
	return a.KioskState()
}

// kioskIdle clears the session once the idle time has really passed.
func (a *App) kioskIdle() {
	k := &a.kiosk
	idle := time.Duration(a.d.Config.Kiosk.IdleSeconds) * time.Second
	k.mu.Lock()
	due := k.active && a.d.Now().Sub(k.last) >= idle-50*time.Millisecond
	k.mu.Unlock()
	if due {
		a.d.Log.Info("kiosk: idle timeout, session cleared")
		a.KioskEnd()
	}
}

// KioskEnd clears everything of the citizen: the card session, the
// language, the timer. The screens clear themselves too.
func (a *App) KioskEnd() bool {
	a.endSession()
	k := &a.kiosk
	k.mu.Lock()
	dropped := k.active && k.session != "" && !k.done
	k.mu.Unlock()
	if dropped {
		a.kioskStep("", "dropped")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.session, k.proc, k.done = "", "", false
	if k.timer != nil {
		k.timer.Stop()
		k.timer = nil
	}
	k.active, k.lang, k.last = false, "", time.Time{}
	return true
}

// KioskState reports the session as the Go side holds it (the browser
// tests check it is empty after the idle timeout).
func (a *App) KioskState() KioskView {
	k := &a.kiosk
	k.mu.Lock()
	v := KioskView{Active: k.active, Lang: k.lang}
	if k.active {
		left := time.Duration(a.d.Config.Kiosk.IdleSeconds)*time.Second - a.d.Now().Sub(k.last)
		v.SecondsLeft = max(0, int(left.Round(time.Second)/time.Second))
	}
	k.mu.Unlock()
	a.mu.Lock()
	v.Card = a.sess != nil
	a.mu.Unlock()
	return v
}

// Kiosk errors.
var (
	ErrKioskCode   = &Error{Code: i18n.Key("kiosk.exit.wrong")}
	ErrKioskLocked = &Error{Code: i18n.Key("kiosk.exit.locked")}
	ErrNoWayOut    = &Error{Code: i18n.Key("kiosk.exit.none")}
)

// KioskExit leaves kiosk mode when the supervisor's code is right: the
// window closes. Five wrong codes lock it for five minutes.
func (a *App) KioskExit(code string) (bool, error) {
	v := secret.NewPassword(code)
	defer v.Wipe()
	k := &a.kiosk
	k.mu.Lock()
	if a.d.Now().Before(k.lockedUntil) {
		k.mu.Unlock()
		return false, ErrKioskLocked
	}
	k.mu.Unlock()
	h := a.d.Config.Kiosk.ExitCodeHash
	ok := false
	switch {
	case h != "":
		var err error
		if ok, err = passhash.Verify(h, v); err != nil {
			a.d.Log.Error("kiosk: exit code hash", "err", err)
			return false, ErrNoWayOut
		}
	case a.demo():
		_ = v.Reveal(func(b []byte) error { ok = string(b) == DemoKioskCode; return nil })
	default:
		return false, ErrNoWayOut
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !ok {
		k.fails++
		a.d.Log.Warn("kiosk: wrong supervisor code", "fails", k.fails)
		if k.fails >= 5 {
			k.fails, k.lockedUntil = 0, a.d.Now().Add(5*time.Minute)
			return false, ErrKioskLocked
		}
		return false, ErrKioskCode
	}
	k.fails = 0
	a.d.Log.Info("kiosk: left by a supervisor")
	if a.d.Quit != nil {
		go a.d.Quit()
	}
	return true, nil
}

// KioskCardView is the card on the kiosk's reader: only what the screens
// need (no name, no number).
type KioskCardView struct {
	Generation string      `json:"generation"`
	HasPUK     bool        `json:"hasPUK"`
	PINs       []PINView   `json:"pins"`
	Expiry     flow.Expiry `json:"expiry"`
}

// KioskCard reads the card placed on the kiosk's reader (one placement for
// the whole procedure).
func (a *App) KioskCard() (KioskCardView, error) {
	a.KioskTouch()
	ctx, cancel := a.counterCtx()
	defer cancel()
	a.endSession()
	s, err := a.session(ctx)
	if err != nil {
		return KioskCardView{}, err
	}
	v, err := a.cardView(ctx, s.card)
	if err != nil {
		a.endSession()
		return KioskCardView{}, err
	}
	a.kioskStep("", "card")
	return KioskCardView{Generation: v.Generation, HasPUK: s.card.Profile().HasPUK, PINs: v.PINs, Expiry: v.Expiry}, nil
}

// PhoneView is one smartphone credential on the status screen.
type PhoneView struct {
	State    string    `json:"state"`
	NotAfter time.Time `json:"notAfter"`
}

// KioskStatusView is the certificate and expiry status check.
type KioskStatusView struct {
	Generation string      `json:"generation"`
	Expiry     flow.Expiry `json:"expiry"`
	AuthState  string      `json:"authState"` // good, suspended, revoked, unknown
	SignState  string      `json:"signState"`
	Phones     []PhoneView `json:"phones"`
	Online     bool        `json:"online"`
	PINs       []PINView   `json:"pins"`
}

// KioskStatus checks the card on the reader: the card's and the
// certificates' expiry and states, the smartphone credentials, and the
// tries left of every PIN. No PIN is asked.
func (a *App) KioskStatus() (KioskStatusView, error) {
	a.KioskTouch()
	ctx, cancel := a.counterCtx()
	defer cancel()
	p, err := a.ports(ctx)
	if err != nil {
		return KioskStatusView{}, a.errCounter("kiosk: ports", err)
	}
	s, err := a.session(ctx)
	if err != nil {
		return KioskStatusView{}, err
	}
	st, err := p.StatusCheck(ctx, s.card)
	if err != nil {
		a.endSession()
		a.d.Log.Info("kiosk: status check", "err", err)
		return KioskStatusView{}, ErrNoCard
	}
	a.kioskStep("status_check", "card")
	a.kioskStep("status_check", "done")
	v := KioskStatusView{Generation: st.Generation, Expiry: st.Expiry, AuthState: st.AuthState, SignState: st.SignState, Online: st.Online, Phones: []PhoneView{}}
	for _, ph := range st.Phones {
		v.Phones = append(v.Phones, PhoneView{State: ph.State, NotAfter: ph.NotAfter})
	}
	v.PINs = pinViews(s.card.Profile(), st.Tries)
	return v, nil
}
