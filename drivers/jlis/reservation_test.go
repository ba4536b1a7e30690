package jlis

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"madoguchi/drivers/card"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/sim"
)

func challenge() []byte {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return b
}

// TestReservations: a kiosk PIN-reset reservation made, listed, refused
// for another card, PIN or operation, used once by the reset-pin
// authorisation that is granted (a lost answer replayed, not used twice),
// and expired.
func TestReservations(t *testing.T) {
	r := startSim(t, 0)
	ctx := t.Context()
	c := r.c
	r.newCard(t, "RSV1", api.StateIssued)
	r.newCard(t, "RSV2", api.StateIssued)
	r.newCard(t, "RSV3", api.StateDelivered)

	if _, err := c.CreateReservation(ctx, NewIdempotencyKey(), api.Reservation{CardSerial: "RSV3", PIN: api.ReservationPINSign}); !errors.Is(err, ErrConflict) || Code(err) != api.CodeCardState {
		t.Errorf("delivered card: %v, want card-state", err)
	}
	if _, err := c.CreateReservation(ctx, NewIdempotencyKey(), api.Reservation{CardSerial: "NOSUCH", PIN: api.ReservationPINSign}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown card: %v", err)
	}
	if _, err := c.CreateReservation(ctx, NewIdempotencyKey(), api.Reservation{CardSerial: "RSV1", PIN: "resident"}); Code(err) != api.CodeBadRequest {
		t.Errorf("resident PIN: %v", err)
	}
	if _, err := c.CreateReservation(ctx, NewIdempotencyKey(), api.Reservation{CardSerial: "RSV1", PIN: "sign", ID: "mine"}); Code(err) != api.CodeBadRequest {
		t.Errorf("id from the client: %v", err)
	}
	if _, err := c.Reservations(ctx, "NOSUCH"); !errors.Is(err, ErrNotFound) {
		t.Errorf("reservations of an unknown card: %v", err)
	}
	before := time.Now().Add(-time.Second)
	rv, err := c.CreateReservation(ctx, NewIdempotencyKey(), api.Reservation{CardSerial: "RSV1", PIN: api.ReservationPINSign})
	if err != nil {
		t.Fatal(err)
	}
	if rv.ID == "" || rv.CardSerial != "RSV1" || rv.PIN != "sign" || rv.State != api.ReservationOpen || rv.CreatedAt.Before(before) ||
		rv.ExpiresAt.Sub(rv.CreatedAt) != sim.DefaultReservationTTL {
		t.Fatalf("reservation %+v", rv)
	}
	if got, err := c.Reservations(ctx, "RSV1"); err != nil || len(got) != 1 || got[0].ID != rv.ID {
		t.Fatalf("listed: %+v, %v", got, err)
	}
	if got, err := c.Reservations(ctx, "RSV2"); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("another card's: %#v, %v", got, err)
	}

	auth := func(serial, op string, ref uint16, id string) (api.Authorisation, error) {
		return c.Authorise(ctx, NewIdempotencyKey(), serial, api.AuthoriseRequest{Operation: op, Ref: ref, Challenge: challenge(), Reservation: id})
	}
	for name, tc := range map[string]struct {
		serial string
		ref    uint16
		id     string
	}{
		"another card": {"RSV2", card.PINRefSign, rv.ID},
		"another PIN":  {"RSV1", card.PINRefAuth, rv.ID},
		"unknown id":   {"RSV1", card.PINRefSign, "0123456789abcdef01234567"},
	} {
		if _, err := auth(tc.serial, api.OpResetPIN, tc.ref, tc.id); !errors.Is(err, ErrConflict) || Code(err) != api.CodeReservationInvalid {
			t.Errorf("%s: %v, want reservation-invalid", name, err)
		}
	}
	if _, err := auth("RSV1", api.OpGenerateKey, card.KeySign, rv.ID); Code(err) != api.CodeBadRequest {
		t.Errorf("with generate-key: %v, want bad-request", err)
	}
	// Refusals use nothing: still open.
	if got, _ := c.Reservations(ctx, "RSV1"); len(got) != 1 {
		t.Fatalf("after refusals: %+v", got)
	}
	// The counter's reset (no reservation) is unchanged.
	if _, err := auth("RSV2", api.OpResetPIN, card.PINRefAuth, ""); err != nil {
		t.Fatalf("counter reset: %v", err)
	}

	// The grant uses it, once; a lost answer is replayed, not refused.
	r.run.SetFaults(sim.Faults{DropAfterCommitRate: 1})
	key := NewIdempotencyKey()
	req := api.AuthoriseRequest{Operation: api.OpResetPIN, Ref: card.PINRefSign, Challenge: challenge(), Reservation: rv.ID}
	var info ResponseInfo
	a1, err := c.Authorise(WithResponseInfo(ctx, &info), key, "RSV1", req)
	r.run.SetFaults(sim.Faults{})
	if err != nil || !info.Replayed || len(a1.Cryptogram) != 51 {
		t.Fatalf("grant with a lost answer: %+v %+v, %v", a1, info, err)
	}
	a2, err := c.Authorise(ctx, key, "RSV1", req)
	if err != nil || string(a2.Cryptogram) != string(a1.Cryptogram) {
		t.Fatalf("replay: %v", err)
	}
	if got, _ := c.Reservations(ctx, "RSV1"); len(got) != 0 {
		t.Errorf("used reservation still listed: %+v", got)
	}
	if _, err := auth("RSV1", api.OpResetPIN, card.PINRefSign, rv.ID); Code(err) != api.CodeReservationInvalid {
		t.Errorf("second use: %v, want reservation-invalid", err)
	}
	// A challenge answered already does not use a reservation.
	rv2, err := c.CreateReservation(ctx, NewIdempotencyKey(), api.Reservation{CardSerial: "RSV1", PIN: api.ReservationPINSign})
	if err != nil {
		t.Fatal(err)
	}
	req.Reservation = rv2.ID
	if _, err := c.Authorise(ctx, NewIdempotencyKey(), "RSV1", req); Code(err) != api.CodeChallengeReused {
		t.Errorf("reused challenge: %v", err)
	}
	if got, _ := c.Reservations(ctx, "RSV1"); len(got) != 1 || got[0].ID != rv2.ID {
		t.Errorf("after a refused grant: %+v", got)
	}
}

