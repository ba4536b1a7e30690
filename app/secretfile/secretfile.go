// Package secretfile keeps small secrets (key files) on disk and seals
// data with them: files readable by their owner only, replaced atomically
// (synced temporary file, then rename), and AES-256-GCM with the nonce in
// front of the ciphertext. app/queue and app/receipt keep their keys with
// it.
package secretfile

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"madoguchi/app/atomicfile"
)

// ErrMode: the file can be read by others than its owner.
var ErrMode = errors.New("key file must be readable by its owner only (chmod 600)")

// Read returns the file's content; a missing file gives an error that
// matches fs.ErrNotExist, a file others can read ErrMode.
func Read(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is %v", ErrMode, path, st.Mode().Perm())
	}
	return data, nil
}

// Write replaces path with data (mode 0600) so that a crash leaves the old
// file or the new one, never half of either.
func Write(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// NewKey returns 32 random bytes (an AES-256 or HMAC-SHA-256 key).
func NewKey() ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

func aead(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Seal encrypts plain under key with AES-GCM; aad is authenticated, not
// stored (it binds the ciphertext to its place, e.g. a row's key).
func Seal(key, plain, aad []byte) ([]byte, error) {
	a, err := aead(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return a.Seal(nonce, nonce, plain, aad), nil
}

// ErrOpen: sealed data that does not decrypt (wrong key, wrong aad, or
// altered).
var ErrOpen = errors.New("sealed data does not decrypt")

// Open decrypts what Seal made with the same key and aad.
func Open(key, sealed, aad []byte) ([]byte, error) {
	a, err := aead(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < a.NonceSize()+a.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes", ErrOpen, len(sealed))
	}
	plain, err := a.Open(nil, sealed[:a.NonceSize()], sealed[a.NonceSize():], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	return plain, nil
}
