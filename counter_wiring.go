package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"madoguchi/app"
	"madoguchi/app/flow"
	"madoguchi/app/receipt"
	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/jpki"
	"madoguchi/drivers/jlis/simcard"
	"madoguchi/drivers/phone"
	phonesim "madoguchi/drivers/phone/sim"
)

// counterWiring gives the counter screens their card (the configured
// reader, or the built-in virtual card in the demo), the demo's card box,
// and the flows' ports.
type counterWiring struct {
	e   *env
	cen *central

	mu        sync.Mutex
	rs        *receipt.Service
	demo      *cardsim.Card   // the card in the built-in reader (demo)
	demoPhone *phonesim.Phone // the phone held to the built-in reader (demo)
}

func newCounterWiring(e *env, cen *central) *counterWiring {
	return &counterWiring{e: e, cen: cen}
}

func (w *counterWiring) deps() *app.CounterDeps {
	d := &app.CounterDeps{Ports: w.ports, Cards: w, Phones: w}
	if w.builtin() && w.e.cfg.Central.Demo() {
		d.Demo = w
	}
	return d
}

// builtin: the counter uses the built-in virtual card.
func (w *counterWiring) builtin() bool {
	r := w.e.cfg.Card.Reader
	return r == "" || r == "builtin"
}

// ports returns the flows' ports once the central connection is set up.
func (w *counterWiring) ports(ctx context.Context) (flow.Ports, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	client, err := w.cen.connected(cctx)
	if err != nil {
		return flow.Ports{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rs == nil {
		rs, err := receiptService(w.e, w.e.configFile)
		if err != nil {
			return flow.Ports{}, err
		}
		w.rs = rs
	}
	e := w.e
	return flow.Ports{Central: client, Store: e.store, Queue: e.queue, Receipts: w.rs, Terminal: e.cfg.Terminal, Log: e.log}, nil
}

// Open connects to the card on the counter's reader.
func (w *counterWiring) Open(ctx context.Context) (*card.Card, func(), error) {
	if !w.builtin() {
		s, err := openCard(ctx, w.e, "")
		if err != nil {
			return nil, nil, err
		}
		return s.card, s.close, nil
	}
	w.mu.Lock()
	vc := w.demo
	w.mu.Unlock()
	if vc == nil {
		// The demo card made for the built-in central system.
		client, err := w.cen.connected(ctx)
		if err != nil {
			return nil, nil, err
		}
		prof, err := card.ProfileByName(w.e.cfg.Card.VirtualProfile)
		if err != nil {
			return nil, nil, err
		}
		if vc, err = demoCardFor(ctx, w.e.dataDir, prof, client, w.e.log); err != nil {
			return nil, nil, err
		}
		w.mu.Lock()
		w.demo = vc
		w.mu.Unlock()
	}
	c, err := card.Open(ctx, cardsim.NewSlot(vc), card.Options{Log: w.e.log})
	if err != nil {
		return nil, nil, err
	}
	return c, func() {}, nil
}

// Insert makes a fresh virtual card in the built-in central system's
// factory and puts it into the built-in reader: "blank", "issued" or
// "due" (certificates inside their renewal window), "-next" for the next
// generation.
func (w *counterWiring) Insert(ctx context.Context, kind string) error {
	if kind == "phone" || kind == "phone-unapproved" {
		return w.insertPhone(kind)
	}
	client, err := w.cen.connected(ctx)
	if err != nil {
		return err
	}
	vc, err := demoCard(ctx, filepath.Join(w.e.dataDir, "central-sim"), client, kind, time.Now())
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.demo = vc
	w.mu.Unlock()
	return nil
}

// demoCard makes a virtual card of a kind (see Insert) for the central
// simulator in dir.
func demoCard(ctx context.Context, dir string, client *jlis.Client, kind string, now time.Time) (*cardsim.Card, error) {
	o := simcard.FactoryOptions{Profile: card.Current, Holder: cardsim.DemoHolder}
	base, next := strings.CutSuffix(kind, "-next")
	if next {
		o.Profile = card.Next
	}
	switch base {
	case "blank":
		o.Blank = true
	case "issued":
	case "due":
		// A holder whose birthday is six weeks away: certificates expire
		// on a birthday, so theirs can be inside the renewal window now.
		b := now.In(jpki.JST).AddDate(0, 0, 45)
		o.Holder.BirthDate = fmt.Sprintf("1985%02d%02d", int(b.Month()), b.Day())
		issued, err := dueIssueDate(o.Profile, o.Holder.BirthDate, now)
		if err != nil {
			return nil, err
		}
		o.Issued = issued
	default:
		return nil, fmt.Errorf("demo card %q: want blank, issued or due, optionally with -next", kind)
	}
	st, err := simcard.MakeCard(ctx, dir, client, o)
	if err != nil {
		return nil, err
	}
	return cardsim.New(st, "", nil)
}

// dueIssueDate finds an issue date whose certificates expire in one to
// two months from now while the card stays valid: a card inside its
// certificates' renewal window.
func dueIssueDate(p *card.Profile, birth string, now time.Time) (time.Time, error) {
	for back := 3 * 365; back < 12*365; back += 7 {
		issued := now.AddDate(0, 0, -back)
		v, err := cardsim.ValidityFor(p, birth, issued)
		if err != nil {
			return time.Time{}, err
		}
		left := v.Certs.Sub(now)
		if left > 30*24*time.Hour && left < 60*24*time.Hour && !v.Card.Before(v.Certs) {
			return issued, nil
		}
	}
	return time.Time{}, errors.New("no issue date puts this holder's certificates in their renewal window")
}

// insertPhone holds a fresh virtual phone to the built-in reader: one
// whose secure element the built-in central system approves (its vendor's
// root is on the allow-list), or one from an unknown vendor. The phone
// approves signatures as if its holder tapped "approve" (demo).
func (w *counterWiring) insertPhone(kind string) error {
	vendor, err := phonesim.LoadOrCreateVendor(filepath.Join(w.e.dataDir, "central-sim", phonesim.VendorFile), phonesim.DefaultVendorName)
	if err != nil {
		return err
	}
	if kind == "phone-unapproved" {
		if vendor, err = phonesim.NewVendor("Unknown SE Vendor"); err != nil {
			return err
		}
	}
	ph, err := phonesim.New(phonesim.Options{Vendor: vendor, SecureElement: phonesim.DefaultSecureElement, App: phonesim.DefaultApp,
		Model: "Demo Phone", AutoApprove: true, Log: w.e.log})
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.demoPhone = ph
	w.mu.Unlock()
	return nil
}

// OpenPhone opens the phone held to the counter's reader.
func (w *counterWiring) OpenPhone(ctx context.Context) (*phone.Phone, func(), error) {
	if !w.builtin() {
		conn, closeFn, _, err := openReader(ctx, w.e, w.e.cfg.Card.Reader)
		if err != nil {
			return nil, nil, err
		}
		p, err := phone.Open(ctx, conn)
		if err != nil {
			closeFn()
			return nil, nil, err
		}
		return p, closeFn, nil
	}
	w.mu.Lock()
	ph := w.demoPhone
	w.mu.Unlock()
	if ph == nil {
		return nil, nil, errors.New("no demo phone: choose one in the demo panel")
	}
	p, err := phone.Open(ctx, phonesim.NewSlot(ph))
	if err != nil {
		return nil, nil, err
	}
	return p, func() {}, nil
}
