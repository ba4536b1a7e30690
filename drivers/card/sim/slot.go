package sim

import (
	"context"
	"fmt"
	"sync"

	"madoguchi/drivers/card"
)

// Slot is an in-process reader holding the virtual card: the demo's
// built-in card when no PC/SC reader is configured, and unit tests'.
// It implements card.Transceiver. Removing the card makes every Transmit
// fail with card.ErrCardRemoved; inserting it again resets the card.
type Slot struct {
	mu      sync.Mutex
	c       *Card
	present bool
	events  []chan<- bool
}

// NewSlot puts c into a new slot.
func NewSlot(c *Card) *Slot { return &Slot{c: c, present: true} }

// Card returns the engine.
func (s *Slot) Card() *Card { return s.c }

// Present reports whether the card is in the slot.
func (s *Slot) Present() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.present
}

// Remove pulls the card out.
func (s *Slot) Remove() { s.set(false) }

// Insert puts the card back, reset.
func (s *Slot) Insert() {
	s.c.Reset()
	s.set(true)
}

func (s *Slot) set(p bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.present == p {
		return
	}
	s.present = p
	for _, ch := range s.events {
		select {
		case ch <- p:
		default:
		}
	}
}

// Notify sends presence changes to ch (non-blocking; a full channel drops).
func (s *Slot) Notify(ch chan<- bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ch)
}

// Transmit sends one APDU to the card.
func (s *Slot) Transmit(ctx context.Context, cmd []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !s.Present() {
		return nil, fmt.Errorf("virtual slot: %w", card.ErrCardRemoved)
	}
	return s.c.Process(cmd), nil
}

// ExtendedLength: the virtual card accepts extended APDUs.
func (s *Slot) ExtendedLength() bool { return true }
