package receipt

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"

	"madoguchi/app/secretfile"
)

// Keys holds the terminal's receipt keys, in a file readable by its owner
// only (0600) beside the config file:
//
//   - one HMAC-SHA-256 key per terminal ("mac"): this terminal's signs the
//     verification code of every receipt it issues; keys imported from the
//     municipality's other terminals let this one verify their receipts;
//   - one AES-256-GCM key ("seal") that seals the personal part of stored
//     receipts (the holder's name). It never leaves the terminal.
type Keys struct {
	mu       sync.Mutex
	path     string
	terminal string
	mac      map[string][]byte
	sealID   string
	seal     []byte
}

// ErrKeyFileMode: the key file is readable by others.
var ErrKeyFileMode = secretfile.ErrMode

// ErrUnknownTerminal: no key for the terminal that issued a receipt.
var ErrUnknownTerminal = errors.New("receipt: no verification key for that terminal (import it with `madoguchi receipt key import`)")

type keyFile struct {
	Mac    map[string]string `json:"mac"`
	SealID string            `json:"seal_id"`
	Seal   string            `json:"seal"`
}

// LoadKeys reads the key file at path for terminal, creating the file, or
// a key for a terminal it does not know yet, as needed.
func LoadKeys(path, terminal string) (*Keys, error) {
	if strings.TrimSpace(terminal) == "" {
		return nil, errors.New("receipt keys: no terminal")
	}
	k := &Keys{path: path, terminal: terminal, mac: map[string][]byte{}}
	data, err := secretfile.Read(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("receipt keys: %w", err)
	default:
		var f keyFile
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("receipt keys %s: %w", path, err)
		}
		for t, s := range f.Mac {
			key, err := base64.StdEncoding.DecodeString(s)
			if err != nil || len(key) != 32 {
				return nil, fmt.Errorf("receipt keys %s: key of terminal %q is not 32 bytes of base64", path, t)
			}
			k.mac[t] = key
		}
		if f.Seal != "" {
			seal, err := base64.StdEncoding.DecodeString(f.Seal)
			if err != nil || len(seal) != 32 || f.SealID == "" {
				return nil, fmt.Errorf("receipt keys %s: bad seal key", path)
			}
			k.seal, k.sealID = seal, f.SealID
		}
	}
	changed := false
	if _, ok := k.mac[terminal]; !ok {
		key, err := random32()
		if err != nil {
			return nil, err
		}
		k.mac[terminal] = key
		changed = true
	}
	if k.seal == nil {
		seal, err := random32()
		if err != nil {
			return nil, err
		}
		k.seal, k.sealID = seal, "s1"
		changed = true
	}
	if changed {
		if err := k.save(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

func random32() ([]byte, error) {
	b, err := secretfile.NewKey()
	if err != nil {
		return nil, fmt.Errorf("receipt keys: %w", err)
	}
	return b, nil
}

// Terminal is the terminal whose key signs new receipts.
func (k *Keys) Terminal() string { return k.terminal }

// Terminals lists the terminals whose receipts this one can verify.
func (k *Keys) Terminals() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, 0, len(k.mac))
	for t := range k.mac {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func (k *Keys) save() error {
	f := keyFile{Mac: map[string]string{}, SealID: k.sealID, Seal: base64.StdEncoding.EncodeToString(k.seal)}
	for t, key := range k.mac {
		f.Mac[t] = base64.StdEncoding.EncodeToString(key)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeSecretFile(k.path, data)
}

// writeSecretFile writes a key file (0600, atomically).
func writeSecretFile(path string, data []byte) error {
	if err := secretfile.Write(path, data); err != nil {
		return fmt.Errorf("receipt keys: %w", err)
	}
	return nil
}

// codeBytes is how much of the HMAC the code keeps: 80 bits, 16 base32
// characters — far beyond guessing at a counter, short enough to type.
const codeBytes = 10

var code32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// codeFor computes the verification code of a receipt under key: an
// HMAC-SHA-256 over the scheme's name, the receipt number (terminal, day,
// sequence) and the procedure, cut to 80 bits.
func codeFor(key []byte, number string, p Procedure) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("madoguchi receipt v1\n"))
	m.Write([]byte(number))
	m.Write([]byte("\n"))
	m.Write([]byte(p))
	return code32.EncodeToString(m.Sum(nil)[:codeBytes])
}

// Code returns the verification code of a receipt issued by this
// terminal for procedure p.
func (k *Keys) Code(number string, p Procedure) (string, error) {
	k.mu.Lock()
	key := k.mac[k.terminal]
	k.mu.Unlock()
	t, _, _, err := ParseNumber(number)
	if err != nil {
		return "", err
	}
	if t != k.terminal {
		return "", fmt.Errorf("receipt: number %q is not this terminal's (%s)", number, k.terminal)
	}
	if !p.Valid() {
		return "", fmt.Errorf("receipt: unknown procedure %q", p)
	}
	return codeFor(key, number, p), nil
}

// NormalizeCode folds a typed code to its canonical form: upper case,
// without spaces or hyphens, with the digits base32 lacks read as the
// letters they resemble (0→O, 1→I, 8→B).
func NormalizeCode(code string) string {
	r := strings.NewReplacer(" ", "", "-", "", "0", "O", "1", "I", "8", "B")
	return r.Replace(strings.ToUpper(strings.TrimSpace(code)))
}

// GroupCode writes a code in groups of four for printing: ABCD-EFGH-….
func GroupCode(code string) string {
	var b strings.Builder
	for i, r := range code {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Verify checks a receipt number's code against the key of the terminal
// that issued it, and tells which procedure the receipt is for (the code
// covers it, so a receipt cannot be passed off as another procedure's).
// It returns ErrUnknownTerminal when this terminal holds no key for that
// one, and ok=false for a wrong code.
func (k *Keys) Verify(number, code string) (p Procedure, ok bool, err error) {
	t, _, _, err := ParseNumber(number)
	if err != nil {
		return "", false, err
	}
	k.mu.Lock()
	key, known := k.mac[t]
	k.mu.Unlock()
	if !known {
		return "", false, fmt.Errorf("%w: %s", ErrUnknownTerminal, t)
	}
	got := []byte(NormalizeCode(code))
	for _, q := range Procedures() {
		if hmac.Equal([]byte(codeFor(key, number, q)), got) {
			return q, true, nil
		}
	}
	return "", false, nil
}

// Export writes this terminal's verification key to path (0600) for
// another terminal of the municipality to import. The seal key is never
// exported.
func (k *Keys) Export(path string) error {
	k.mu.Lock()
	line := k.terminal + " " + base64.StdEncoding.EncodeToString(k.mac[k.terminal]) + "\n"
	k.mu.Unlock()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("receipt key export: %w", err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("receipt key export: %w", err)
	}
	return f.Close()
}

// Import adds another terminal's verification key from a file written by
// Export. It refuses to replace a key it already holds with another one.
func (k *Keys) Import(path string) (terminal string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("receipt key import: %w", err)
	}
	t, b64, ok := strings.Cut(strings.TrimSpace(string(data)), " ")
	key, derr := base64.StdEncoding.DecodeString(b64)
	if !ok || t == "" || derr != nil || len(key) != 32 {
		return "", errors.New("receipt key import: want one line \"TERMINAL BASE64KEY\" as written by `receipt key export`")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if old, ok := k.mac[t]; ok {
		if hmac.Equal(old, key) {
			return t, nil
		}
		return "", fmt.Errorf("receipt key import: a different key for terminal %s is already here", t)
	}
	k.mac[t] = key
	return t, k.save()
}

// sealPersonal encrypts the personal part of a receipt; aad binds it to
// the receipt number so a sealed blob cannot be moved to another row.
func (k *Keys) sealPersonal(plain []byte, number string) (keyID string, sealed []byte, err error) {
	k.mu.Lock()
	id, key := k.sealID, k.seal
	k.mu.Unlock()
	sealed, err = secretfile.Seal(key, plain, []byte(number))
	return id, sealed, err
}

func (k *Keys) openPersonal(keyID string, sealed []byte, number string) ([]byte, error) {
	k.mu.Lock()
	id, key := k.sealID, k.seal
	k.mu.Unlock()
	if keyID != id {
		return nil, fmt.Errorf("receipt: personal data sealed with key %q, which this terminal does not hold", keyID)
	}
	plain, err := secretfile.Open(key, sealed, []byte(number))
	if err != nil {
		return nil, fmt.Errorf("receipt %s: personal data: %w", number, err)
	}
	return plain, nil
}
