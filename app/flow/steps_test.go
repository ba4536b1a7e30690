package flow

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/app/store"
	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
	jlissim "madoguchi/drivers/jlis/sim"
	"madoguchi/drivers/jlis/simcard"
)

// stepRig is one central simulator (mutual TLS), store, queue and receipt
// service shared by many cards made at the simulator's factory.
type stepRig struct {
	t      *testing.T
	ports  Ports
	run    *jlissim.Running
	simDir string
	iss    *cardsim.Issuer
}

func newStepRig(t *testing.T) *stepRig {
	t.Helper()
	return newRigWith(t, jlissim.Options{}, "T-01", "窓口1")
}

// newRigWith starts the central simulator with o (its directory,
// addresses and rate limit filled in) for a terminal at a counter.
func newRigWith(t *testing.T, o jlissim.Options, terminal, counter string) *stepRig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	ir, err := jlissim.Init(filepath.Join(dir, "central"))
	if err != nil {
		t.Fatal(err)
	}
	o.Dir, o.Addr, o.PublicAddr, o.RateLimit = ir.Dir, "127.0.0.1:0", "127.0.0.1:0", 1e9
	run, err := jlissim.Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close() })
	client, err := jlis.New(jlis.Config{BaseURL: run.URL, CertFile: ir.TerminalCert, KeyFile: ir.TerminalKey, CAFile: ir.RootCA, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := receipt.LoadKeys(filepath.Join(dir, "receipt-keys.json"), terminal)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := receipt.New(receipt.Config{DB: db.DB, Keys: keys, Origin: receipt.Origin{Municipality: "デモ市", Counter: counter, Terminal: terminal}})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := jlissim.CardIssuer(ir.Dir)
	if err != nil {
		t.Fatal(err)
	}
	return &stepRig{t: t, run: run, simDir: ir.Dir, iss: iss,
		ports: Ports{Central: client, Store: db, Queue: queue.New(db.DB, nil), Receipts: rs, Terminal: terminal}}
}

// newCard makes a card at the factory: blank, issued or due (its
// certificates inside the renewal window), optionally "-next".
func (r *stepRig) newCard(kind string) (*cardsim.Slot, *card.Card) {
	r.t.Helper()
	ctx := context.Background()
	o := simcard.FactoryOptions{Profile: card.Current}
	switch kind {
	case "blank-next", "issued-next", "due-next":
		o.Profile = card.Next
	}
	switch kind {
	case "blank", "blank-next":
		o.Blank = true
	case "due", "due-next":
		b := time.Now().In(jpki.JST).AddDate(0, 0, 45)
		h := cardsim.DemoHolder
		h.BirthDate = fmt.Sprintf("1985%02d%02d", int(b.Month()), b.Day())
		o.Holder = h
		// Issued 5 (next generation: 10) years minus 40 days ago: the
		// birthday that ends the certificates is 45 days away.
		o.Issued = time.Now().AddDate(-5, 0, 40)
		if o.Profile == card.Next {
			o.Issued = time.Now().AddDate(-10, 0, 40)
		}
	}
	st, err := simcard.MakeCard(ctx, r.simDir, r.ports.Central, o)
	if err != nil {
		r.t.Fatal(err)
	}
	engine, err := cardsim.New(st, "", nil)
	if err != nil {
		r.t.Fatal(err)
	}
	slot := cardsim.NewSlot(engine)
	c, err := card.Open(ctx, slot, card.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	return slot, c
}

func adultPINs(kv ...string) map[card.PINKind]secret.Value {
	m := map[card.PINKind]secret.Value{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[card.PINKind(kv[i])] = secret.NewPIN(kv[i+1])
	}
	return m
}

// procCase is one card procedure: the card it needs, how to run it, and
// how to check that card, central system and store agree afterwards.
type procCase struct {
	name  string
	card  string
	kind  string // the procedure record's kind
	run   func(ctx context.Context, p Ports, c *card.Card) error
	check func(t *testing.T, r *stepRig, c *card.Card)
}

var procCases = []procCase{
	{name: "issue/current", card: "blank", kind: "issuance",
		run: func(ctx context.Context, p Ports, c *card.Card) error {
			_, err := p.Issue(ctx, c, IssueInput{Visit: adult(), PINs: adultPINs("auth", "5307", "sign", "PASSWORD7", "input-assist", "5307", "resident", "5307")})
			return err
		},
		check: func(t *testing.T, r *stepRig, c *card.Card) {
			checkKeyAndCert(t, r, c, card.PINAuth, "5307")
			checkKeyAndCert(t, r, c, card.PINSign, "PASSWORD7")
			checkState(t, r, c, api.StateIssued)
		}},
	{name: "issue/next", card: "blank-next", kind: "issuance",
		run: func(ctx context.Context, p Ports, c *card.Card) error {
			_, err := p.Issue(ctx, c, IssueInput{Visit: adult(), PINs: adultPINs("auth", "5307", "sign", "PASSWORD7", "puk", "73915482")})
			return err
		},
		check: func(t *testing.T, r *stepRig, c *card.Card) {
			checkKeyAndCert(t, r, c, card.PINAuth, "5307")
			checkKeyAndCert(t, r, c, card.PINSign, "PASSWORD7")
			checkState(t, r, c, api.StateIssued)
		}},
	{name: "renew-card/current", card: "blank", kind: "card_renewal",
		run: func(ctx context.Context, p Ports, c *card.Card) error {
			_, err := p.RenewCard(ctx, c, IssueInput{Visit: adult(), OldSerial: "OLD0000000000001", PINs: adultPINs("auth", "5307", "sign", "PASSWORD7", "input-assist", "5307", "resident", "5307")})
			return err
		},
		check: func(t *testing.T, r *stepRig, c *card.Card) {
			checkKeyAndCert(t, r, c, card.PINAuth, "5307")
			checkState(t, r, c, api.StateIssued)
		}},
	{name: "renew-cert/current", card: "due", kind: "cert_renewal",
		run: func(ctx context.Context, p Ports, c *card.Card) error {
			_, err := p.RenewCert(ctx, c, RenewCertInput{Visit: adult(), PINs: adultPINs("auth", "1234", "sign", "MADOGUCHI1")})
			return err
		},
		check: func(t *testing.T, r *stepRig, c *card.Card) {
			checkKeyAndCert(t, r, c, card.PINAuth, "1234")
			checkKeyAndCert(t, r, c, card.PINSign, "MADOGUCHI1")
		}},
	{name: "renew-cert/next", card: "due-next", kind: "cert_renewal",
		run: func(ctx context.Context, p Ports, c *card.Card) error {
			_, err := p.RenewCert(ctx, c, RenewCertInput{Visit: adult(), PINs: adultPINs("auth", "1234", "sign", "MADOGUCHI1")})
			return err
		},
		check: func(t *testing.T, r *stepRig, c *card.Card) {
			checkKeyAndCert(t, r, c, card.PINAuth, "1234")
			checkKeyAndCert(t, r, c, card.PINSign, "MADOGUCHI1")
		}},
	{name: "change-details/current", card: "issued", kind: "change_of_details",
		run: func(ctx context.Context, p Ports, c *card.Card) error {
			_, err := p.ChangeDetails(ctx, c, DetailsInput{Visit: adult(), Address: "デモ県デモ市北二丁目４番５号", PINs: adultPINs("input-assist", "1234", "sign", "MADOGUCHI1")})
			return err
		},
		check: func(t *testing.T, r *stepRig, c *card.Card) {
			checkText(t, r, c, card.PINInputAssist, "1234", "デモ県デモ市北二丁目４番５号")
			checkKeyAndCert(t, r, c, card.PINSign, "MADOGUCHI1")
		}},
	{name: "change-details/next", card: "issued-next", kind: "change_of_details",
		run: func(ctx context.Context, p Ports, c *card.Card) error {
			_, err := p.ChangeDetails(ctx, c, DetailsInput{Visit: adult(), Name: "窓口　花江", PINs: adultPINs("auth", "1234", "sign", "MADOGUCHI1")})
			return err
		},
		check: func(t *testing.T, r *stepRig, c *card.Card) {
			checkKeyAndCert(t, r, c, card.PINSign, "MADOGUCHI1")
		}},
	{name: "pin-reset/current", card: "issued", kind: "pin_reset",
		run: func(ctx context.Context, p Ports, c *card.Card) error {
			_, err := p.PINReset(ctx, c, PINResetInput{Visit: adult(), PIN: card.PINSign, NewPIN: secret.NewPIN("NEWPASS42")})
			return err
		},
		check: func(t *testing.T, r *stepRig, c *card.Card) { checkPIN(t, c, card.PINSign, "NEWPASS42") }},
	{name: "pin-reset/next", card: "issued-next", kind: "pin_reset",
		run: func(ctx context.Context, p Ports, c *card.Card) error {
			_, err := p.PINReset(ctx, c, PINResetInput{Visit: adult(), PIN: card.PINAuth, NewPIN: secret.NewPIN("8642")})
			return err
		},
		check: func(t *testing.T, r *stepRig, c *card.Card) { checkPIN(t, c, card.PINAuth, "8642") }},
	{name: "puk-unlock/next", card: "issued-next", kind: "puk_unlock",
		run: func(ctx context.Context, p Ports, c *card.Card) error {
			_, err := p.PUKUnlock(ctx, c, PUKUnlockInput{PUK: secret.NewPUK("12345678"), NewPIN: secret.NewPIN("8642")})
			return err
		},
		check: func(t *testing.T, r *stepRig, c *card.Card) { checkPIN(t, c, card.PINAuth, "8642") }},
}

func checkPIN(t *testing.T, c *card.Card, k card.PINKind, pin string) {
	t.Helper()
	if err := c.Verify(context.Background(), k, secret.NewPIN(pin)); err != nil {
		t.Errorf("%s after the procedure: %v", k, err)
	}
}

func checkState(t *testing.T, r *stepRig, c *card.Card, want api.CardState) {
	t.Helper()
	rec, err := r.ports.Central.Card(context.Background(), c.Serial())
	if err != nil || rec.State != want {
		t.Errorf("central state %s, %v; want %s", rec.State, err, want)
	}
}

// checkKeyAndCert proves card and central system agree: the PIN opens the
// key, the certificate on the card is good at the central system, and the
// key on the card signs what that certificate verifies.
func checkKeyAndCert(t *testing.T, r *stepRig, c *card.Card, k card.PINKind, pin string) {
	t.Helper()
	ctx := context.Background()
	checkPIN(t, c, k, pin)
	cert, err := c.AuthCertificate(ctx)
	if k == card.PINSign {
		cert, err = c.SignCertificate(ctx)
	}
	if err != nil {
		t.Errorf("%s certificate on the card: %v", k, err)
		return
	}
	st, err := r.ports.Central.CertificateStatus(ctx, cert.SerialNumber.Text(16))
	if err != nil || st.State != api.CertGood {
		t.Errorf("%s certificate at the central system: %+v, %v", k, st, err)
	}
	msg := []byte("consistency")
	h, digest := crypto.SHA256, sha256Sum(msg)
	if c.Profile().Keys == card.ECDSAP384 {
		h, digest = crypto.SHA384, sha384Sum(msg)
	}
	checkPIN(t, c, k, pin)
	sig, err := c.Sign(ctx, k, digest, h)
	if err != nil {
		t.Errorf("%s sign: %v", k, err)
		return
	}
	if err := card.VerifySignature(cert, digest, h, sig); err != nil {
		t.Errorf("%s: the key on the card does not match its certificate: %v", k, err)
	}
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
func sha384Sum(b []byte) []byte { s := sha512.Sum384(b); return s[:] }

func checkText(t *testing.T, r *stepRig, c *card.Card, k card.PINKind, pin, address string) {
	t.Helper()
	ctx := context.Background()
	checkPIN(t, c, k, pin)
	b4, err := c.BasicFour(ctx)
	if err != nil || b4.Address != address {
		t.Errorf("basic four on the card: %+v, %v", b4, err)
	}
	checkPIN(t, c, k, pin)
	if err := c.VerifyInputAssist(ctx, []card.IssuerKey{{ID: r.iss.CVRootID, Key: r.iss.CVRootPublicKey()}}); err != nil {
		t.Errorf("the new text data does not verify: %v", err)
	}
}

// reopen opens a new session on the slot and passes err through.
func reopen(ctx context.Context, slot *cardsim.Slot, err error) (*card.Card, error) {
	c, oerr := card.Open(ctx, slot, card.Options{})
	if oerr != nil {
		panic(oerr)
	}
	return c, err
}

// fault is what goes wrong at a step.
type fault struct {
	name    string
	apply   func(r *stepRig, slot *cardsim.Slot)
	restore func(r *stepRig, slot *cardsim.Slot)
	// is recognises the failure it causes.
	is func(err error) bool
}

var faults = []fault{
	{name: "card-pulled",
		apply:   func(_ *stepRig, s *cardsim.Slot) { s.Remove() },
		restore: func(_ *stepRig, s *cardsim.Slot) { s.Insert() },
		is:      card.IsGone},
	{name: "central-down",
		apply:   func(r *stepRig, _ *cardsim.Slot) { r.run.SetFaults(jlissim.Faults{ErrorRate: 1}) },
		restore: func(r *stepRig, _ *cardsim.Slot) { r.run.SetFaults(jlissim.Faults{}) },
		is:      func(err error) bool { return errors.Is(err, ErrCentralDown) }},
}

// TestFaultAtEveryStep pulls the card, and separately takes the central
// system down, at every step of every card procedure in turn (each
// occurrence of a repeated step too). The procedure either finishes (the
// fault came after its last use of that part) or stops with a StepError
// naming the step and the cause; then, with the card placed again or the
// central system back, the same procedure run again finishes, and card,
// central system and store agree: one procedure record, no progress
// marker left, PINs, keys, certificates and text data as they should be.
func TestFaultAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	r := newStepRig(t)
	for _, pc := range procCases {
		t.Run(pc.name, func(t *testing.T) {
			ctx := context.Background()
			// A clean run lists the steps this procedure passes.
			slot, c := r.newCard(pc.card)
			var seq []Step
			p := r.ports
			p.Hook = func(_ context.Context, s Step) error { seq = append(seq, s); return nil }
			if err := pc.run(ctx, p, c); err != nil {
				t.Fatalf("clean run: %v", err)
			}
			_ = slot
			pc.check(t, r, c)
			for _, f := range faults {
				for i := range seq {
					t.Run(fmt.Sprintf("%s/%02d-%s", f.name, i, seq[i]), func(t *testing.T) {
						slot, c := r.newCard(pc.card)
						n := 0
						p := r.ports
						p.Hook = func(_ context.Context, s Step) error {
							if n == i {
								f.apply(r, slot)
							}
							n++
							return nil
						}
						err := pc.run(ctx, p, c)
						f.restore(r, slot)
						// The card placed again: a new session.
						if c, err = reopen(ctx, slot, err); err != nil {
							var se *StepError
							if !errors.As(err, &se) || !f.is(err) {
								t.Fatalf("stopped without saying where, or for another reason: %v", err)
							}
							if err := pc.run(ctx, r.ports, c); err != nil {
								t.Fatalf("resuming after %v: %v", se.Step, err)
							}
						}
						// What queued (the card's activation with the central
						// system down) goes out before the checks.
						w := queue.NewWorker(r.ports.Queue, queue.Options{Kinds: queue.CentralKinds(r.ports.Central)})
						if _, err := w.Drain(ctx); err != nil {
							t.Fatal(err)
						}
						pc.check(t, r, c)
						var recs, marks int
						r.ports.Store.DB.QueryRow(`SELECT count(*) FROM procedures WHERE card_serial = ? AND kind = ?`, c.Serial(), pc.kind).Scan(&recs)
						r.ports.Store.DB.QueryRow(`SELECT count(*) FROM procedure_progress WHERE card_serial = ?`, c.Serial()).Scan(&marks)
						if recs != 1 || marks != 0 {
							t.Errorf("store: %d records of %s, %d progress marks; want 1 and 0", recs, pc.kind, marks)
						}
					})
				}
			}
		})
	}
}
