package card_test

// Integration tests through the real PC/SC stack: a private pcscd
// (cardtest.StartPCSCD) with the vsmartcard vpcd reader, the virtual card
// inserted through drivers/card/vpcd, and the driver talking to it through
// drivers/card/pcsc — the same path a real card in a real reader takes.

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	"madoguchi/drivers/card/cardtest"
	"madoguchi/drivers/card/pcsc"
	"madoguchi/drivers/card/sim"
	"madoguchi/drivers/card/vpcd"
)

// rig is a virtual card in a private pcscd.
type rig struct {
	env    *cardtest.Env
	client *vpcd.Client
	engine *sim.Card
	pc     *pcsc.Context
}

// engineHook lets a test act on the APDUs the card receives.
type engineHook struct {
	*sim.Card
	onAPDU func(cmd []byte)
}

func (h *engineHook) Process(cmd []byte) []byte {
	if h.onAPDU != nil {
		h.onAPDU(cmd)
	}
	return h.Card.Process(cmd)
}

func newRig(t testing.TB, p *card.Profile, hook func(cmd []byte)) *rig {
	t.Helper()
	env := cardtest.StartPCSCD(t)
	_, engine := newCard(t, sim.Options{Profile: p})
	r := &rig{env: env, engine: engine}
	r.client = vpcd.New(env.VPCDAddr, &engineHook{Card: engine, onAPDU: hook}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.client.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	pc, err := pcsc.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	r.pc = pc
	r.waitPresent(t, true)
	return r
}

// waitPresent polls the reader state until the card is (or is not) there;
// the context bounds the wait, so a broken stack fails instead of hanging.
func (r *rig) waitPresent(t testing.TB, want bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		states, err := r.pc.Snapshot(ctx)
		if err == nil {
			for _, s := range states {
				if s.Reader == r.env.ReaderName && s.CardPresent == want {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("card present=%v never seen in %s: %v", want, r.env.ReaderName, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (r *rig) open(t testing.TB) (*card.Card, *pcsc.Conn) {
	t.Helper()
	ctx := context.Background()
	conn, err := r.pc.Connect(ctx, r.env.ReaderName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := card.Open(ctx, conn, card.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c, conn
}

func TestThroughPCSCD(t *testing.T) {
	for _, p := range []*card.Profile{card.Current, card.Next} {
		t.Run(p.Name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, p, nil)
			c, _ := r.open(t)
			if c.Profile() != p {
				t.Fatalf("identified as %s", c.Profile().Name)
			}
			kind := p.InputAssistPINs[0]
			s, err := c.ReadSummary(ctx, func(context.Context, map[card.PINKind]int) (card.PINKind, secret.Value, bool, error) {
				return kind, pin("1234"), true, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if s.BasicFour == nil || s.BasicFour.Name != sim.DemoHolder.Name || len(s.Tries) != len(p.PINs) {
				t.Fatalf("summary %+v", s)
			}
			authCA, signCA, err := c.CACertificates(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := card.CheckChain(s.AuthCert, authCA, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := c.Verify(ctx, card.PINSign, secret.NewPassword("MADOGUCHI1")); err != nil {
				t.Fatal(err)
			}
			sc, err := c.SignCertificate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := card.CheckChain(sc, signCA, time.Now()); err != nil {
				t.Fatal(err)
			}
			// Wrong PIN until blocked, through pcscd.
			for left := 2; left >= 0; left-- {
				var we *card.WrongPINError
				if err := c.Verify(ctx, card.PINAuth, pin("0000")); !errors.As(err, &we) || we.Remaining != left {
					t.Fatalf("wrong PIN: %v", err)
				}
			}
			if err := c.Verify(ctx, card.PINAuth, pin("1234")); !errors.Is(err, card.ErrBlocked) {
				t.Fatalf("blocked: %v", err)
			}
		})
	}
}

// TestPulledMidRead pulls the card while the certificate is being read:
// the driver reports ErrCardRemoved at once; after reinsertion a new
// session reads it all.
func TestPulledMidRead(t *testing.T) {
	var reads atomic.Int32
	var client atomic.Pointer[vpcd.Client]
	r := newRig(t, card.Current, func(cmd []byte) {
		if len(cmd) > 1 && cmd[1] == 0xB0 && reads.Add(1) == 3 {
			go client.Load().Remove() // the third READ BINARY is the last one answered
		}
	})
	client.Store(r.client)
	c, conn := r.open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.AuthCertificate(ctx)
	if !errors.Is(err, card.ErrCardRemoved) || !card.IsGone(err) {
		t.Fatalf("read with the card pulled: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the driver waited for the context instead of failing at once")
	}
	r.waitPresent(t, false)
	conn.Close()
	r.client.Insert()
	r.waitPresent(t, true)
	c2, _ := r.open(t)
	cert, err := c2.AuthCertificate(context.Background())
	if err != nil || cert == nil {
		t.Fatalf("after reinsertion: %v", err)
	}
}

// BenchmarkCounterSummaryThroughPCSCD measures what a counter reads when
// a card is placed (docs/BENCHMARKS.md): APDUs and wall time per session.
func BenchmarkCounterSummaryThroughPCSCD(b *testing.B) {
	r := newRig(b, card.Current, nil)
	ctx := context.Background()
	conn, err := r.pc.Connect(ctx, r.env.ReaderName)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	apdus := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := card.Open(ctx, conn, card.Options{})
		if err != nil {
			b.Fatal(err)
		}
		_, err = c.ReadSummary(ctx, func(context.Context, map[card.PINKind]int) (card.PINKind, secret.Value, bool, error) {
			return card.PINInputAssist, pin("1234"), true, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		apdus = c.APDUCount()
		b.StopTimer()
		_ = c.Logout(ctx)
		b.StartTimer()
	}
	b.ReportMetric(float64(apdus), "APDUs/session")
}
