package flow

import (
	"context"
	"errors"
	"time"

	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
)

// Certificate states a status check reports: the central system's
// (api.CertState), or StateUnknown when it cannot tell (offline, or a
// certificate it does not know).
const (
	StateGood      = string(api.CertGood)
	StateSuspended = string(api.CertSuspended)
	StateRevoked   = string(api.CertRevoked)
	StateUnknown   = "unknown"
)

// Status is what the kiosk's certificate and expiry check shows.
type Status struct {
	// Generation is the card's profile: "current" or "next".
	Generation string
	// Expiry: the card's (from the central record), the auth
	// certificate's (from the card) and the signature certificate's (from
	// the central record: reading it from the card needs the signature
	// password). Zero: none, or not known offline.
	Expiry Expiry
	// AuthState is the auth certificate's state at the central system,
	// SignState that of the card's newest signature certificate there:
	// StateGood, StateSuspended, StateRevoked or StateUnknown.
	AuthState, SignState string
	// Phones are the smartphone credentials of the card's holder, as the
	// central record lists them (revoked and replaced ones too).
	Phones []PhoneStatus
	// Online: the central system answered; when false the states are
	// StateUnknown and only the card was read.
	Online bool
	// Tries are the tries left of every PIN of the card (the PUK
	// included), read without spending one.
	Tries map[card.PINKind]int
}

// PhoneStatus is one smartphone credential.
type PhoneStatus struct {
	State    string
	NotAfter time.Time
}

// StatusCheck is the kiosk's certificate and expiry check (domain.md §2):
// no PIN. It reads the auth certificate and the tries of every PIN from
// the card (step card), then asks the central system (step checks) for
// the card record — the card's expiry, the signature certificate and the
// phone credentials — and for the auth certificate's state. With the
// central system unreachable it still answers from the card: Online is
// false and the states are StateUnknown. It records a status_check
// procedure (no receipt, no personal data) with its statistics event.
func (p Ports) StatusCheck(ctx context.Context, c *card.Card) (Status, error) {
	started := p.now()
	prof := c.Profile()
	st := Status{Generation: prof.Name, AuthState: StateUnknown, SignState: StateUnknown, Phones: []PhoneStatus{}}
	if err := p.step(ctx, StepCard); err != nil {
		return Status{}, err
	}
	ac, err := c.AuthCertificate(ctx)
	if err != nil && card.IsGone(err) {
		return Status{}, stop(StepCard, err)
	}
	if err != nil {
		ac = nil // no certificate on the card (a blank card)
	}
	if st.Tries, err = c.AllTries(ctx); err != nil {
		return Status{}, stop(StepCard, err)
	}
	var auth, sign, cardExp time.Time
	if ac != nil {
		auth = ac.NotAfter
	}

	if err := p.step(ctx, StepChecks); err != nil {
		return Status{}, err
	}
	rec, err := p.Central.Card(ctx, c.Serial())
	switch {
	case err == nil:
		st.Online = true
		cardExp = CardExpiry(rec.CardExpiry)
		sign = latest(rec.Certificates, api.CASign)
		for _, cs := range rec.Certificates {
			switch cs.Purpose {
			case api.CASign: // the record lists certificates oldest first
				st.SignState = string(cs.State)
			case api.CAPhone:
				st.Phones = append(st.Phones, PhoneStatus{State: string(cs.State), NotAfter: cs.NotAfter})
			}
		}
		if ac != nil {
			cs, err := p.Central.CertificateStatus(ctx, jlis.CertSerial(ac))
			switch {
			case err == nil && cs.CardSerial == c.Serial():
				st.AuthState = string(cs.State)
			case errors.Is(err, jlis.ErrUnreachable):
				st.Online = false
			}
		}
	case errors.Is(err, jlis.ErrUnreachable):
		// Offline: the card alone.
	case errors.Is(err, jlis.ErrNotFound):
		st.Online = true // a card the central system does not know
	default:
		if p.Log != nil {
			p.Log.Warn("status check: central record", "err", err)
		}
	}
	if !st.Online {
		st.AuthState, st.SignState, st.Phones = StateUnknown, StateUnknown, []PhoneStatus{}
		cardExp, sign = time.Time{}, time.Time{}
	}
	st.Expiry = NewExpiry(prof, cardExp, auth, sign, p.now())
	if _, err := p.record(ctx, "status_check", c.Serial(), started, "ok", map[string]any{"profile": prof.Name, "online": st.Online},
		p.event("status-check", map[string]any{"profile": prof.Name, "online": st.Online})); err != nil {
		return st, err
	}
	return st, nil
}
