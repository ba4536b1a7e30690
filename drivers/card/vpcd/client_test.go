package vpcd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testATR is the ATR of the test engines.
var testATR = []byte{0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09}

// echoCard is a tiny engine: SELECT by name answers 9000, GET DATA
// (80 CA 00 00 00) answers 01 02 03 9000, 00 EE panics, 00 EF returns
// nothing, anything else 6D00. It records calls and catches concurrent
// entry.
type echoCard struct {
	resets  atomic.Int32
	busy    atomic.Bool
	overlap atomic.Bool
}

func (e *echoCard) enter() func() {
	if !e.busy.CompareAndSwap(false, true) {
		e.overlap.Store(true)
	}
	return func() { e.busy.Store(false) }
}

func (e *echoCard) ATR() []byte { defer e.enter()(); return testATR }
func (e *echoCard) Reset()      { defer e.enter()(); e.resets.Add(1) }

func (e *echoCard) Process(cmd []byte) []byte {
	defer e.enter()()
	switch {
	case len(cmd) >= 4 && bytes.Equal(cmd[:4], []byte{0x00, 0xA4, 0x04, 0x0C}):
		return []byte{0x90, 0x00}
	case bytes.Equal(cmd, []byte{0x80, 0xCA, 0x00, 0x00, 0x00}):
		return []byte{0x01, 0x02, 0x03, 0x90, 0x00}
	case len(cmd) >= 2 && cmd[1] == 0xEE:
		panic("engine bug")
	case len(cmd) >= 2 && cmd[1] == 0xEF:
		return nil
	}
	return []byte{0x6D, 0x00}
}

// fakeVPCD plays the reader side of the protocol on a loopback listener.
type fakeVPCD struct {
	t     *testing.T
	ln    net.Listener
	conns chan net.Conn
}

func newFakeVPCD(t *testing.T) *fakeVPCD {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeVPCD{t: t, ln: ln, conns: make(chan net.Conn, 8)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(f.conns)
				return
			}
			f.conns <- c
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return f
}

func (f *fakeVPCD) addr() string { return f.ln.Addr().String() }

// accept waits for the card to connect.
func (f *fakeVPCD) accept(ctx context.Context) net.Conn {
	f.t.Helper()
	select {
	case c, ok := <-f.conns:
		if !ok {
			f.t.Fatal("listener closed")
		}
		f.t.Cleanup(func() { _ = c.Close() })
		return c
	case <-ctx.Done():
		f.t.Fatal("the card did not connect")
		return nil
	}
}

// exchange sends one frame and, when wantReply, reads the reply.
func exchange(t *testing.T, c net.Conn, payload []byte, wantReply bool) []byte {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := WriteFrame(c, payload); err != nil {
		t.Fatalf("writing % X: %v", payload, err)
	}
	if !wantReply {
		return nil
	}
	got, err := ReadFrame(c)
	if err != nil {
		t.Fatalf("reply to % X: %v", payload, err)
	}
	return got
}

// expectClosed asserts that the card drops the connection.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 16)); !errors.Is(err, io.EOF) {
		t.Fatalf("connection not closed by the card: %v", err)
	}
}

// runClient starts c.Run and stops it at cleanup, checking it returns nil.
func runClient(t *testing.T, c *Client) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return ctx
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

func TestClientSession(t *testing.T) {
	tests := []struct {
		name      string
		send      []byte
		wantReply []byte // nil: no reply expected
		wantReset bool
	}{
		{"get ATR", []byte{CtrlGetATR}, testATR, false},
		{"power on", []byte{CtrlPowerOn}, nil, true},
		{"power off", []byte{CtrlPowerOff}, nil, true},
		{"reset", []byte{CtrlReset}, nil, true},
		{"select", []byte{0x00, 0xA4, 0x04, 0x0C, 0x02, 0xD3, 0x92}, []byte{0x90, 0x00}, false},
		{"get data", []byte{0x80, 0xCA, 0x00, 0x00, 0x00}, []byte{0x01, 0x02, 0x03, 0x90, 0x00}, false},
		{"unknown instruction", []byte{0x00, 0x12, 0x00, 0x00}, []byte{0x6D, 0x00}, false},
		{"two-byte command goes to the engine", []byte{0x00, 0x12}, []byte{0x6D, 0x00}, false},
		{"engine panics", []byte{0x00, 0xEE, 0x00, 0x00}, []byte{0x6F, 0x00}, false},
		{"engine returns nothing", []byte{0x00, 0xEF, 0x00, 0x00}, []byte{0x6F, 0x00}, false},
	}
	srv := newFakeVPCD(t)
	card := &echoCard{}
	c := New(srv.addr(), card, testLogger(t))
	ctx := runClient(t, c)
	conn := srv.accept(ctx)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := card.resets.Load()
			got := exchange(t, conn, tt.send, tt.wantReply != nil)
			if tt.wantReply != nil && !bytes.Equal(got, tt.wantReply) {
				t.Errorf("reply % X, want % X", got, tt.wantReply)
			}
			// A control code without reply is followed by GET ATR so
			// that the reset is known to have happened.
			if tt.wantReply == nil {
				if atr := exchange(t, conn, []byte{CtrlGetATR}, true); !bytes.Equal(atr, testATR) {
					t.Fatalf("ATR % X", atr)
				}
			}
			if gotReset := card.resets.Load() > before; gotReset != tt.wantReset {
				t.Errorf("Reset called = %v, want %v", gotReset, tt.wantReset)
			}
		})
	}
	if card.overlap.Load() {
		t.Error("engine entered concurrently")
	}
}

