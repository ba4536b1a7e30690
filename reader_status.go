package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"madoguchi/app"
	"madoguchi/app/i18n"
	"madoguchi/drivers/card"
	"madoguchi/drivers/card/pcsc"
)

// readerProbe reports the configured PC/SC reader for the status panel,
// keeping one PC/SC context and opening it again after pcscd restarts.
type readerProbe struct {
	name string // configured reader, or "auto"
	log  *slog.Logger

	mu sync.Mutex
	pc *pcsc.Context
}

func (p *readerProbe) state(ctx context.Context) app.Component {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pc == nil {
		pc, err := pcsc.Open(ctx, pcsc.WithLogger(p.log))
		if err != nil {
			return app.Component{State: "error", Label: i18n.Key("status.reader.no_service")}
		}
		p.pc = pc
	}
	states, err := p.pc.Snapshot(ctx)
	if err != nil {
		p.pc.Close()
		p.pc = nil
		if errors.Is(err, card.ErrReaderGone) {
			return app.Component{State: "error", Label: i18n.Key("status.reader.no_service")}
		}
		p.log.Warn("reader status", "err", err)
		return app.Component{State: "error", Label: i18n.Key("status.reader.no_service")}
	}
	for _, s := range states {
		if p.name != "auto" && s.Reader != p.name {
			continue
		}
		if s.CardPresent {
			return app.Component{State: "ok", Label: i18n.Key("status.reader.card"), Detail: s.Reader}
		}
		if p.name != "auto" {
			return app.Component{State: "absent", Label: i18n.Key("status.reader.no_card"), Detail: s.Reader}
		}
	}
	if p.name == "auto" && len(states) > 0 {
		return app.Component{State: "absent", Label: i18n.Key("status.reader.no_card"), Detail: states[0].Reader}
	}
	return app.Component{State: "error", Label: i18n.Key("status.reader.missing"), Detail: p.name}
}
