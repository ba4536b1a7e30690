package flow

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"madoguchi/app/identity"
	"madoguchi/app/queue"
	"madoguchi/app/receipt"
	"madoguchi/app/secret"
	"madoguchi/app/store"
	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	jlissim "madoguchi/drivers/jlis/sim"
)

// rig is the real path without PC/SC: the virtual card in an in-process
// slot, the central simulator over mutual TLS, the store, the queue and
// the receipt service.
type rig struct {
	ports  Ports
	card   *card.Card
	slot   *cardsim.Slot
	run    *jlissim.Running
	serial string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	ir, err := jlissim.Init(filepath.Join(dir, "central"))
	if err != nil {
		t.Fatal(err)
	}
	run, err := jlissim.Start(ctx, jlissim.Options{Dir: ir.Dir, Addr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0", RateLimit: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Close() })
	client, err := jlis.New(jlis.Config{BaseURL: run.URL, CertFile: ir.TerminalCert, KeyFile: ir.TerminalKey, CAFile: ir.RootCA})
	if err != nil {
		t.Fatal(err)
	}
	// The demo card record DEMO…1 as a card made for this central system.
	serial := ir.DemoCards[0]
	mk, _ := os.ReadFile(ir.MasterKey)
	master, _ := hex.DecodeString(strings.TrimSpace(string(mk)))
	iss, err := cardsim.NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	st, err := cardsim.Generate(iss, cardsim.Options{Holder: cardsim.DemoHolder, PINs: cardsim.DemoPINs, Serial: serial, MgmtKey: card.DiversifyKey(master, serial)})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := cardsim.New(st, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Transition(ctx, jlis.NewIdempotencyKey(), serial, api.Transition{To: api.StateIssued}); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(dir, "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := receipt.LoadKeys(filepath.Join(dir, "receipt-keys.json"), "T-01")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := receipt.New(receipt.Config{DB: db.DB, Keys: keys, Origin: receipt.Origin{Municipality: "デモ市", Counter: "窓口1", Terminal: "T-01"}})
	if err != nil {
		t.Fatal(err)
	}
	slot := cardsim.NewSlot(engine)
	c, err := card.Open(ctx, slot, card.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{ports: Ports{Central: client, Store: db, Queue: queue.New(db.DB, nil), Receipts: rs, Terminal: "T-01"}, card: c, slot: slot, run: run, serial: serial}
}

func TestPINResetAfterBlock(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	for i := 0; i < 3; i++ {
		_ = r.card.Verify(ctx, card.PINAuth, secret.NewPIN("0000"))
	}
	if n, _ := r.card.Tries(ctx, card.PINAuth); n != 0 {
		t.Fatalf("not blocked: %d", n)
	}
	res, err := r.ports.PINReset(ctx, r.card, PINResetInput{Visit: adult(), PIN: card.PINAuth, NewPIN: secret.NewPIN("2580"), Lang: "en", Holder: "窓口　花子"})
	if err != nil {
		t.Fatal(err)
	}
	if res.TriesAfter != 3 || res.Receipt.Number == "" {
		t.Fatalf("result %+v", res)
	}
	if err := r.card.Verify(ctx, card.PINAuth, secret.NewPIN("2580")); err != nil {
		t.Fatalf("the new PIN does not work: %v", err)
	}
	// One procedure record and one queued event, in the same transaction.
	var n int
	r.ports.Store.DB.QueryRow(`SELECT count(*) FROM procedures WHERE kind = 'pin_reset' AND outcome = 'ok' AND receipt = ?`, res.Receipt.Number).Scan(&n)
	if n != 1 {
		t.Fatalf("procedure records: %d", n)
	}
	if c, _ := r.ports.Queue.Count(ctx); c[queue.Pending] != 1 {
		t.Fatalf("queue %v", c)
	}
	// Nothing in the store holds the new PIN.
	var detail string
	r.ports.Store.DB.QueryRow(`SELECT detail FROM procedures`).Scan(&detail)
	if strings.Contains(detail, "2580") {
		t.Fatal("the PIN reached the procedure record")
	}
}

func TestPINResetRefusedWithoutCentral(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.run.Close()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := r.ports.PINReset(cctx, r.card, PINResetInput{Visit: adult(), PIN: card.PINAuth, NewPIN: secret.NewPIN("2580"), Lang: "ja"})
	var se *StepError
	if !errors.As(err, &se) || se.Step != StepChecks || !errors.Is(err, ErrCentralDown) {
		t.Fatalf("central down: %v", err)
	}
	// The card was not touched: the old PIN still works.
	if err := r.card.Verify(ctx, card.PINAuth, secret.NewPIN("1234")); err != nil {
		t.Fatalf("old PIN after a refused reset: %v", err)
	}
}

func TestPINResetCardPulledBeforeTheWrite(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.slot.Remove()
	_, err := r.ports.PINReset(ctx, r.card, PINResetInput{Visit: adult(), PIN: card.PINAuth, NewPIN: secret.NewPIN("2580"), Lang: "ja"})
	var se *StepError
	if !errors.As(err, &se) || se.Step != StepAuthorise || !card.IsGone(err) {
		t.Fatalf("card pulled: %v", err)
	}
	var n int
	r.ports.Store.DB.QueryRow(`SELECT count(*) FROM procedures`).Scan(&n)
	if n != 0 {
		t.Fatal("a procedure was recorded for a reset that did not happen")
	}
	// Put it back: a new session resets it.
	r.slot.Insert()
	c, err := card.Open(ctx, r.slot, card.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ports.PINReset(ctx, c, PINResetInput{Visit: adult(), PIN: card.PINAuth, NewPIN: secret.NewPIN("2580"), Lang: "ja"}); err != nil {
		t.Fatalf("after reinsertion: %v", err)
	}
}

func TestPINResetRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	var fe *card.PINFormatError
	if _, err := r.ports.PINReset(ctx, r.card, PINResetInput{PIN: card.PINAuth, NewPIN: secret.NewPIN("12")}); !errors.As(err, &fe) {
		t.Fatalf("short PIN: %v", err)
	}
	if _, err := r.ports.PINReset(ctx, r.card, PINResetInput{PIN: card.PUK, NewPIN: secret.NewPIN("12345678")}); !errors.Is(err, card.ErrNoSuchPIN) {
		t.Fatalf("PUK on a current card: %v", err)
	}
}

// TestPUKUnlockOffline: a next-generation card's blocked PIN is unlocked
// with the PUK while the central system is down; the statistics event
// waits in the queue.
func TestPUKUnlockOffline(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.run.Close() // offline: the PUK needs no central system
	iss, _ := cardsim.NewIssuer()
	st, err := cardsim.Generate(iss, cardsim.Options{Profile: card.Next, Holder: cardsim.DemoHolder, PINs: cardsim.DemoPINs})
	if err != nil {
		t.Fatal(err)
	}
	engine, _ := cardsim.New(st, "", nil)
	c, err := card.Open(ctx, cardsim.NewSlot(engine), card.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		_ = c.Verify(ctx, card.PINAuth, secret.NewPIN("0000"))
	}
	var we *card.WrongPINError
	if _, err := r.ports.PUKUnlock(ctx, c, PUKUnlockInput{PUK: secret.NewPIN("87654321"), NewPIN: secret.NewPIN("2580")}); !errors.As(err, &we) || we.PIN != card.PUK || we.Remaining != 9 {
		t.Fatalf("wrong PUK: %v", err)
	}
	res, err := r.ports.PUKUnlock(ctx, c, PUKUnlockInput{PUK: secret.NewPIN("12345678"), NewPIN: secret.NewPIN("2580"), Lang: "vi"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(ctx, card.PINAuth, secret.NewPIN("2580")); err != nil {
		t.Fatalf("new PIN after the PUK: %v", err)
	}
	if res.Receipt.Number == "" {
		t.Fatal("no receipt")
	}
	if n, _ := r.ports.Queue.Count(ctx); n[queue.Pending] != 1 {
		t.Fatalf("queue %v", n)
	}
	// A current card has no PUK.
	if _, err := r.ports.PUKUnlock(ctx, r.card, PUKUnlockInput{PUK: secret.NewPIN("12345678"), NewPIN: secret.NewPIN("2580")}); !errors.Is(err, card.ErrNoSuchPIN) {
		t.Fatalf("current card: %v", err)
	}
}

// TestSuspendQueuesAndResumeNeedsCentral: a lost card's suspension is
// accepted offline and reaches the central system first when it is back;
// lifting needs the central system.
func TestSuspendQueuesAndResumeNeedsCentral(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	res, err := r.ports.Suspend(ctx, SuspendInput{Serial: r.serial, Lang: "en"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Receipt.Number == "" || res.JobID == 0 {
		t.Fatalf("%+v", res)
	}
	// An unrelated event queued earlier; the suspension goes first.
	w := queue.NewWorker(r.ports.Queue, queue.Options{Kinds: queue.CentralKinds(r.ports.Central)})
	if _, err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := r.ports.Central.Card(ctx, r.serial)
	if err != nil || rec.State != api.StateSuspended {
		t.Fatalf("central state %s %v", rec.State, err)
	}
	if _, err := r.ports.Resume(ctx, r.serial, "en", ""); err != nil {
		t.Fatal(err)
	}
	if rec, _ := r.ports.Central.Card(ctx, r.serial); rec.State != api.StateIssued {
		t.Fatalf("after lifting: %s", rec.State)
	}
	r.run.Close()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := r.ports.Resume(cctx, r.serial, "en", ""); !errors.Is(err, ErrCentralDown) {
		t.Fatalf("lifting offline: %v", err)
	}
	// Suspending offline still works and waits in the queue.
	if _, err := r.ports.Suspend(ctx, SuspendInput{Serial: r.serial, Reason: "stolen", Lang: "ja"}, false); err != nil {
		t.Fatal(err)
	}
	if c, _ := r.ports.Queue.Count(ctx); c[queue.Pending] != 1 {
		t.Fatalf("queue %v", c)
	}
}

// TestReturnRevokesAtTheCentralSystem: a returned card's transition is
// queued; once delivered, the card is returned and its certificates
// revoked there.
func TestReturnRevokesAtTheCentralSystem(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	if _, err := r.ports.Return(ctx, ReturnInput{Serial: r.serial, Lang: "ja"}); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.NewWorker(r.ports.Queue, queue.Options{Kinds: queue.CentralKinds(r.ports.Central)}).Drain(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := r.ports.Central.Card(ctx, r.serial)
	if err != nil || rec.State != api.StateReturned {
		t.Fatalf("central state %s %v", rec.State, err)
	}
	var kind, receiptNo string
	r.ports.Store.DB.QueryRow(`SELECT kind, receipt FROM procedures`).Scan(&kind, &receiptNo)
	if kind != "return" || receiptNo == "" {
		t.Fatalf("record %q %q", kind, receiptNo)
	}
}

// adult is the identity step of an adult holder with a driving licence
// whose face the clerk compared.
func adult() identity.Visit {
	return identity.Visit{Documents: []identity.Document{identity.DrivingLicence}, FaceMatched: true}
}
