package phone_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"testing"
	"time"

	"madoguchi/drivers/card/cardtest"
	"madoguchi/drivers/card/pcsc"
	"madoguchi/drivers/card/vpcd"
	"madoguchi/drivers/phone"
	"madoguchi/drivers/phone/sim"
)

// TestPhoneThroughPCSCD runs the wallet commands through the real PC/SC
// stack: a private pcscd with the vsmartcard vpcd reader, the virtual
// phone inserted through drivers/card/vpcd, the driver on drivers/card/pcsc
// (as card_cli.go's openCard connects) — the path a phone held to a real
// contactless reader takes.
func TestPhoneThroughPCSCD(t *testing.T) {
	env := cardtest.StartPCSCD(t)
	ph, err := sim.New(sim.Options{Vendor: testVendor(t)})
	if err != nil {
		t.Fatal(err)
	}
	client := vpcd.New(env.VPCDAddr, ph, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { _ = client.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	pc, err := pcsc.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for {
		states, err := pc.Snapshot(ctx)
		present := false
		for _, s := range states {
			present = present || (s.Reader == env.ReaderName && s.CardPresent)
		}
		if present {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the phone never appeared in %s: %v", env.ReaderName, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	conn, err := pc.Connect(ctx, env.ReaderName)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	defer conn.End()
	if !bytes.Equal(conn.ATR(), sim.ATR) {
		t.Errorf("ATR %X, want %X", conn.ATR(), sim.ATR)
	}

	p, err := phone.Open(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Info().ID, ph.Device().ID) {
		t.Fatal("device id differs")
	}
	ch := challenge(32)
	a, err := p.GenerateKey(ctx, phone.PurposeAuth, ch)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.VerifyChallenge(roots(testVendor(t)), ch); err != nil {
		t.Fatal(err)
	}
	d := digest("through pcscd")
	if _, err := p.Sign(ctx, a.KeyID, d); !errors.Is(err, phone.ErrNeedsApproval) {
		t.Fatalf("without approval: %v", err)
	}
	ph.Approve()
	sig, err := p.Sign(ctx, a.KeyID, d)
	if err != nil || !ecdsa.VerifyASN1(a.PublicKey, d, sig) {
		t.Fatalf("approved signature: %v", err)
	}
	notAfter := time.Date(2031, 3, 31, 14, 59, 59, 0, time.UTC)
	chain := issueChain(t, a.PublicKey, notAfter)
	if err := p.PutCredential(ctx, phone.Credential{ID: "jpki-auth-1", Type: phone.CredentialCertChain, KeyID: a.KeyID, NotAfter: notAfter, Data: chain}); err != nil {
		t.Fatal(err)
	}
	if err := p.SetState(ctx, "jpki-auth-1", phone.StateSuspended); err != nil {
		t.Fatal(err)
	}
	if err := p.PutNotice(ctx, phone.Notice{Code: phone.NoticeSuspended, Date: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), CredentialID: "jpki-auth-1"}); err != nil {
		t.Fatal(err)
	}
	list, err := p.Status(ctx)
	if err != nil || len(list) != 1 || list[0].State != phone.StateSuspended || !list[0].NotAfter.Equal(notAfter) {
		t.Fatalf("status %+v %v", list, err)
	}
	if err := p.Delete(ctx, "jpki-auth-1"); err != nil {
		t.Fatal(err)
	}
	if len(ph.Credentials()) != 0 || len(ph.Inbox()) != 1 {
		t.Fatal("the phone's state is not what the driver did")
	}
	t.Logf("%d APDUs through pcscd", p.APDUCount())
}
