package flow

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	jlissim "madoguchi/drivers/jlis/sim"
	phonesim "madoguchi/drivers/phone/sim"
)

// newKioskRig is newStepRig with the central simulator's options (a
// short reservation lifetime).
func newKioskRig(t *testing.T, o jlissim.Options) *stepRig {
	t.Helper()
	return newRigWith(t, o, "K-01", "キオスク1")
}

// reserve makes a reservation as the smartphone face-check service would.
func (r *stepRig) reserve(serial string, k card.PINKind) api.Reservation {
	r.t.Helper()
	rv, err := r.ports.Central.CreateReservation(context.Background(), jlis.NewIdempotencyKey(), api.Reservation{CardSerial: serial, PIN: reservationPIN[k]})
	if err != nil {
		r.t.Fatal(err)
	}
	return rv
}

func (r *stepRig) openReservations(serial string) []api.Reservation {
	r.t.Helper()
	rs, err := r.ports.Central.Reservations(context.Background(), serial)
	if err != nil {
		r.t.Fatal(err)
	}
	return rs
}

func (r *stepRig) records(serial, kind string) int {
	var n int
	r.ports.Store.DB.QueryRow(`SELECT count(*) FROM procedures WHERE card_serial = ? AND kind = ?`, serial, kind).Scan(&n)
	return n
}

// kioskCase is one kiosk reset: which card, which PIN, the other PIN (the
// demo PINs) and the new one.
type kioskCase struct {
	name, card    string
	pin           card.PINKind
	proof, newPIN string
}

var kioskCases = []kioskCase{
	{name: "sign/current", card: "issued", pin: card.PINSign, proof: "1234", newPIN: "NEWPASS42"},
	{name: "auth/next", card: "issued-next", pin: card.PINAuth, proof: "MADOGUCHI1", newPIN: "8642"},
}

func (kc kioskCase) run(ctx context.Context, p Ports, c *card.Card) (Result, error) {
	return p.ReservedReset(ctx, c, ReservedResetInput{PIN: kc.pin, Proof: secret.NewPIN(kc.proof), NewPIN: secret.NewPIN(kc.newPIN), Lang: "en"})
}

// TestReservedReset: a citizen who forgot a PIN blocked it, made a
// reservation after a remote face check, and resets it at the kiosk with
// the other PIN; the reservation is used up.
func TestReservedReset(t *testing.T) {
	ctx := context.Background()
	r := newStepRig(t)
	for _, kc := range kioskCases {
		t.Run(kc.name, func(t *testing.T) {
			_, c := r.newCard(kc.card)
			spec, _ := c.Profile().PIN(kc.pin)
			for i := 0; i < spec.MaxTries; i++ {
				_ = c.Verify(ctx, kc.pin, secret.NewPIN(strings.Repeat("9", spec.Min)))
			}
			if n, _ := c.Tries(ctx, kc.pin); n != 0 {
				t.Fatalf("not blocked: %d", n)
			}
			rv := r.reserve(c.Serial(), kc.pin)
			if rv.ID == "" || rv.State != api.ReservationOpen || rv.ExpiresAt.Sub(rv.CreatedAt) != jlissim.DefaultReservationTTL {
				t.Fatalf("reservation %+v", rv)
			}
			res, err := kc.run(ctx, r.ports, c)
			if err != nil {
				t.Fatal(err)
			}
			if res.Receipt.Number == "" || res.Receipt.Procedure != receipt.ReservedReset || res.PINEntries != 2 || res.Expiry.Card.IsZero() || res.Expiry.Auth.IsZero() {
				t.Fatalf("result %+v", res)
			}
			checkPIN(t, c, kc.pin, kc.newPIN)
			if n, _ := c.Tries(ctx, kc.pin); n != spec.MaxTries {
				t.Errorf("tries after the reset: %d", n)
			}
			if got := r.openReservations(c.Serial()); len(got) != 0 {
				t.Errorf("still open after the reset: %+v", got)
			}
			// The used reservation authorises nothing more.
			chal, err := c.Challenge(ctx, spec.AID)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.ports.Central.Authorise(ctx, jlis.NewIdempotencyKey(), c.Serial(), api.AuthoriseRequest{Operation: api.OpResetPIN, Ref: spec.Ref, Challenge: chal, Reservation: rv.ID})
			if !errors.Is(err, jlis.ErrConflict) || jlis.Code(err) != api.CodeReservationInvalid {
				t.Errorf("second use of the reservation: %v, want reservation-invalid", err)
			}
			var se *StepError
			if _, err := kc.run(ctx, r.ports, c); !errors.As(err, &se) || se.Step != StepChecks || !errors.Is(err, ErrNoReservation) {
				t.Errorf("second reset: %v, want ErrNoReservation at checks", err)
			}
			// One record, one queued event, no PIN anywhere in the store.
			if n := r.records(c.Serial(), "reserved_reset"); n != 1 {
				t.Errorf("records: %d", n)
			}
			var detail string
			r.ports.Store.DB.QueryRow(`SELECT detail FROM procedures WHERE card_serial = ? AND kind = 'reserved_reset'`, c.Serial()).Scan(&detail)
			if strings.Contains(detail, kc.newPIN) || strings.Contains(detail, kc.proof) {
				t.Errorf("a PIN reached the record: %s", detail)
			}
		})
	}
}

