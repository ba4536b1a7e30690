package vpcd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Card is a virtual card's APDU engine.
type Card interface {
	ATR() []byte
	// Reset is called on power on, power off and reset: it clears volatile state (current DF, verified PINs).
	Reset()
	// Process answers one command APDU with a response APDU (data followed by SW1 SW2).
	Process(command []byte) []byte
}

// DefaultAddr is where Debian's vsmartcard-vpcd package listens for the
// card of "Virtual PCD 00 00" (port 0x8C7B).
const DefaultAddr = "127.0.0.1:35963"

// Timings of the reconnect loop.
const (
	dialTimeout = 2 * time.Second
	minBackoff  = 50 * time.Millisecond
	maxBackoff  = time.Second
)

// swNoPreciseDiagnosis (6F00) answers a command whose response the engine
// could not produce (it panicked, or returned fewer than 2 or more than
// MaxPayload bytes).
var swNoPreciseDiagnosis = []byte{0x6F, 0x00}

// ErrRunning is returned by Run when the same Client is already running.
var ErrRunning = errors.New("vpcd: client already running")

// Client keeps a virtual card in a vpcd reader. The zero value is not
// usable; call New. Its methods are safe for concurrent use.
//
// vpcd listens on all interfaces: a Client is for development and tests
// only, never for a real kiosk (see the package documentation).
type Client struct {
	addr string
	card Card
	log  *slog.Logger

	// engineMu serialises the calls into card: one APDU (or control
	// code) at a time.
	engineMu sync.Mutex

	mu      sync.Mutex
	want    bool          // the card should be in the reader
	conn    net.Conn      // the live connection to vpcd, nil while out
	running bool          // Run is active
	wake    chan struct{} // capacity 1: Insert and Remove nudge Run
}

// New returns a Client that will put card into the vpcd reader listening
// at addr (host:port, e.g. DefaultAddr) once Run is called. The card
// starts inserted. log may be nil to discard the log.
func New(addr string, card Card, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		addr: addr,
		card: card,
		log:  log.With("vpcd", addr),
		want: true,
		wake: make(chan struct{}, 1),
	}
}

// Run keeps the card inserted until ctx ends: it connects to vpcd,
// answers the reader, and reconnects with a short backoff (50 ms growing
// to 1 s) while vpcd is not listening yet or after the connection drops.
// While the card is removed (Remove) it waits for Insert. Run returns nil
// when ctx ends, and ErrRunning if the Client is already running.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return ErrRunning
	}
	c.running = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		conn := c.conn
		c.conn = nil
		c.running = false
		c.mu.Unlock()
		if conn != nil {
			_ = conn.Close()
		}
	}()

	backoff := minBackoff
	for ctx.Err() == nil {
		if !c.wanted() {
			select {
			case <-ctx.Done():
			case <-c.wake:
			}
			continue
		}
		d := net.Dialer{Timeout: dialTimeout}
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			c.log.Debug("vpcd not reachable, retrying", "err", err, "backoff", backoff)
			c.sleep(ctx, backoff)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		if !c.attach(conn) {
			_ = conn.Close() // Remove raced with the dial
			continue
		}
		c.log.Debug("card inserted")
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		start := time.Now()
		err = c.session(quickAckReader{conn}, conn)
		stop()
		removed := !c.detach(conn)
		_ = conn.Close()
		c.powerLoss()
		switch {
		case ctx.Err() != nil:
		case removed:
			c.log.Debug("card removed")
			backoff = minBackoff
		default:
			// vpcd closed the connection (pcscd stopped, or it ejected
			// the card after an I/O error) or spoke garbage.
			level := slog.LevelWarn
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				level = slog.LevelDebug
			}
			c.log.Log(ctx, level, "connection to vpcd ended, reconnecting", "err", err, "after", time.Since(start))
			if time.Since(start) > maxBackoff {
				backoff = minBackoff
			}
			c.sleep(ctx, backoff)
			backoff = min(2*backoff, maxBackoff)
		}
	}
	return nil
}

// Remove pulls the card: it closes the connection to vpcd (pcscd notices
// within a few hundred milliseconds) and keeps the card out until Insert.
func (c *Client) Remove() {
	c.mu.Lock()
	c.want = false
	conn := c.conn
	c.conn = nil
	c.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
	c.nudge()
}

