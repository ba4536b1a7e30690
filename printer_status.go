package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"madoguchi/app"
	"madoguchi/app/config"
	"madoguchi/app/i18n"
	"madoguchi/app/receipt"
	"madoguchi/printing"
)

// printerWatch reads the configured receipt printer's state every few
// seconds in the background, so the status panel can say "out of paper"
// before a receipt fails and never waits on CUPS.
type printerWatch struct {
	queue string
	log   *slog.Logger

	mu    sync.Mutex
	state app.Component
}

const printerCheckEvery = 5 * time.Second

func startPrinterWatch(ctx context.Context, cfg config.Printer, log *slog.Logger) *printerWatch {
	w := &printerWatch{queue: cfg.Queue, log: log}
	if cfg.Queue == "" {
		w.state = app.Component{State: "absent", Label: receipt.ProblemNoPrinter.Message()}
		return w
	}
	w.state = app.Component{State: "absent", Label: i18n.Key("status.central.connecting"), Detail: cfg.Queue}
	cups, err := printing.NewCUPS(cfg.URI, printing.CUPSOptions{Log: log})
	if err != nil {
		log.Error("printer", "err", err)
		w.state = app.Component{State: "error", Label: receipt.ProblemUnreachable.Message(), Detail: cfg.Queue}
		return w
	}
	go func() {
		for {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			st, err := cups.Printer(cctx, cfg.Queue)
			cancel()
			c := app.Component{State: "ok", Label: receipt.ProblemNone.Message(), Detail: cfg.Queue}
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				c.State, c.Label = "error", receipt.ProblemUnreachable.Message()
			case st.Problem() != receipt.ProblemNone:
				c.State, c.Label = "error", st.Problem().Message()
			default:
				c.Label = i18n.Key("status.printer.ready")
			}
			w.mu.Lock()
			w.state = c
			w.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(printerCheckEvery):
			}
		}
	}()
	return w
}

func (w *printerWatch) status(context.Context) app.Component {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.state
}
