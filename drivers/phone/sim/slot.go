package sim

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"

	"madoguchi/drivers/card"
)

// Slot is an in-process reader holding the virtual phone, for tests and
// the built-in demo. It implements card.Transceiver. Taking the phone
// away makes every Transmit fail with card.ErrCardRemoved; bringing it
// back resets the NFC session (the wallet must be selected again).
type Slot struct {
	mu      sync.Mutex
	p       *Phone
	present bool
}

// NewSlot puts p on a new slot.
func NewSlot(p *Phone) *Slot { return &Slot{p: p, present: true} }

// Phone returns the engine.
func (s *Slot) Phone() *Phone { return s.p }

// Present reports whether the phone is on the reader.
func (s *Slot) Present() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.present
}

// Remove takes the phone away.
func (s *Slot) Remove() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.present = false
}

// Insert holds the phone to the reader again, a new NFC session.
func (s *Slot) Insert() {
	s.p.Reset()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.present = true
}

// Transmit sends one APDU to the phone.
func (s *Slot) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.Present() {
		return nil, fmt.Errorf("virtual phone slot: %w", card.ErrCardRemoved)
	}
	return s.p.Process(cmd), nil
}

func hexString(b []byte) string { return hex.EncodeToString(b) }
