package flow

import (
	"time"

	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis/jpki"
)

// Expiry is the card's and its certificates' validity, which every result
// screen and receipt shows side by side (citizens confuse the two,
// domain.md §1). A zero time means "none" (no certificate, or not known).
type Expiry struct {
	Card time.Time `json:"card,omitzero"`
	Auth time.Time `json:"auth,omitzero"`
	Sign time.Time `json:"sign,omitzero"`
	// …Due: inside the renewal window (or already expired).
	CardDue bool `json:"cardDue"`
	AuthDue bool `json:"authDue"`
	SignDue bool `json:"signDue"`
}

// RenewalFrom is the first day a card or certificate expiring at notAfter
// can be renewed: three months before for the current card, a year before
// for the next generation (domain.md §1).
func RenewalFrom(p *card.Profile, notAfter time.Time) time.Time {
	t := notAfter.In(jpki.JST)
	if p == card.Next {
		return t.AddDate(-1, 0, 0)
	}
	return t.AddDate(0, -3, 0)
}

// Due reports whether something expiring at notAfter is inside its
// renewal window at now (false for the zero time).
func Due(p *card.Profile, notAfter, now time.Time) bool {
	return !notAfter.IsZero() && !now.Before(RenewalFrom(p, notAfter))
}

// NewExpiry fills in the Due flags.
func NewExpiry(p *card.Profile, cardExpiry, auth, sign, now time.Time) Expiry {
	return Expiry{Card: cardExpiry, Auth: auth, Sign: sign,
		CardDue: Due(p, cardExpiry, now), AuthDue: Due(p, auth, now), SignDue: Due(p, sign, now)}
}

// CardExpiry parses the central record's YYYYMMDD card expiry (the end of
// that day in Japan); zero when empty or malformed.
func CardExpiry(s string) time.Time {
	t, err := time.ParseInLocation("20060102", s, jpki.JST)
	if err != nil {
		return time.Time{}
	}
	return t.AddDate(0, 0, 1).Add(-time.Second)
}
