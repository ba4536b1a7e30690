package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"madoguchi/app"
	"madoguchi/app/config"
	"madoguchi/app/flow"
	"madoguchi/app/i18n"
	"madoguchi/app/queue"
	"madoguchi/app/secret"
	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/sim"
)

// connectCentral returns a client for the configured central system, or
// starts the built-in simulator in-process (demo) and returns a client
// with its first terminal certificate. stop ends the simulator.
func connectCentral(ctx context.Context, cfg config.Central, dataDir string, log *slog.Logger) (client *jlis.Client, stop func(), err error) {
	if !cfg.Demo() {
		c, err := jlis.New(jlis.Config{BaseURL: cfg.Endpoint, CertFile: cfg.Cert, KeyFile: cfg.Key, CAFile: cfg.CA, Timeout: 10 * time.Second, Log: log})
		return c, func() {}, err
	}
	dir := filepath.Join(dataDir, "central-sim")
	ir, err := sim.Init(dir)
	if err != nil {
		return nil, nil, err
	}
	run, err := sim.Start(ctx, sim.Options{Dir: dir, Addr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0", Log: log})
	if err != nil {
		return nil, nil, err
	}
	c, err := jlis.New(jlis.Config{BaseURL: run.URL, CertFile: ir.TerminalCert, KeyFile: ir.TerminalKey, CAFile: ir.RootCA, Timeout: 10 * time.Second, Log: log})
	if err != nil {
		run.Close()
		return nil, nil, err
	}
	return c, func() { run.Close() }, nil
}

// demoCardFor makes (on first use) and returns the built-in virtual card
// as the built-in simulator's first demo card (serial DEMO000000000001):
// its management key derived from the simulator's master key, its text
// data signed by the simulator's card issuer, and on first use its keys
// generated again and certified by the simulator through the real
// issuance steps (so that the central system knows its certificates, as
// for any card it issued), then the card record set to issued.
func demoCardFor(ctx context.Context, dataDir string, prof *card.Profile, client *jlis.Client, log *slog.Logger) (*cardsim.Card, error) {
	ir, err := sim.Init(filepath.Join(dataDir, "central-sim"))
	if err != nil {
		return nil, err
	}
	mk, err := os.ReadFile(ir.MasterKey)
	if err != nil {
		return nil, err
	}
	master, err := hex.DecodeString(strings.TrimSpace(string(mk)))
	if err != nil {
		return nil, fmt.Errorf("central simulator master key: %w", err)
	}
	serial := ir.DemoCards[0]
	rec, err := client.Card(ctx, serial)
	if err != nil {
		return nil, err
	}
	iss, err := sim.CardIssuer(ir.Dir)
	if err != nil {
		return nil, err
	}
	vc, _, err := cardsim.LoadOrCreateBoundDemo(dataDir, prof, cardsim.Bind{Serial: serial, MgmtKey: card.DiversifyKey(master, serial), Issuer: iss}, log)
	if err != nil {
		return nil, err
	}
	if rec.State != api.StateDelivered {
		return vc, nil
	}
	c, err := card.Open(ctx, cardsim.NewSlot(vc), card.Options{Log: log})
	if err != nil {
		return nil, err
	}
	p := flow.Ports{Central: client, Log: log}
	for _, k := range []struct {
		key card.PINKind
		pin string
	}{{card.PINAuth, cardsim.DemoPINs.Auth}, {card.PINSign, cardsim.DemoPINs.Sign}} {
		pin := secret.NewPIN(k.pin)
		_, err := p.NewCertificate(ctx, c, k.key, pin)
		pin.Wipe()
		if err != nil {
			return nil, fmt.Errorf("demo card: %w", err)
		}
	}
	if _, err := client.Transition(ctx, jlis.NewIdempotencyKey(), serial, api.Transition{To: api.StateIssued, Reason: "demo"}); err != nil {
		return nil, err
	}
	return vc, nil
}

// central runs the terminal's link to the central system in the
// background: it connects (or starts the simulator), then runs the queue's
// sync worker, whose circuit tells the status panel whether the central
// system is reachable. Status never waits on the network.
type central struct {
	demo bool
	q    *queue.Queue
	log  *slog.Logger

	mu     sync.Mutex
	worker *queue.Worker
	client *jlis.Client
	failed bool
	ready  chan struct{} // closed once connected (or failed)
}

func startCentral(ctx context.Context, cfg config.Central, dataDir string, q *queue.Queue, log *slog.Logger) *central {
	c := &central{demo: cfg.Demo(), q: q, log: log, ready: make(chan struct{})}
	go func() {
		client, stop, err := connectCentral(ctx, cfg, dataDir, log)
		if err != nil {
			log.Error("central system", "err", err)
			c.mu.Lock()
			c.failed = true
			c.mu.Unlock()
			close(c.ready)
			return
		}
		defer stop()
		w := queue.NewWorker(q, queue.Options{
			Kinds: queue.CentralKinds(client),
			Probe: func(ctx context.Context) error { _, err := client.Health(ctx); return err },
			Log:   log,
		})
		c.mu.Lock()
		c.worker, c.client = w, client
		c.mu.Unlock()
		close(c.ready)
		if err := w.Run(ctx); err != nil {
			log.Error("queue worker", "err", err)
		}
	}()
	return c
}

// errNoCentral: the central connection could not be set up (see the log).
var errNoCentral = errors.New("the central system is not configured correctly")

// clockSkew is the central system's clock minus this PC's, from its last
// answer; ok is false before the first one.
func (c *central) clockSkew() (time.Duration, bool) {
	c.mu.Lock()
	cl := c.client
	c.mu.Unlock()
	if cl == nil {
		return 0, false
	}
	skew, _, ok := cl.ClockSkew()
	return skew, ok
}

// connected waits for the central connection and returns its client.
func (c *central) connected(ctx context.Context) (*jlis.Client, error) {
	select {
	case <-c.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil {
		return nil, errNoCentral
	}
	return c.client, nil
}

// status is the central system's Component for app.Status.
func (c *central) status(context.Context) app.Component {
	c.mu.Lock()
	w, failed := c.worker, c.failed
	c.mu.Unlock()
	switch {
	case failed:
		return app.Component{State: "error", Label: i18n.Key("status.central.misconfigured")}
	case w == nil:
		return app.Component{State: "absent", Label: i18n.Key("status.central.connecting")}
	}
	st := w.Status()
	switch {
	case st.Paused:
		return app.Component{State: "absent", Label: i18n.Key("status.central.paused")}
	case !st.Online:
		return app.Component{State: "error", Label: i18n.Key("status.central.unreachable")}
	case c.demo:
		return app.Component{State: "demo", Label: i18n.Key("status.central.demo")}
	}
	return app.Component{State: "ok", Label: i18n.Key("status.central.ok")}
}
