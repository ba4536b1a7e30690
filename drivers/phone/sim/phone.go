// Package sim is the virtual phone: a wallet application answering the
// APDUs of docs/PHONE-COMMANDS.md, with a simulated secure element whose
// attestation key is certified by a Vendor. It plugs into pcscd through
// drivers/card/vpcd (it implements vpcd.Card) or into tests through Slot.
//
// Its persistent state (device, keys, credentials, inbox) is saved as
// JSON, mode 0600, after every change when it has a path. An approval
// (the holder tapping "approve" on the phone) is volatile.
package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"madoguchi/drivers/phone"
)

// Defaults of Options.
const (
	DefaultSecureElement = "Madoguchi Virtual SE"
	DefaultApp           = "Madoguchi Wallet"
	DefaultAppVersion    = "1.0.0"
	DefaultModel         = "Madoguchi Virtual Phone"
	DefaultOS            = "VirtualOS 1"
)

// ATR is what the virtual phone shows the reader: the ATR PC/SC builds
// for a contactless ISO 14443-4 type A card (PC/SC part 3 §3.1.3.2.3.1)
// with no historical bytes, as Android HCE presents itself.
var ATR = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}

// Options make a new virtual phone.
type Options struct {
	// Vendor certifies the secure element's attestation key. Required.
	Vendor        *Vendor
	SecureElement string // default DefaultSecureElement
	App           string // default DefaultApp
	AppVersion    string // default DefaultAppVersion
	Model         string // default DefaultModel
	OS            string // default DefaultOS
	// AutoApprove approves every signature request, for tests and demos
	// that are not about the holder's consent.
	AutoApprove bool
	// Now is the clock (approval expiry, notices); default time.Now.
	Now func() time.Time
	// Log receives the phone's events (approval requests, changes).
	Log *slog.Logger
}

// Phone is the virtual phone. It implements vpcd.Card (ATR, Reset,
// Process) and is safe for concurrent use.
type Phone struct {
	mu   sync.Mutex
	st   *state
	path string
	log  *slog.Logger
	now  func() time.Time
	auto bool

	attKey  *ecdsa.PrivateKey
	attCert *x509.Certificate

	// Volatile: survives Reset (the approval lives in the phone's app,
	// not in the NFC session) but not a restart.
	approvedAt time.Time
	approved   bool
	requested  bool

	// Session state, cleared by Reset.
	selected bool
	chainP1  byte
	staging  []byte
	pending  []byte
	saveErr  error
}

// state is the persistent part, saved as JSON.
type state struct {
	DeviceID      []byte       `json:"deviceId"`
	Model         string       `json:"model"`
	OS            string       `json:"os"`
	SecureElement string       `json:"secureElement"`
	App           string       `json:"app"`
	AppVersion    string       `json:"appVersion"`
	Vendor        string       `json:"vendor"`
	AttestKey     []byte       `json:"attestationKey"`  // PKCS#8
	AttestCert    []byte       `json:"attestationCert"` // DER
	Keys          []keyEntry   `json:"keys"`
	Credentials   []credential `json:"credentials"`
	Inbox         []notice     `json:"inbox"`
}

type keyEntry struct {
	ID      []byte        `json:"id"`
	Purpose phone.Purpose `json:"purpose"`
	Key     []byte        `json:"key"` // PKCS#8
	Created time.Time     `json:"created"`
}

type credential struct {
	ID       string               `json:"id"`
	Type     phone.CredentialType `json:"type"`
	KeyID    []byte               `json:"keyId"`
	State    phone.State          `json:"state"`
	NotAfter time.Time            `json:"notAfter"`
	Data     []byte               `json:"data"`
	Stored   time.Time            `json:"stored"`
}

type notice struct {
	Code         phone.NoticeCode `json:"code"`
	Date         string           `json:"date"` // YYYYMMDD
	CredentialID string           `json:"credentialId,omitempty"`
	Received     time.Time        `json:"received"`
}