// TestReservedResetRefusals: no reservation, or one for the other PIN,
// stops at checks; a wrong proof stops at pins with the card's tries;
// neither writes to the card nor uses the reservation.
func TestReservedResetRefusals(t *testing.T) {
	ctx := context.Background()
	r := newStepRig(t)
	_, c := r.newCard("issued")
	var se *StepError
	in := func(proof string) ReservedResetInput {
		return ReservedResetInput{PIN: card.PINSign, Proof: secret.NewPIN(proof), NewPIN: secret.NewPIN("NEWPASS42"), Lang: "ja"}
	}
	if _, err := r.ports.ReservedReset(ctx, c, in("1234")); !errors.As(err, &se) || se.Step != StepChecks || !errors.Is(err, ErrNoReservation) {
		t.Fatalf("no reservation: %v", err)
	}
	r.reserve(c.Serial(), card.PINAuth) // for the other PIN
	if _, err := r.ports.ReservedReset(ctx, c, in("1234")); !errors.Is(err, ErrNoReservation) {
		t.Fatalf("reservation for the auth PIN: %v", err)
	}
	checkPIN(t, c, card.PINSign, "MADOGUCHI1")

	rv := r.reserve(c.Serial(), card.PINSign)
	var we *card.WrongPINError
	_, err := r.ports.ReservedReset(ctx, c, in("9999"))
	if !errors.As(err, &se) || se.Step != StepPINs || !errors.As(err, &we) || we.PIN != card.PINAuth || we.Remaining != 2 {
		t.Fatalf("wrong proof: %v", err)
	}
	checkPIN(t, c, card.PINSign, "MADOGUCHI1") // nothing written
	if got := r.openReservations(c.Serial()); len(got) != 2 || (got[0].ID != rv.ID && got[1].ID != rv.ID) {
		t.Fatalf("the reservation was used by a refused reset: %+v", got)
	}
	// Bad input: a PIN a kiosk cannot reset, a malformed new PIN.
	if _, err := r.ports.ReservedReset(ctx, c, ReservedResetInput{PIN: card.PINInputAssist, Proof: secret.NewPIN("1234"), NewPIN: secret.NewPIN("1111")}); !errors.Is(err, card.ErrNoSuchPIN) {
		t.Errorf("input-assist PIN: %v", err)
	}
	var fe *card.PINFormatError
	if _, err := r.ports.ReservedReset(ctx, c, in("1234")); err != nil {
		t.Fatalf("right proof after a wrong one: %v", err)
	}
	if _, err := r.ports.ReservedReset(ctx, c, ReservedResetInput{PIN: card.PINSign, Proof: secret.NewPIN("1234"), NewPIN: secret.NewPIN("abc")}); !errors.As(err, &fe) {
		t.Errorf("short password: %v", err)
	}
	if n := r.records(c.Serial(), "reserved_reset"); n != 1 {
		t.Errorf("records: %d", n)
	}
}