func TestClientDropsMalformed(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte // written as is, bypassing WriteFrame
		// cardCloses: the card must drop the connection by itself;
		// otherwise the frame is truncated and the reader goes away.
		cardCloses bool
	}{
		{"zero length", []byte{0, 0}, true},
		{"unknown control code", []byte{0, 1, 0x03}, true},
		{"unknown control code FF", []byte{0, 1, 0xFF}, true},
		{"half a header then close", []byte{0}, false},
		{"short payload then close", []byte{0, 9, 0x00, 0xA4}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFakeVPCD(t)
			card := &echoCard{}
			c := New(srv.addr(), card, testLogger(t))
			ctx := runClient(t, c)
			conn := srv.accept(ctx)
			if _, err := conn.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			if tt.cardCloses {
				expectClosed(t, conn)
			} else {
				_ = conn.Close()
			}
			// Either way the card comes back on a fresh connection and
			// works.
			conn2 := srv.accept(ctx)
			if got := exchange(t, conn2, []byte{0x80, 0xCA, 0x00, 0x00, 0x00}, true); !bytes.Equal(got, []byte{1, 2, 3, 0x90, 0x00}) {
				t.Fatalf("after reconnect: % X", got)
			}
			if card.resets.Load() == 0 {
				t.Error("engine not reset after the connection dropped")
			}
		})
	}
}

func TestClientRemoveInsert(t *testing.T) {
	srv := newFakeVPCD(t)
	c := New(srv.addr(), &echoCard{}, testLogger(t))
	ctx := runClient(t, c)
	conn := srv.accept(ctx)
	waitFor(ctx, t, "Inserted", c.Inserted)

	c.Remove()
	if c.Inserted() {
		t.Error("Inserted after Remove")
	}
	expectClosed(t, conn)
	select {
	case extra := <-srv.conns:
		t.Fatalf("the card reconnected while removed (%v)", extra.RemoteAddr())
	case <-time.After(300 * time.Millisecond):
	}

	c.Insert()
	conn = srv.accept(ctx)
	waitFor(ctx, t, "Inserted", c.Inserted)
	if got := exchange(t, conn, []byte{CtrlGetATR}, true); !bytes.Equal(got, testATR) {
		t.Fatalf("ATR after Insert: % X", got)
	}
}

func TestClientWaitsForVPCD(t *testing.T) {
	// Reserve a port, release it, start the card, then listen there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()

	c := New(addr, &echoCard{}, testLogger(t))
	ctx := runClient(t, c)
	time.Sleep(150 * time.Millisecond) // a few failed dials
	if c.Inserted() {
		t.Fatal("Inserted without a reader")
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addr, err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	select {
	case conn := <-accepted:
		defer conn.Close()
		if got := exchange(t, conn, []byte{CtrlGetATR}, true); !bytes.Equal(got, testATR) {
			t.Fatalf("ATR % X", got)
		}
	case <-ctx.Done():
		t.Fatal("the card never connected")
	}
}

func TestClientRunTwice(t *testing.T) {
	srv := newFakeVPCD(t)
	c := New(srv.addr(), &echoCard{}, nil)
	ctx := runClient(t, c)
	srv.accept(ctx)
	if err := c.Run(ctx); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
}

func TestClientStopsOnCancel(t *testing.T) {
	srv := newFakeVPCD(t)
	c := New(srv.addr(), &echoCard{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	conn := srv.accept(context.Background())
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	expectClosed(t, conn)
	if c.Inserted() {
		t.Error("Inserted after Run returned")
	}
}

func TestClientOverPipe(t *testing.T) {
	// session works on any stream, here net.Pipe (no TCP_QUICKACK).
	card := &echoCard{}
	c := New("pipe", card, nil)
	a, b := net.Pipe()
	defer a.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	var serr error
	go func() { defer wg.Done(); serr = c.session(quickAckReader{b}, b) }()
	if got := exchange(t, a, []byte{0x80, 0xCA, 0x00, 0x00, 0x00}, true); !bytes.Equal(got, []byte{1, 2, 3, 0x90, 0x00}) {
		t.Fatalf("reply % X", got)
	}
	_ = a.Close()
	wg.Wait()
	if !errors.Is(serr, io.EOF) {
		t.Errorf("session ended with %v, want io.EOF", serr)
	}
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
}