// Insert puts the card back: Run connects to vpcd again at once.
func (c *Client) Insert() {
	c.mu.Lock()
	c.want = true
	c.mu.Unlock()
	c.nudge()
}

// Inserted reports whether the card is connected to vpcd right now. pcscd
// sees a change some 50–320 ms later, when it next polls the reader.
func (c *Client) Inserted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// wanted reports whether the card should be in the reader.
func (c *Client) wanted() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.want
}

// attach records conn as the live connection unless the card was removed
// meanwhile.
func (c *Client) attach(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.want {
		return false
	}
	c.conn = conn
	return true
}

// detach forgets conn and reports whether it was still the live
// connection (false: Remove took it).
func (c *Client) detach(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != conn {
		return false
	}
	c.conn = nil
	return true
}

// nudge wakes Run without blocking.
func (c *Client) nudge() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// sleep waits for d, ctx, or a nudge, whichever comes first.
func (c *Client) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-c.wake:
	}
}

// session answers the reader's frames read from r, writing replies to w,
// until r fails or the reader breaks the protocol. It never panics on
// input; the returned error says why the session ended.
func (c *Client) session(r io.Reader, w io.Writer) error {
	for {
		frame, err := ReadFrame(r)
		if err != nil {
			return err
		}
		if len(frame) == 1 {
			switch code := frame[0]; code {
			case CtrlPowerOff, CtrlPowerOn, CtrlReset:
				c.reset(code)
			case CtrlGetATR:
				if err := WriteFrame(w, c.atr()); err != nil {
					return fmt.Errorf("vpcd: answering GET ATR: %w", err)
				}
			default:
				return fmt.Errorf("%w: 0x%02X", ErrUnknownControl, code)
			}
			continue
		}
		if err := WriteFrame(w, c.process(frame)); err != nil {
			return fmt.Errorf("vpcd: answering INS %02X: %w", frame[1], err)
		}
	}
}

// reset passes a power or reset control code to the engine.
func (c *Client) reset(code byte) {
	c.engineMu.Lock()
	defer c.engineMu.Unlock()
	defer c.recoverEngine("Reset", code)
	c.log.Debug("control", "code", code)
	c.card.Reset()
}

// powerLoss resets the engine after the connection ended: a pulled card
// loses power and with it every verified PIN.
func (c *Client) powerLoss() { c.reset(CtrlPowerOff) }

// atr returns a copy of the engine's ATR.
func (c *Client) atr() (atr []byte) {
	c.engineMu.Lock()
	defer c.engineMu.Unlock()
	defer c.recoverEngine("ATR", CtrlGetATR)
	return append([]byte(nil), c.card.ATR()...)
}

// process runs one command APDU through the engine. Only the header is
// logged: command data may hold a PIN.
func (c *Client) process(cmd []byte) (resp []byte) {
	c.engineMu.Lock()
	defer c.engineMu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("vpcd: card engine panicked", "op", "Process", "ins", fmt.Sprintf("%02X", cmd[1]), "panic", r)
			resp = swNoPreciseDiagnosis
		}
	}()
	resp = c.card.Process(cmd)
	if len(resp) < 2 || len(resp) > MaxPayload {
		c.log.Error("vpcd: card engine gave an invalid response", "ins", fmt.Sprintf("%02X", cmd[1]), "len", len(resp))
		return swNoPreciseDiagnosis
	}
	c.log.Debug("apdu", "ins", fmt.Sprintf("%02X", cmd[1]), "cmdlen", len(cmd), "sw", fmt.Sprintf("%02X%02X", resp[len(resp)-2], resp[len(resp)-1]), "resplen", len(resp))
	return resp
}

// recoverEngine logs a panic of the engine instead of crashing the
// process; it must be deferred directly.
func (c *Client) recoverEngine(op string, code byte) {
	if r := recover(); r != nil {
		c.log.Error("vpcd: card engine panicked", "op", op, "code", code, "panic", r)
	}
}

// quickAckReader sets TCP_QUICKACK before every read so that the second
// half of a frame vpcd sends in two writes is acknowledged at once.
type quickAckReader struct{ conn net.Conn }

func (q quickAckReader) Read(p []byte) (int, error) {
	_ = setQuickAck(q.conn) // best effort: only latency is at stake
	return q.conn.Read(p)
}
