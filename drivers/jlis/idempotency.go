package jlis

import (
	"crypto/rand"
	"fmt"

	"madoguchi/drivers/jlis/api"
)

// IdempotencyKey names one state-changing operation for the central
// system. Make one with NewIdempotencyKey when the operation is decided
// (before the first attempt), store it with the operation when it may be
// sent again later (an offline queue), and send every retry with the same
// key: the server then performs the operation once and replays its first
// answer. A new operation needs a new key; the same key with another body
// is refused (ErrConflict, code idempotency-key-reused).
type IdempotencyKey string

// NewIdempotencyKey returns a random key: 128 bits or more from
// crypto/rand, as 26 base32 characters.
func NewIdempotencyKey() IdempotencyKey {
	return IdempotencyKey(rand.Text())
}

// check reports whether k can be sent: not empty, at most
// api.MaxIdempotencyKey bytes, visible ASCII only.
func (k IdempotencyKey) check() error {
	if k == "" {
		return ErrNoIdempotencyKey
	}
	if len(k) > api.MaxIdempotencyKey {
		return fmt.Errorf("%w: key longer than %d bytes", ErrNoIdempotencyKey, api.MaxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return fmt.Errorf("%w: key holds a character a header cannot carry", ErrNoIdempotencyKey)
		}
	}
	return nil
}
