package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"madoguchi/app"
	"madoguchi/app/i18n"
	"madoguchi/drivers/card/pcsc"
)

// readerWatch follows insertions and removals with pcsc.Monitor
// (GetStatusChange) and keeps the state the status panel shows, so a
// status request costs no PC/SC call and a card shows up as soon as pcscd
// sees it.
type readerWatch struct {
	name string // the configured reader, or "auto"
	log  *slog.Logger

	mu      sync.Mutex
	service bool            // pcscd reachable
	readers map[string]bool // reader → card present
}

func newReaderWatch(name string, log *slog.Logger) *readerWatch {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &readerWatch{name: name, log: log, readers: map[string]bool{}}
}

// run watches until ctx ends, reconnecting to pcscd when it comes back.
func (w *readerWatch) run(ctx context.Context) {
	for ctx.Err() == nil {
		events, err := pcsc.NewMonitor(pcsc.WithLogger(w.log)).Watch(ctx)
		if err != nil {
			w.setService(false)
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
			continue
		}
		w.setService(true)
		for ev := range events {
			w.log.Info("card reader", "event", ev.Kind.String(), "reader", ev.Reader)
			w.apply(ev)
		}
	}
}

func (w *readerWatch) setService(up bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.service = up
	if !up {
		w.readers = map[string]bool{}
	}
}

func (w *readerWatch) apply(ev pcsc.Event) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev.Kind {
	case pcsc.ReaderAdded:
		w.readers[ev.Reader] = false
	case pcsc.ReaderRemoved:
		delete(w.readers, ev.Reader)
	case pcsc.CardInserted:
		w.readers[ev.Reader] = true
	case pcsc.CardRemoved:
		w.readers[ev.Reader] = false
	}
}

// state is the reader's Component for app.Status.
func (w *readerWatch) state(context.Context) app.Component {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.service {
		return app.Component{State: "error", Label: i18n.Key("status.reader.no_service")}
	}
	if w.name != "auto" {
		present, ok := w.readers[w.name]
		switch {
		case !ok:
			return app.Component{State: "error", Label: i18n.Key("status.reader.missing"), Detail: w.name}
		case present:
			return app.Component{State: "ok", Label: i18n.Key("status.reader.card"), Detail: w.name}
		}
		return app.Component{State: "absent", Label: i18n.Key("status.reader.no_card"), Detail: w.name}
	}
	first := ""
	for r, present := range w.readers {
		if present {
			return app.Component{State: "ok", Label: i18n.Key("status.reader.card"), Detail: r}
		}
		if first == "" || r < first {
			first = r
		}
	}
	if first == "" {
		return app.Component{State: "error", Label: i18n.Key("status.reader.missing")}
	}
	return app.Component{State: "absent", Label: i18n.Key("status.reader.no_card"), Detail: first}
}
