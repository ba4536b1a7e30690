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
	"madoguchi/app/i18n"
	"madoguchi/app/queue"
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

// demoBinding makes the built-in virtual card the built-in simulator's
// first demo card (serial DEMO000000000001): its management key derived
// from the simulator's master key, and the card issued there, so that the
// procedures can run end to end in the demo.
func demoBinding(ctx context.Context, dataDir string, client *jlis.Client) (cardsim.Bind, error) {
	ir, err := sim.Init(filepath.Join(dataDir, "central-sim"))
	if err != nil {
		return cardsim.Bind{}, err
	}
	mk, err := os.ReadFile(ir.MasterKey)
	if err != nil {
		return cardsim.Bind{}, err
	}
	master, err := hex.DecodeString(strings.TrimSpace(string(mk)))
	if err != nil {
		return cardsim.Bind{}, fmt.Errorf("central simulator master key: %w", err)
	}
	serial := ir.DemoCards[0]
	rec, err := client.Card(ctx, serial)
	if err != nil {
		return cardsim.Bind{}, err
	}
	if rec.State == api.StateDelivered {
		if _, err := client.Transition(ctx, jlis.NewIdempotencyKey(), serial, api.Transition{To: api.StateIssued, Reason: "demo"}); err != nil {
			return cardsim.Bind{}, err
		}
	}
	iss, err := sim.CardIssuer(ir.Dir)
	if err != nil {
		return cardsim.Bind{}, err
	}
	return cardsim.Bind{Serial: serial, MgmtKey: card.DiversifyKey(master, serial), Issuer: iss}, nil
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