func TestReservationExpiry(t *testing.T) {
	dir := t.TempDir()
	ir, err := sim.Init(dir)
	if err != nil {
		t.Fatal(err)
	}
	run, err := sim.Start(context.Background(), sim.Options{Dir: dir, Addr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0", ReservationTTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close() })
	c, err := New(Config{BaseURL: run.URL, CertFile: ir.TerminalCert, KeyFile: ir.TerminalKey, CAFile: ir.RootCA})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	r := &simRig{init: ir, run: run, c: c}
	r.newCard(t, "EXP1", api.StateIssued)
	ctx := t.Context()
	rv, err := c.CreateReservation(ctx, NewIdempotencyKey(), api.Reservation{CardSerial: "EXP1", PIN: api.ReservationPINAuth})
	if err != nil || rv.ExpiresAt.Sub(rv.CreatedAt) != 300*time.Millisecond {
		t.Fatalf("%+v, %v", rv, err)
	}
	time.Sleep(time.Until(rv.ExpiresAt) + 50*time.Millisecond)
	if got, err := c.Reservations(ctx, "EXP1"); err != nil || len(got) != 0 {
		t.Errorf("expired still listed: %+v, %v", got, err)
	}
	_, err = c.Authorise(ctx, NewIdempotencyKey(), "EXP1", api.AuthoriseRequest{Operation: api.OpResetPIN, Ref: card.PINRefAuth, Challenge: challenge(), Reservation: rv.ID})
	if Code(err) != api.CodeReservationInvalid {
		t.Errorf("expired: %v, want reservation-invalid", err)
	}
}
