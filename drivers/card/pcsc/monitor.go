package pcsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ebfe/scard"

	"madoguchi/drivers/card"
)

// pnpReader is the special reader name whose state changes when a reader
// is added or removed.
const pnpReader = `\\?PnP?\Notification`

// Timings of the Monitor.
const (
	cancelRetry     = 50 * time.Millisecond // repeat SCardCancel until the wait returns
	minReestablish  = 100 * time.Millisecond
	maxReestablish  = 2 * time.Second
	eventBufferSize = 16
)

// EventKind says what happened to a reader.
type EventKind int

// Event kinds.
const (
	// ReaderAdded: a reader appeared (or was there when Watch started,
	// or came back with the PC/SC service).
	ReaderAdded EventKind = iota + 1
	// ReaderRemoved: a reader disappeared (or the PC/SC service
	// stopped).
	ReaderRemoved
	// CardInserted: a card is now in the reader; Event.ATR holds its ATR.
	CardInserted
	// CardRemoved: the card left the reader.
	CardRemoved
)

// String returns the name of the kind.
func (k EventKind) String() string {
	switch k {
	case ReaderAdded:
		return "ReaderAdded"
	case ReaderRemoved:
		return "ReaderRemoved"
	case CardInserted:
		return "CardInserted"
	case CardRemoved:
		return "CardRemoved"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is a change of a reader or of its card.
type Event struct {
	Reader string
	Kind   EventKind
	// ATR of the inserted card (CardInserted only).
	ATR []byte
}

// String formats the event for logs.
func (e Event) String() string {
	if e.Kind == CardInserted {
		return fmt.Sprintf("%s %q ATR % X", e.Kind, e.Reader, e.ATR)
	}
	return fmt.Sprintf("%s %q", e.Kind, e.Reader)
}

// Monitor watches readers and cards with SCardGetStatusChange.
type Monitor struct {
	log *slog.Logger
}

// NewMonitor returns a Monitor; only WithLogger applies.
func NewMonitor(opts ...Option) *Monitor {
	return &Monitor{log: buildOptions(opts).log}
}

// Watch starts watching and returns the events. It first reports every
// reader present (ReaderAdded) and every card in them (CardInserted), then
// each change. A card pulled and put back faster than pcscd polls still
// shows as CardRemoved then CardInserted. If the PC/SC service stops,
// every reader is reported removed and Watch keeps trying to reconnect,
// reporting the readers again when the service is back. The channel is
// closed after ctx ends.
//
// Watch fails only if ctx is already done or the PC/SC service cannot be
// reached at the start (wrapping card.ErrReaderGone).
func (m *Monitor) Watch(ctx context.Context) (<-chan Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sctx, err := scard.EstablishContext()
	if err != nil {
		return nil, mapErr("monitor: establishing context", err, card.ErrCardRemoved)
	}
	out := make(chan Event, eventBufferSize)
	w := &watcher{log: m.log, out: out, sctx: sctx, readers: map[string]*watched{}}
	w.resetStates()
	go w.run(ctx)
	return out, nil
}

// watched is what the watcher last reported about a reader.
type watched struct {
	present bool
	events  uint16 // card event counter, upper 16 bits of the state
}

// watcher is one Watch loop.
type watcher struct {
	log *slog.Logger
	out chan<- Event

	mu   sync.Mutex     // guards sctx against the canceller
	sctx *scard.Context // nil while the service is away

	states  []scard.ReaderState // states[0] is pnpReader
	readers map[string]*watched
}

// run is the loop of Watch.
func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	stopCancel := make(chan struct{})
	cancelDone := make(chan struct{})
	go w.canceller(ctx, stopCancel, cancelDone)
	defer func() {
		close(stopCancel)
		<-cancelDone
		if sctx := w.context(); sctx != nil {
			_ = sctx.Release()
		}
	}()

	backoff := minReestablish
	errBackoff := 10 * time.Millisecond // after unexpected errors of the wait
	for ctx.Err() == nil {
		sctx := w.context()
		if sctx == nil {
			n, err := scard.EstablishContext()
			if err != nil {
				w.log.Debug("pcsc: service still away", "err", err, "retry", backoff)
				sleep(ctx, backoff)
				backoff = min(2*backoff, maxReestablish)
				continue
			}
			w.log.Info("pcsc: service back, context re-established")
			w.setContext(n)
			backoff = minReestablish
			continue
		}
		if err := w.syncReaders(ctx, sctx); err != nil {
			w.lost(ctx, err)
			continue
		}
		err := sctx.GetStatusChange(w.states, -1) // infinite; the canceller ends it
		switch {
		case err == nil:
			w.apply(ctx)
			errBackoff = 10 * time.Millisecond
		case errors.Is(err, scard.ErrCancelled), errors.Is(err, scard.ErrTimeout):
		case serviceGone(err):
			w.lost(ctx, err)
		default:
			// ErrUnknownReader: a reader went between list and wait, and
			// the next syncReaders drops it. Anything else is unexpected.
			// Either way, back off so that an error that persists (a PC/SC
			// without PnP notification, say) cannot spin.
			level := slog.LevelWarn
			if errors.Is(err, scard.ErrUnknownReader) {
				level = slog.LevelDebug
			}
			w.log.Log(ctx, level, "pcsc: waiting for reader changes", "err", err, "retry", errBackoff)
			sleep(ctx, errBackoff)
			errBackoff = min(2*errBackoff, maxReestablish)
		}
	}
}

// canceller calls SCardCancel on the current context once ctx ends, and
// again every 50 ms until run stops: a single call could land just before
// run enters the wait, which would then block for ever.
func (w *watcher) canceller(ctx context.Context, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	select {
	case <-stop:
		return
	case <-ctx.Done():
	}
	t := time.NewTicker(cancelRetry)
	defer t.Stop()
	for {
		if sctx := w.context(); sctx != nil {
			_ = sctx.Cancel()
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (w *watcher) context() *scard.Context {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sctx
}

func (w *watcher) setContext(sctx *scard.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sctx = sctx
}

// resetStates forgets every reader state: after (re)establishing, all
// readers start at StateUnaware.
func (w *watcher) resetStates() {
	w.states = []scard.ReaderState{{Reader: pnpReader, CurrentState: scard.StateUnaware}}
}

// syncReaders lists the readers and reports additions and removals.
func (w *watcher) syncReaders(ctx context.Context, sctx *scard.Context) error {
	names, err := sctx.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		names, err = nil, nil
	}
	if err != nil {
		return err
	}
	listed := make(map[string]bool, len(names))
	for _, n := range names {
		listed[n] = true
	}
	kept := w.states[:1]
	for _, st := range w.states[1:] {
		if listed[st.Reader] {
			kept = append(kept, st)
			continue
		}
		w.dropReader(ctx, st.Reader)
	}
	w.states = kept
	for _, n := range names {
		if _, ok := w.readers[n]; ok {
			continue
		}
		w.readers[n] = &watched{}
		w.states = append(w.states, scard.ReaderState{Reader: n, CurrentState: scard.StateUnaware})
		w.emit(ctx, Event{Reader: n, Kind: ReaderAdded})
	}
	return nil
}

// dropReader reports a reader gone (and its card, if it had one).
func (w *watcher) dropReader(ctx context.Context, name string) {
	r, ok := w.readers[name]
	if !ok {
		return
	}
	delete(w.readers, name)
	if r.present {
		w.emit(ctx, Event{Reader: name, Kind: CardRemoved})
	}
	w.emit(ctx, Event{Reader: name, Kind: ReaderRemoved})
}

// apply turns the states GetStatusChange returned into events.
func (w *watcher) apply(ctx context.Context) {
	for i := range w.states {
		st := &w.states[i]
		ev := st.EventState
		if ev&scard.StateChanged == 0 {
			continue
		}
		st.CurrentState = ev &^ scard.StateChanged
		if i == 0 {
			continue // PnP: syncReaders runs next
		}
		if ev&(scard.StateUnknown|scard.StateUnavailable) != 0 {
			continue // the reader is going: syncReaders reports it
		}
		r := w.readers[st.Reader]
		if r == nil {
			continue
		}
		// After a removal the old ATR is still reported: decide on
		// PRESENT alone.
		present := ev&scard.StatePresent != 0
		events := uint16(ev >> 16)
		switch {
		case present && !r.present:
			w.emit(ctx, Event{Reader: st.Reader, Kind: CardInserted, ATR: bytes.Clone(st.Atr)})
		case !present && r.present:
			w.emit(ctx, Event{Reader: st.Reader, Kind: CardRemoved})
		case present && r.present && events != r.events:
			// Pulled and put back between two polls: the counter moved.
			w.emit(ctx, Event{Reader: st.Reader, Kind: CardRemoved})
			w.emit(ctx, Event{Reader: st.Reader, Kind: CardInserted, ATR: bytes.Clone(st.Atr)})
		}
		r.present, r.events = present, events
	}
}

// lost handles a stopped PC/SC service: it releases the context, reports
// every reader gone and lets run re-establish.
func (w *watcher) lost(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	w.log.Warn("pcsc: service lost, re-establishing", "err", err)
	if sctx := w.context(); sctx != nil {
		_ = sctx.Release()
	}
	w.setContext(nil)
	for _, st := range w.states[1:] {
		w.dropReader(ctx, st.Reader)
	}
	w.resetStates()
}

// emit sends ev unless ctx ends first.
func (w *watcher) emit(ctx context.Context, ev Event) {
	w.log.Debug("pcsc: event", "event", ev.String())
	select {
	case w.out <- ev:
	case <-ctx.Done():
	}
}

// sleep waits for d or ctx.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
