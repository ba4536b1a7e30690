// Package sim is Madoguchi's virtual Individual Number Card: an APDU
// engine faithful to everything public about the real card
// (shared/card-reference.md §14 is its checklist) plus the privileged
// command set Madoguchi defines (docs/CARD-COMMANDS.md), for the current
// generation and the provisional next-generation profile.
//
// The card's persistent memory (files, PIN counters, keys) lives in a
// State that is saved to a file after every change, so a test can pull
// the card, put it back — even in another process — and find it as it
// was. Volatile state (selected application and file, verified PINs,
// authorisations) is lost on Reset, as on a real card.
//
// This is a development and test tool. Its state file holds the card's
// private keys and PIN hashes; it is never used with real citizens' data.
package sim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"os"

	"madoguchi/app/atomicfile"
	"madoguchi/drivers/card"
)

// State is the card's persistent memory.
type State struct {
	Profile string `json:"profile"` // "current" or "next"
	Serial  string `json:"serial"`  // card serial, also in the token info EF
	ATR     []byte `json:"atr"`
	// MgmtKey is the card's diversified card-management key
	// (card.DiversifyKey of the central master key and Serial).
	MgmtKey []byte `json:"mgmtKey"`
	Apps    []*App `json:"apps"`
}

// App is one application (DF).
type App struct {
	AID   []byte            `json:"aid"`
	Files map[uint16][]byte `json:"files"`
	// Access lists, per EF, the key references any one of which opens it
	// for reading; an EF without an entry is free to read.
	Access map[uint16][]uint16 `json:"access"`
	PINs   map[uint16]*PIN     `json:"pins"`
	Keys   map[uint16]*Key     `json:"keys"`
}

// PIN is a key reference with a retry counter. The value is kept as a
// salted SHA-256, as a card would never reveal it.
type PIN struct {
	Salt  []byte `json:"salt"`
	Hash  []byte `json:"hash"` // empty: not set yet (a card before issuance)
	Tries int    `json:"tries"`
	Max   int    `json:"max"`
	// Min, Max length and Alnum describe the format the card accepts.
	MinLen int  `json:"minLen"`
	MaxLen int  `json:"maxLen"`
	Alnum  bool `json:"alnum"`
}

// Key is a private key on the card, guarded by a PIN.
type Key struct {
	PKCS8 []byte `json:"pkcs8"` // empty: no key generated yet
	Guard uint16 `json:"guard"` // PIN key reference that must be verified
	Alg   string `json:"alg"`   // "rsa2048" or "p384"
}

func newPIN(value string, max, minLen, maxLen int, alnum bool) *PIN {
	p := &PIN{Tries: max, Max: max, MinLen: minLen, MaxLen: maxLen, Alnum: alnum}
	if value != "" {
		p.set([]byte(value))
	}
	return p
}

func (p *PIN) set(v []byte) {
	p.Salt = make([]byte, 16)
	_, _ = rand.Read(p.Salt)
	h := sha256.Sum256(append(append([]byte{}, p.Salt...), v...))
	p.Hash = h[:]
	p.Tries = p.Max
}

func (p *PIN) isSet() bool { return len(p.Hash) > 0 }

func (p *PIN) matches(v []byte) bool {
	h := sha256.Sum256(append(append([]byte{}, p.Salt...), v...))
	return subtle.ConstantTimeCompare(h[:], p.Hash) == 1
}

// validFormat is what the card itself enforces when a PIN is set.
func (p *PIN) validFormat(v []byte) bool {
	if len(v) < p.MinLen || len(v) > p.MaxLen {
		return false
	}
	for _, c := range v {
		if !(c >= '0' && c <= '9') && !(p.Alnum && c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// Load reads a state file.
func Load(path string) (*State, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("virtual card state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("virtual card state %s: %w", path, err)
	}
	if len(s.Apps) == 0 || s.Serial == "" {
		return nil, fmt.Errorf("virtual card state %s: no applications", path)
	}
	return &s, nil
}

// Save writes the state atomically (temporary file, fsync, rename), mode
// 0600: a crash never leaves half a card.
func (s *State) Save(path string) error {
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("save virtual card: %w", err)
	}
	return nil
}

func (s *State) app(aid []byte) *App {
	for _, a := range s.Apps {
		if string(a.AID) == string(aid) {
			return a
		}
	}
	return nil
}

// Certificates returns the DER of the card's user-authentication and
// signature certificates as the factory wrote them (nil where the card has
// none: a blank card, or no signature certificate under 15), for the
// factory to declare them to the central system.
func (s *State) Certificates() (auth, sign []byte) {
	p, err := card.ProfileByName(s.Profile)
	if err != nil {
		return nil, nil
	}
	a := s.app(p.JPKI)
	if a == nil {
		return nil, nil
	}
	return a.Files[card.EFAuthCert], a.Files[card.EFSignCert]
}