// New makes a fresh phone: a random device id and an attestation key
// certified by o.Vendor. It lives in memory until Save (or use Open).
func New(o Options) (*Phone, error) {
	if o.Vendor == nil {
		return nil, errors.New("virtual phone: no vendor")
	}
	st := &state{
		DeviceID:      make([]byte, phone.DeviceIDLen),
		Model:         or(o.Model, DefaultModel),
		OS:            or(o.OS, DefaultOS),
		SecureElement: or(o.SecureElement, DefaultSecureElement),
		App:           or(o.App, DefaultApp),
		AppVersion:    or(o.AppVersion, DefaultAppVersion),
		Vendor:        o.Vendor.Name,
	}
	if _, err := rand.Read(st.DeviceID); err != nil {
		return nil, fmt.Errorf("virtual phone: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("virtual phone: attestation key: %w", err)
	}
	cert, err := o.Vendor.issueAttestation(&key.PublicKey, st.SecureElement, hex.EncodeToString(st.DeviceID))
	if err != nil {
		return nil, err
	}
	if st.AttestKey, err = x509.MarshalPKCS8PrivateKey(key); err != nil {
		return nil, fmt.Errorf("virtual phone: %w", err)
	}
	st.AttestCert = cert.Raw
	return newPhone(st, "", o)
}

// Open loads the phone saved at path, or makes one with New and saves it
// there. Afterwards every change is saved to path (mode 0600). The
// options' names apply only to a new phone.
func Open(path string, o Options) (*Phone, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		p, err := New(o)
		if err != nil {
			return nil, err
		}
		p.path = path
		if err := p.Save(path); err != nil {
			return nil, err
		}
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("virtual phone: %w", err)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("virtual phone %s: %w", path, err)
	}
	p, err := newPhone(&st, path, o)
	if err != nil {
		return nil, fmt.Errorf("virtual phone %s: %w", path, err)
	}
	if o.Vendor != nil && p.attCert.CheckSignatureFrom(o.Vendor.RootCert()) != nil {
		// The vendor file was made anew (a fresh central simulator): a real
		// secure element cannot be recertified, the virtual one is, so that
		// the demo keeps working.
		cert, err := o.Vendor.issueAttestation(&p.attKey.PublicKey, st.SecureElement, hex.EncodeToString(st.DeviceID))
		if err != nil {
			return nil, err
		}
		p.log.Warn("virtual phone: attestation key recertified by another vendor", "vendor", o.Vendor.Name)
		p.attCert, st.AttestCert, st.Vendor = cert, cert.Raw, o.Vendor.Name
		if err := p.Save(path); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func newPhone(st *state, path string, o Options) (*Phone, error) {
	k, err := x509.ParsePKCS8PrivateKey(st.AttestKey)
	if err != nil {
		return nil, fmt.Errorf("virtual phone: attestation key: %w", err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("virtual phone: attestation key is not ECDSA")
	}
	cert, err := x509.ParseCertificate(st.AttestCert)
	if err != nil {
		return nil, fmt.Errorf("virtual phone: attestation certificate: %w", err)
	}
	if len(st.DeviceID) != phone.DeviceIDLen {
		return nil, errors.New("virtual phone: bad device id")
	}
	p := &Phone{st: st, path: path, log: o.Log, now: o.Now, auto: o.AutoApprove, attKey: key, attCert: cert}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Save writes the phone's state to path atomically, mode 0600.
func (p *Phone) Save(path string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.saveTo(path)
}

func (p *Phone) saveTo(path string) error {
	data, err := json.MarshalIndent(p.st, "", "  ")
	if err != nil {
		return fmt.Errorf("virtual phone: %w", err)
	}
	return writeFileAtomic(path, data)
}

func (p *Phone) persist() {
	if p.path == "" {
		return
	}
	if err := p.saveTo(p.path); err != nil {
		p.saveErr = err
		p.log.Error("virtual phone: save state", "err", err)
	}
}

// SaveError reports the last failure to save the state, if any.
func (p *Phone) SaveError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.saveErr
}

// Device is what GET DEVICE INFO answers.
func (p *Phone) Device() phone.Device {
	p.mu.Lock()
	defer p.mu.Unlock()
	return phone.Device{ID: slices.Clone(p.st.DeviceID), Model: p.st.Model, OS: p.st.OS,
		SecureElement: p.st.SecureElement, App: p.st.App, AppVersion: p.st.AppVersion}
}

// AttestationCert is the secure element's attestation certificate.
func (p *Phone) AttestationCert() *x509.Certificate { return p.attCert }

// Approve is the holder tapping "approve" on the phone: the next SIGN
// within phone.ApprovalLifetime is allowed, one signature only.
func (p *Phone) Approve() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.approved, p.approvedAt, p.requested = true, p.now(), false
	p.log.Info("virtual phone: the holder approved one signature")
}

// SetAutoApprove turns automatic approval on or off.
func (p *Phone) SetAutoApprove(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.auto = on
}

// SignatureRequested reports whether a SIGN was refused for want of an
// approval since the last Approve: what the phone shows as a prompt.
func (p *Phone) SignatureRequested() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requested
}

// Inbox is the notices received, oldest first.
func (p *Phone) Inbox() []phone.Notice {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]phone.Notice, 0, len(p.st.Inbox))
	for _, n := range p.st.Inbox {
		d, _ := time.Parse(phone.NoticeDateLayout, n.Date)
		out = append(out, phone.Notice{Code: n.Code, Date: d, CredentialID: n.CredentialID})
	}
	return out
}

// Credentials is what the wallet holds.
func (p *Phone) Credentials() []phone.Credential {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]phone.Credential, 0, len(p.st.Credentials))
	for _, c := range p.st.Credentials {
		out = append(out, phone.Credential{ID: c.ID, Type: c.Type, KeyID: slices.Clone(c.KeyID),
			NotAfter: c.NotAfter, Data: slices.Clone(c.Data)})
	}
	return out
}

// Status is the credentials with their states (GET STATUS's answer).
func (p *Phone) Status() []phone.CredentialStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.statusLocked()
}

func (p *Phone) statusLocked() []phone.CredentialStatus {
	out := make([]phone.CredentialStatus, 0, len(p.st.Credentials))
	for _, c := range p.st.Credentials {
		out = append(out, phone.CredentialStatus{ID: c.ID, Type: c.Type, KeyID: slices.Clone(c.KeyID),
			State: c.State, NotAfter: c.NotAfter})
	}
	return out
}

// KeyCount is the number of keys in the secure element.
func (p *Phone) KeyCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.st.Keys)
}

// ATR is the answer to reset PC/SC shows for the phone.
func (p *Phone) ATR() []byte { return slices.Clone(ATR) }

// Reset ends the NFC session: the wallet is deselected and unfinished
// chains and responses are dropped. A pending approval is kept.
func (p *Phone) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.selected, p.chainP1, p.staging, p.pending = false, 0, nil, nil
}