// TestReservedResetExpired: a reservation that expires before the kiosk
// asks for the authorisation is refused (reservation-invalid) and, being
// expired, no longer listed.
func TestReservedResetExpired(t *testing.T) {
	ctx := context.Background()
	r := newKioskRig(t, jlissim.Options{ReservationTTL: 500 * time.Millisecond})
	_, c := r.newCard("issued")
	rv := r.reserve(c.Serial(), card.PINSign)
	p := r.ports
	p.Hook = func(_ context.Context, s Step) error {
		if s == StepAuthorise {
			time.Sleep(time.Until(rv.ExpiresAt) + 50*time.Millisecond)
		}
		return nil
	}
	kc := kioskCases[0]
	_, err := kc.run(ctx, p, c)
	var se *StepError
	if !errors.As(err, &se) || se.Step != StepAuthorise || !errors.Is(err, ErrNoReservation) || jlis.Code(err) != api.CodeReservationInvalid {
		t.Fatalf("expired during the visit: %v", err)
	}
	if _, err := kc.run(ctx, r.ports, c); !errors.As(err, &se) || se.Step != StepChecks || !errors.Is(err, ErrNoReservation) {
		t.Fatalf("expired: %v", err)
	}
	checkPIN(t, c, card.PINSign, "MADOGUCHI1")
}

// TestReservedResetFaultAtEveryStep is TestFaultAtEveryStep for the kiosk
// reset: the card pulled, and separately the central system down, at
// every step in turn. A stop before the authorisation leaves the
// reservation open and a rerun finishes with it; the one stop after it
// (the card pulled before RESET RETRY COUNTER) leaves it used, the rerun
// says ErrNoReservation, and a new reservation finishes the reset.
func TestReservedResetFaultAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	r := newStepRig(t)
	for _, kc := range kioskCases {
		t.Run(kc.name, func(t *testing.T) {
			ctx := context.Background()
			_, c := r.newCard(kc.card)
			r.reserve(c.Serial(), kc.pin)
			var seq []Step
			p := r.ports
			p.Hook = func(_ context.Context, s Step) error { seq = append(seq, s); return nil }
			if _, err := kc.run(ctx, p, c); err != nil {
				t.Fatalf("clean run: %v", err)
			}
			want := []Step{StepChecks, StepPINs, StepAuthorise, StepCardWrite, StepRecord, StepReceipt}
			if fmt.Sprint(seq) != fmt.Sprint(want) {
				t.Fatalf("steps %v, want %v", seq, want)
			}
			renewed := 0
			for _, f := range faults {
				for i := range seq {
					t.Run(fmt.Sprintf("%s/%02d-%s", f.name, i, seq[i]), func(t *testing.T) {
						slot, c := r.newCard(kc.card)
						r.reserve(c.Serial(), kc.pin)
						n := 0
						p := r.ports
						p.Hook = func(_ context.Context, s Step) error {
							if n == i {
								f.apply(r, slot)
							}
							n++
							return nil
						}
						_, err := kc.run(ctx, p, c)
						f.restore(r, slot)
						if c, err = reopen(ctx, slot, err); err != nil {
							var se *StepError
							if !errors.As(err, &se) || !f.is(err) {
								t.Fatalf("stopped without saying where, or for another reason: %v", err)
							}
							if len(r.openReservations(c.Serial())) == 0 {
								// Used by the authorisation, the card not written.
								if se.Step != StepCardWrite {
									t.Fatalf("the reservation was used by a procedure stopped at %s", se.Step)
								}
								if _, err := kc.run(ctx, r.ports, c); !errors.Is(err, ErrNoReservation) {
									t.Fatalf("rerun with the used reservation: %v, want ErrNoReservation", err)
								}
								checkPIN(t, c, kc.proof2(), kc.proof)
								r.reserve(c.Serial(), kc.pin)
								renewed++
							}
							if _, err := kc.run(ctx, r.ports, c); err != nil {
								t.Fatalf("resuming after %v: %v", se.Step, err)
							}
						}
						checkPIN(t, c, kc.pin, kc.newPIN)
						checkPIN(t, c, kc.proof2(), kc.proof)
						if got := r.openReservations(c.Serial()); len(got) != 0 {
							t.Errorf("open reservations left: %+v", got)
						}
						var marks int
						r.ports.Store.DB.QueryRow(`SELECT count(*) FROM procedure_progress WHERE card_serial = ?`, c.Serial()).Scan(&marks)
						if recs := r.records(c.Serial(), "reserved_reset"); recs != 1 || marks != 0 {
							t.Errorf("store: %d records, %d progress marks; want 1 and 0", recs, marks)
						}
					})
				}
			}
			// Only the card pulled before the write leaves a used
			// reservation behind.
			if renewed != 1 {
				t.Errorf("%d stops needed a new reservation, want 1", renewed)
			}
		})
	}
}

// proof2 is the PIN that proves the holder in a kiosk case.
func (kc kioskCase) proof2() card.PINKind { return proofPIN[kc.pin] }

