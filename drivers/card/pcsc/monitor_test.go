package pcsc

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/ebfe/scard"
)

// TestApply drives the watcher's state machine with states as pcsc-lite
// reports them, without a daemon.
func TestApply(t *testing.T) {
	const reader = "Reader 00 00"
	atr := []byte{0x3B, 0x00}
	count := func(n uint16) scard.StateFlag { return scard.StateFlag(n) << 16 }
	present := scard.StatePresent | scard.StateChanged
	empty := scard.StateEmpty | scard.StateChanged
	tests := []struct {
		name   string
		before watched
		state  scard.StateFlag // EventState
		want   []EventKind
		after  watched
	}{
		{"first look, empty", watched{}, empty, nil, watched{}},
		{"first look, card", watched{}, present | count(1), []EventKind{CardInserted}, watched{true, 1}},
		{"inserted", watched{false, 2}, present | count(3), []EventKind{CardInserted}, watched{true, 3}},
		// After removal pcsc-lite still reports the old ATR: PRESENT decides.
		{"removed", watched{true, 3}, empty | count(4), []EventKind{CardRemoved}, watched{false, 4}},
		{"swapped between two waits", watched{true, 3}, present | count(5), []EventKind{CardRemoved, CardInserted}, watched{true, 5}},
		{"counter wraps", watched{true, 0xFFFF}, present | count(1), []EventKind{CardRemoved, CardInserted}, watched{true, 1}},
		{"in use changes only", watched{true, 3}, present | scard.StateInuse | count(3), nil, watched{true, 3}},
		{"mute card is present", watched{false, 0}, present | scard.StateMute | count(1), []EventKind{CardInserted}, watched{true, 1}},
		{"no change flag", watched{true, 3}, scard.StateEmpty | count(4), nil, watched{true, 3}},
		{"reader going", watched{true, 3}, scard.StateUnknown | scard.StateChanged, nil, watched{true, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := make(chan Event, 8)
			w := &watcher{log: slog.New(slog.DiscardHandler), out: out, readers: map[string]*watched{}}
			w.resetStates()
			before := tt.before
			w.readers[reader] = &before
			w.states = append(w.states, scard.ReaderState{Reader: reader, EventState: tt.state, Atr: atr})
			w.apply(context.Background())
			close(out)
			var got []EventKind
			for ev := range out {
				got = append(got, ev.Kind)
				if ev.Kind == CardInserted && string(ev.ATR) != string(atr) {
					t.Errorf("ATR % X", ev.ATR)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
			if *w.readers[reader] != tt.after {
				t.Errorf("state %+v, want %+v", *w.readers[reader], tt.after)
			}
			if tt.state&scard.StateChanged != 0 && w.states[1].CurrentState != tt.state&^scard.StateChanged {
				t.Errorf("CurrentState %#x, want EventState &^ StateChanged", w.states[1].CurrentState)
			}
		})
	}
}
