package card

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
)

// Op is a privileged card operation that needs the central system's
// authorisation (domain.md §4; docs/CARD-COMMANDS.md).
type Op byte

// The privileged operations. The values go on the wire in EXTERNAL
// AUTHENTICATE (docs/CARD-COMMANDS.md §2).
const (
	OpSetPIN      Op = 0x01 // first PIN setting at issuance (CHANGE REFERENCE DATA on an unset PIN)
	OpResetPIN    Op = 0x02 // RESET RETRY COUNTER with a new PIN
	OpGenerateKey Op = 0x03 // GENERATE ASYMMETRIC KEY PAIR
	OpWriteCert   Op = 0x04 // UPDATE BINARY of a certificate EF
	OpWriteText   Op = 0x05 // UPDATE BINARY of input-assist / card-face text data
)

func (o Op) String() string {
	switch o {
	case OpSetPIN:
		return "set-pin"
	case OpResetPIN:
		return "reset-pin"
	case OpGenerateKey:
		return "generate-key"
	case OpWriteCert:
		return "write-cert"
	case OpWriteText:
		return "write-text"
	}
	return "unknown-op"
}

// Grant is what an authorisation covers: one operation on one key or file
// reference, and for writes the SHA-256 of the exact bytes to be written.
type Grant struct {
	Op     Op
	Ref    uint16
	Digest [32]byte // zero for operations without data
}

// MACSize is the length of the cryptogram's MAC.
const MACSize = 16

// macLabel separates this MAC from any other use of the key.
const macLabel = "madoguchi card-management v1"

// DiversifyKey derives a card's management key from the central system's
// master key and the card's serial number. Only the central system (and
// the card, which stores its own derived key) ever computes it.
func DiversifyKey(master []byte, serial string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte("madoguchi card key\x00"))
	m.Write([]byte(serial))
	return m.Sum(nil)
}

// CryptogramMAC is the MAC over a challenge and a grant under a card's
// management key: HMAC-SHA-256(key, label || serial || 00 || challenge ||
// op || ref || digest), first 16 bytes.
func CryptogramMAC(cardKey []byte, serial string, challenge []byte, g Grant) []byte {
	m := hmac.New(sha256.New, cardKey)
	m.Write([]byte(macLabel))
	m.Write([]byte(serial))
	m.Write([]byte{0})
	m.Write(challenge)
	m.Write([]byte{byte(g.Op)})
	var ref [2]byte
	binary.BigEndian.PutUint16(ref[:], g.Ref)
	m.Write(ref[:])
	m.Write(g.Digest[:])
	return m.Sum(nil)[:MACSize]
}

// Cryptogram is the EXTERNAL AUTHENTICATE data field: op(1) ref(2)
// digest(32) mac(16), 51 bytes.
func Cryptogram(g Grant, mac []byte) []byte {
	out := make([]byte, 0, 3+32+MACSize)
	out = append(out, byte(g.Op), byte(g.Ref>>8), byte(g.Ref))
	out = append(out, g.Digest[:]...)
	return append(out, mac...)
}

// ParseCryptogram splits EXTERNAL AUTHENTICATE data; ok is false when the
// length is wrong.
func ParseCryptogram(b []byte) (g Grant, mac []byte, ok bool) {
	if len(b) != 3+32+MACSize {
		return Grant{}, nil, false
	}
	g.Op = Op(b[0])
	g.Ref = binary.BigEndian.Uint16(b[1:3])
	copy(g.Digest[:], b[3:35])
	return g, b[35:], true
}