// TestStatusCheck: the kiosk's certificate and expiry check, online (good,
// then suspended) and with the central system down.
func TestStatusCheck(t *testing.T) {
	ctx := context.Background()
	r := newStepRig(t)
	// An issuance at the counter: certificates the central system knows.
	_, c := r.newCard("blank")
	if err := procCases[0].run(ctx, r.ports, c); err != nil {
		t.Fatal(err)
	}
	// A phone credential, stored the way the counter does.
	pr := &phoneRig{stepRig: r, card: c}
	pr.vendor, _ = phonesim.LoadOrCreateVendor(filepath.Join(r.simDir, phonesim.VendorFile), phonesim.DefaultVendorName)
	_, p := pr.phone(t, pr.vendor, true)
	stored, err := r.ports.PhoneStore(ctx, p, PhoneStoreInput{Holder: pr.holder(t)})
	if err != nil {
		t.Fatal(err)
	}
	ph, err := r.ports.Central.Phone(ctx, stored.PhoneID)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Verify(ctx, card.PINAuth, secret.NewPIN("0000")) // one wrong try

	start := time.Now()
	st, err := r.ports.StatusCheck(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("online status check: %v", time.Since(start))
	if !st.Online || st.Generation != "current" || st.AuthState != StateGood || st.SignState != StateGood {
		t.Fatalf("online: %+v", st)
	}
	if st.Expiry.Card.IsZero() || st.Expiry.Auth.IsZero() || st.Expiry.Sign.IsZero() || st.Expiry.CardDue || st.Expiry.AuthDue {
		t.Errorf("expiry %+v", st.Expiry)
	}
	if len(st.Phones) != 1 || st.Phones[0].State != StateGood || !st.Phones[0].NotAfter.Equal(ph.Certificate.NotAfter) {
		t.Errorf("phones %+v", st.Phones)
	}
	if st.Tries[card.PINAuth] != 2 || st.Tries[card.PINSign] != 5 || st.Tries[card.PINInputAssist] != 3 || st.Tries[card.PINResident] != 3 {
		t.Errorf("tries %v", st.Tries)
	}
	// The card suspended (lost, then found?): the certificates follow.
	if _, err := r.ports.Central.Transition(ctx, jlis.NewIdempotencyKey(), c.Serial(), api.Transition{To: api.StateSuspended, Reason: "lost"}); err != nil {
		t.Fatal(err)
	}
	if st, err := r.ports.StatusCheck(ctx, c); err != nil || st.AuthState != StateSuspended || st.SignState != StateSuspended || st.Phones[0].State != StateSuspended {
		t.Fatalf("suspended: %+v, %v", st, err)
	}
	// The central system down: the card alone.
	r.run.SetFaults(jlissim.Faults{ErrorRate: 1})
	start = time.Now()
	off, err := r.ports.StatusCheck(ctx, c)
	r.run.SetFaults(jlissim.Faults{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("offline status check: %v", time.Since(start))
	if off.Online || off.AuthState != StateUnknown || off.SignState != StateUnknown || len(off.Phones) != 0 {
		t.Fatalf("offline: %+v", off)
	}
	if !off.Expiry.Auth.Equal(st.Expiry.Auth) || !off.Expiry.Card.IsZero() || !off.Expiry.Sign.IsZero() || off.Tries[card.PINAuth] != 2 {
		t.Errorf("offline expiry and tries: %+v %v", off.Expiry, off.Tries)
	}
	// A next-generation card made at the factory: its certificates are the
	// card issuer's, declared to the central system when it was
	// registered, so their state is known.
	_, nc := r.newCard("issued-next")
	ns, err := r.ports.StatusCheck(ctx, nc)
	if err != nil || !ns.Online || ns.Generation != "next" || ns.AuthState != StateGood || ns.SignState != StateGood || ns.Tries[card.PUK] != 10 || ns.Tries[card.PINAuth] != 3 {
		t.Fatalf("next generation: %+v, %v", ns, err)
	}
	// Four records, no personal data, no receipt.
	rows, err := r.ports.Store.DB.Query(`SELECT detail, coalesce(receipt, '') FROM procedures WHERE kind = 'status_check'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var detail, rc string
		rows.Scan(&detail, &rc)
		n++
		if rc != "" || strings.Contains(detail, cardsim.DemoHolder.Name) || strings.Contains(detail, cardsim.DemoHolder.BirthDate) {
			t.Errorf("record %s %q", detail, rc)
		}
	}
	if n != 4 {
		t.Errorf("%d status_check records, want 4", n)
	}
}
