package queue

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"sync"
	"time"

	"madoguchi/app/secretfile"
)

// Keyring holds the AES-256-GCM keys that encrypt queued payloads holding
// personal data. It lives in a file readable by its owner only (0600) in
// the config directory; the current key encrypts, every listed key
// decrypts. Rotation adds a new current key; Reencrypt moves the queue to
// it; Prune drops keys no job uses any more (docs/QUEUE.md).
type Keyring struct {
	mu      sync.Mutex
	path    string
	Current string            `json:"current"`
	Keys    map[string][]byte `json:"keys"`
}

// ErrKeyFileMode: the key file is readable by others.
var ErrKeyFileMode = secretfile.ErrMode

// LoadKeyring reads path, creating a keyring with one fresh key when the
// file does not exist.
func LoadKeyring(path string) (*Keyring, error) {
	k := &Keyring{path: path, Keys: map[string][]byte{}}
	data, err := secretfile.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := k.Rotate(); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue keys: %w", err)
	}
	if err := json.Unmarshal(data, k); err != nil {
		return nil, fmt.Errorf("queue keys %s: %w", path, err)
	}
	if _, ok := k.Keys[k.Current]; !ok || len(k.Keys[k.Current]) != 32 {
		return nil, fmt.Errorf("queue keys %s: no valid current key", path)
	}
	return k, nil
}

// Rotate makes a new current key and saves the keyring. Old keys stay for
// decryption until Prune.
func (k *Keyring) Rotate() (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, err := secretfile.NewKey()
	if err != nil {
		return "", err
	}
	id := fmt.Sprintf("k%d", time.Now().UnixNano())
	k.Keys[id] = key
	k.Current = id
	return id, k.saveLocked()
}

// Prune removes every key not in used (and never the current one).
func (k *Keyring) Prune(used map[string]bool) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var gone []string
	for id := range k.Keys {
		if id != k.Current && !used[id] {
			clear(k.Keys[id])
			delete(k.Keys, id)
			gone = append(gone, id)
		}
	}
	sort.Strings(gone)
	return gone, k.saveLocked()
}

// IDs lists the key ids.
func (k *Keyring) IDs() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	ids := make([]string, 0, len(k.Keys))
	for id := range k.Keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (k *Keyring) saveLocked() error {
	data, err := json.Marshal(k)
	if err != nil {
		return err
	}
	return secretfile.Write(k.path, data)
}

// Seal encrypts with the current key; aad binds the ciphertext to its job
// (the idempotency key), so a payload cannot be moved to another row.
func (k *Keyring) Seal(plain, aad []byte) (keyID string, sealed []byte, err error) {
	k.mu.Lock()
	id, key := k.Current, k.Keys[k.Current]
	k.mu.Unlock()
	sealed, err = secretfile.Seal(key, plain, aad)
	return id, sealed, err
}

// Open decrypts with the key named keyID.
func (k *Keyring) Open(keyID string, sealed, aad []byte) ([]byte, error) {
	k.mu.Lock()
	key, ok := k.Keys[keyID]
	k.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("queue: payload key %q is not in the keyring", keyID)
	}
	plain, err := secretfile.Open(key, sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("queue: payload does not decrypt: %w", err)
	}
	return plain, nil
}

// MarshalJSON is used for the key file only.
func (k *Keyring) MarshalJSON() ([]byte, error) {
	enc := map[string]string{}
	for id, key := range k.Keys {
		enc[id] = base64.StdEncoding.EncodeToString(key)
	}
	return json.Marshal(struct {
		Current string            `json:"current"`
		Keys    map[string]string `json:"keys"`
	}{k.Current, enc})
}

// UnmarshalJSON reads the key file.
func (k *Keyring) UnmarshalJSON(b []byte) error {
	var f struct {
		Current string            `json:"current"`
		Keys    map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	k.Current = f.Current
	k.Keys = map[string][]byte{}
	for id, s := range f.Keys {
		key, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(key) != 32 {
			return fmt.Errorf("key %s is not 32 bytes of base64", id)
		}
		k.Keys[id] = key
	}
	return nil
}
