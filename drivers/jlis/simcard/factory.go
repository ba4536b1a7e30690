// Package simcard makes virtual Individual Number Cards (drivers/card/sim)
// for Madoguchi's reference central system (drivers/jlis/sim), as J-LIS
// makes the cards: under the central simulator's card issuer and its
// card-management master key, and registered with the running server, so
// that the server can authorise privileged commands on them and sign new
// input-assist data for them. It is for the demo and the self-test.
//
// It is a package of its own, not part of drivers/jlis/sim, because it
// uses the client (drivers/jlis), whose tests import drivers/jlis/sim.
package simcard

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
	"madoguchi/drivers/jlis/sim"
)

// FactoryOptions describe a virtual card made for this central system.
type FactoryOptions struct {
	// Profile is the card's generation; default card.Current.
	Profile *card.Profile
	// Holder is the person on the card; default cardsim.DemoHolder. Each
	// field left empty is taken from DemoHolder, so a holder given only a
	// name, address, birth date and sex keeps DemoHolder's individual
	// number, municipality and security code.
	Holder cardsim.Holder
	// Blank makes the card as delivered to the municipality: PINs unset,
	// no keys or certificates; the record ends in state delivered.
	Blank bool
	// Issued is, for a non-blank card, when it was issued; back-date it to
	// make a card or its certificates inside their renewal window (the
	// certificates run to the 5th birthday after Issued, the card to the
	// 10th). Default now; a blank card is made now.
	Issued time.Time
	// PINs are a non-blank card's PINs; default cardsim.DemoPINs.
	PINs cardsim.PINs
}

// MakeCard makes a virtual card under this central system's card issuer
// and master key (dir is the simulator's directory as given to sim.Init),
// registers it with the running server through client (POST /v1/cards,
// then the transition to delivered, then — non-blank only — to issued),
// and returns its state. The card's management key is
// card.DiversifyKey(master, serial), so the server's cryptograms open it;
// its input-assist data is signed by sim.CardIssuer(dir), so the server
// can sign new data for it (change of details) and a terminal verifies it
// with that issuer's CV root.
//
// A non-blank card's keys and certificates are made by the card issuer's
// own demo CAs (as cardsim.Generate does), not by the central system's
// CAs, as a real card leaves its factory with them; the registration
// declares them (api.NewCard.Certificates), so the central record lists
// them, their state can be asked and renewal revokes them (its OCSP
// answers only for its own CAs). Certificates issued later through the
// central system (proof of possession, POST .../certificates) are the
// central system's.
//
// Engine and driver: cardsim.New(state, path, log), then
// card.Open(ctx, cardsim.NewSlot(engine), card.Options{}).
func MakeCard(ctx context.Context, dir string, client *jlis.Client, o FactoryOptions) (*cardsim.State, error) {
	if client == nil {
		return nil, fmt.Errorf("make card: no central client")
	}
	p := o.Profile
	if p == nil {
		p = card.Current
	}
	h := withDefaults(o.Holder)
	pins := o.PINs
	if pins == (cardsim.PINs{}) {
		pins = cardsim.DemoPINs
	}
	issued := o.Issued
	if issued.IsZero() || o.Blank {
		issued = time.Now()
	}
	iss, err := sim.CardIssuer(dir)
	if err != nil {
		return nil, fmt.Errorf("make card: %w", err)
	}
	serial := newSerial()
	mgmt, err := sim.CardKey(dir, serial)
	if err != nil {
		return nil, fmt.Errorf("make card: %w", err)
	}
	st, err := cardsim.Generate(iss, cardsim.Options{Profile: p, Holder: h, PINs: pins, Issued: issued, Blank: o.Blank, Serial: serial, MgmtKey: mgmt})
	if err != nil {
		return nil, fmt.Errorf("make card: %w", err)
	}
	v, err := cardsim.ValidityFor(p, h.BirthDate, issued)
	if err != nil {
		return nil, fmt.Errorf("make card: %w", err)
	}
	nc := api.NewCard{
		Serial: serial, Profile: p.Name, Municipality: h.Municipality,
		Holder: api.Holder{Name: h.Name, Address: h.Address, BirthDate: h.BirthDate, Sex: h.Sex},
		// The card's own expiry, which a back-dated card computes from
		// its issue date, not the server's now.
		CardExpiry: v.Card.In(jpki.JST).Format("20060102"),
	}
	// The central system learns the certificates the card leaves the
	// factory with, so that it can tell their state and revoke them.
	auth, sign := st.Certificates()
	if auth != nil {
		nc.Certificates = append(nc.Certificates, api.FactoryCertificate{Purpose: api.CAAuth, DER: auth})
	}
	if sign != nil {
		nc.Certificates = append(nc.Certificates, api.FactoryCertificate{Purpose: api.CASign, DER: sign})
	}
	if _, err := client.RegisterCard(ctx, jlis.NewIdempotencyKey(), nc); err != nil {
		return nil, fmt.Errorf("make card %s: %w", serial, err)
	}
	if _, err := client.Transition(ctx, jlis.NewIdempotencyKey(), serial, api.Transition{To: api.StateDelivered, Reason: "card factory"}); err != nil {
		return nil, fmt.Errorf("make card %s: %w", serial, err)
	}
	if !o.Blank {
		if _, err := client.Transition(ctx, jlis.NewIdempotencyKey(), serial, api.Transition{To: api.StateIssued, Reason: "card factory"}); err != nil {
			return nil, fmt.Errorf("make card %s: %w", serial, err)
		}
	}
	return st, nil
}

// withDefaults fills a holder's empty fields from cardsim.DemoHolder.
func withDefaults(h cardsim.Holder) cardsim.Holder {
	d := cardsim.DemoHolder
	for _, f := range []struct {
		dst *string
		def string
	}{
		{&h.Name, d.Name}, {&h.Address, d.Address}, {&h.BirthDate, d.BirthDate}, {&h.Sex, d.Sex},
		{&h.IndividualNumber, d.IndividualNumber}, {&h.Municipality, d.Municipality}, {&h.SecurityCode, d.SecurityCode},
	} {
		if *f.dst == "" {
			*f.dst = f.def
		}
	}
	return h
}

// newSerial is a random card serial, 16 hex digits in upper case (as
// cardsim.Generate makes them).
func newSerial() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%X", b)
}
