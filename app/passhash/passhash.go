// Package passhash hashes and verifies staff secrets (the kiosk's
// supervisor code, later staff passwords) with argon2id, in the PHC string
// format: $argon2id$v=19$m=65536,t=2,p=1$<salt>$<hash> (RFC 9106's second
// recommended option, with m lowered from 2 GiB to 64 MiB for a counter
// PC).
package passhash

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"madoguchi/app/secret"
)

// Parameters of new hashes.
const (
	memoryKiB = 64 * 1024
	passes    = 2
	lanes     = 1
	saltLen   = 16
	keyLen    = 32
)

// ErrMalformed: the stored hash is not an argon2id PHC string.
var ErrMalformed = errors.New("passhash: malformed hash")

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of v with a fresh salt.
func Hash(v secret.Value) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	var key []byte
	_ = v.Reveal(func(b []byte) error {
		key = argon2.IDKey(b, salt, passes, memoryKiB, lanes, keyLen)
		return nil
	})
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memoryKiB, passes, lanes, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether v matches the PHC string h, in constant time
// for a given hash.
func Verify(h string, v secret.Value) (bool, error) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformed
	}
	var ver int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &ver); err != nil || ver != argon2.Version {
		return false, ErrMalformed
	}
	var m uint32
	var t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m < 8 || m > 4<<20 || t < 1 || t > 16 || p < 1 {
		return false, ErrMalformed
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, ErrMalformed
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, ErrMalformed
	}
	var got []byte
	_ = v.Reveal(func(b []byte) error {
		got = argon2.IDKey(b, salt, t, m, p, uint32(len(want)))
		return nil
	})
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
