package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"madoguchi/app"
	"madoguchi/app/config"
	"madoguchi/app/i18n"
	"madoguchi/drivers/jlis"
	"madoguchi/drivers/jlis/sim"
)

// central connects the terminal to the central system: the configured
// endpoint, or the built-in simulator started in-process (demo). A
// background health check keeps the state the status panel shows, so a
// status request never waits on the network.
type central struct {
	demo bool
	log  *slog.Logger

	mu     sync.Mutex
	client *jlis.Client
	state  app.Component
}

const centralHealthEvery = 10 * time.Second

// startCentral begins connecting in the background and returns at once.
func startCentral(ctx context.Context, cfg config.Central, dataDir string, log *slog.Logger) *central {
	c := &central{demo: cfg.Demo(), log: log, state: app.Component{State: "absent", Label: i18n.Key("status.central.connecting")}}
	go c.run(ctx, cfg, dataDir)
	return c
}

func (c *central) run(ctx context.Context, cfg config.Central, dataDir string) {
	var client *jlis.Client
	var err error
	if c.demo {
		client, err = startSimulator(ctx, filepath.Join(dataDir, "central-sim"), c.log)
	} else {
		client, err = jlis.New(jlis.Config{BaseURL: cfg.Endpoint, CertFile: cfg.Cert, KeyFile: cfg.Key, CAFile: cfg.CA, Timeout: 5 * time.Second, Log: c.log})
	}
	if err != nil {
		c.log.Error("central system", "err", err)
		c.set(app.Component{State: "error", Label: i18n.Key("status.central.misconfigured")})
		return
	}
	c.mu.Lock()
	c.client = client
	c.mu.Unlock()
	for {
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := client.Health(hctx)
		cancel()
		switch {
		case err == nil && c.demo:
			c.set(app.Component{State: "demo", Label: i18n.Key("status.central.demo")})
		case err == nil:
			c.set(app.Component{State: "ok", Label: i18n.Key("status.central.ok")})
		default:
			c.log.Warn("central system unreachable", "err", err)
			c.set(app.Component{State: "error", Label: i18n.Key("status.central.unreachable")})
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(centralHealthEvery):
		}
	}
}

// startSimulator initialises (first time) and starts the built-in central
// simulator on loopback, and returns a client with its terminal-01
// certificate.
func startSimulator(ctx context.Context, dir string, log *slog.Logger) (*jlis.Client, error) {
	ir, err := sim.Init(dir)
	if err != nil {
		return nil, err
	}
	run, err := sim.Start(ctx, sim.Options{Dir: dir, Addr: "127.0.0.1:0", PublicAddr: "127.0.0.1:0", Log: log})
	if err != nil {
		return nil, err
	}
	go func() { <-ctx.Done(); run.Close() }()
	return jlis.New(jlis.Config{BaseURL: run.URL, CertFile: ir.TerminalCert, KeyFile: ir.TerminalKey, CAFile: ir.RootCA, Timeout: 5 * time.Second, Log: log})
}

func (c *central) set(s app.Component) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state = s
}

// status is the central system's Component for app.Status.
func (c *central) status(context.Context) app.Component {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}
