package pcsc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ebfe/scard"

	"madoguchi/drivers/card"
)

// Option configures Open, Snapshot and NewMonitor.
type Option func(*options)

type options struct {
	log      *slog.Logger
	extended bool
}

// WithLogger logs to l instead of discarding the log.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// WithExtendedLength makes the Conns of this Context report, through
// ExtendedLength, that the reader accepts extended-length APDUs. PC/SC
// cannot tell reliably, so the default is false (short APDUs, chunked
// reads); turn it on from configuration for readers known to cope.
func WithExtendedLength(on bool) Option {
	return func(o *options) { o.extended = on }
}

func buildOptions(opts []Option) options {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Context is an established PC/SC context (SCardEstablishContext). Its
// methods are safe for concurrent use; a Monitor uses a context of its own
// because a blocking wait holds the context.
type Context struct {
	opts options
	log  *slog.Logger

	mu   sync.Mutex
	sctx *scard.Context // nil after Close
}

// Open establishes a PC/SC context. If the PC/SC service is not running
// the error wraps card.ErrReaderGone.
func Open(ctx context.Context, opts ...Option) (*Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	sctx, err := scard.EstablishContext()
	if err != nil {
		return nil, mapErr("establishing context", err, card.ErrCardRemoved)
	}
	return &Context{opts: o, log: o.log, sctx: sctx}, nil
}

// handle returns the scard context, or ErrClosed.
func (c *Context) handle() (*scard.Context, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sctx == nil {
		return nil, ErrClosed
	}
	return c.sctx, nil
}

// Close releases the context. Conns made from it stay usable until they
// are closed.
func (c *Context) Close() error {
	c.mu.Lock()
	sctx := c.sctx
	c.sctx = nil
	c.mu.Unlock()
	if sctx == nil {
		return nil
	}
	if err := sctx.Release(); err != nil && !serviceGone(err) {
		return mapErr("releasing context", err, card.ErrCardRemoved)
	}
	return nil
}

// Readers lists the readers known to the PC/SC service. No readers is an
// empty list, not an error; a stopped service wraps card.ErrReaderGone.
func (c *Context) Readers(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sctx, err := c.handle()
	if err != nil {
		return nil, err
	}
	readers, err := sctx.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return []string{}, nil
	}
	if err != nil {
		return nil, mapErr("listing readers", err, card.ErrCardRemoved)
	}
	return readers, nil
}

// Connect opens an exclusive session (SCARD_SHARE_EXCLUSIVE, T=0 or T=1)
// to the card in reader. An empty reader wraps card.ErrNoCard, a reader
// that does not exist card.ErrReaderGone, a card held by another
// application ErrInUse.
func (c *Context) Connect(ctx context.Context, reader string) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sctx, err := c.handle()
	if err != nil {
		return nil, err
	}
	op := fmt.Sprintf("connecting to %q", reader)
	h, err := sctx.Connect(reader, scard.ShareExclusive, scard.ProtocolAny)
	if err != nil {
		return nil, mapErr(op, err, card.ErrNoCard)
	}
	st, err := h.Status()
	if err != nil {
		_ = h.Disconnect(scard.LeaveCard)
		return nil, mapErr(op+": status", err, card.ErrNoCard)
	}
	conn := &Conn{
		reader:   reader,
		log:      c.log.With("reader", reader),
		card:     h,
		atr:      append([]byte(nil), st.Atr...),
		extended: c.opts.extended,
	}
	conn.log.Debug("connected", "atr", fmt.Sprintf("% X", st.Atr), "protocol", h.ActiveProtocol())
	return conn, nil
}

// ReaderState is one reader in a Snapshot.
type ReaderState struct {
	// Reader is the PC/SC reader name.
	Reader string
	// CardPresent: a card is in the reader (SCARD_STATE_PRESENT).
	CardPresent bool
	// ATR of the card, nil when there is none.
	ATR []byte
	// InUse: applications share a connection to the card
	// (SCARD_STATE_INUSE; not set for an exclusive one).
	InUse bool
	// Exclusive: an application holds the card exclusively, as a Conn
	// does (SCARD_STATE_EXCLUSIVE).
	Exclusive bool
	// Mute: the card does not answer (inserted the wrong way, broken).
	Mute bool
}

// Snapshot reports every reader and its card, without waiting, for the
// status panel. No readers gives an empty list.
func (c *Context) Snapshot(ctx context.Context) ([]ReaderState, error) {
	const tries = 3 // a reader may vanish between listing and asking
	for try := 1; ; try++ {
		readers, err := c.Readers(ctx)
		if err != nil {
			return nil, err
		}
		if len(readers) == 0 {
			return []ReaderState{}, nil
		}
		sctx, err := c.handle()
		if err != nil {
			return nil, err
		}
		states := make([]scard.ReaderState, len(readers))
		for i, r := range readers {
			states[i] = scard.ReaderState{Reader: r, CurrentState: scard.StateUnaware}
		}
		err = sctx.GetStatusChange(states, 0)
		if errors.Is(err, scard.ErrUnknownReader) && try < tries {
			continue
		}
		if err != nil {
			return nil, mapErr("reading reader states", err, card.ErrCardRemoved)
		}
		out := make([]ReaderState, len(states))
		for i, st := range states {
			ev := st.EventState
			out[i] = ReaderState{
				Reader:      st.Reader,
				CardPresent: ev&scard.StatePresent != 0,
				InUse:       ev&scard.StateInuse != 0,
				Exclusive:   ev&scard.StateExclusive != 0,
				Mute:        ev&scard.StateMute != 0,
			}
			if out[i].CardPresent {
				out[i].ATR = append([]byte(nil), st.Atr...)
			}
		}
		return out, nil
	}
}

// Snapshot opens a context, takes a Snapshot and closes the context.
func Snapshot(ctx context.Context, opts ...Option) ([]ReaderState, error) {
	c, err := Open(ctx, opts...)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Snapshot(ctx)
}
