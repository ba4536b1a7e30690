// Package tlv reads the BER-TLV of the Individual Number Card leniently:
// tags in the non-minimal long form (FF 10 is private, constructed, tag
// number 16 although 16 < 31), lengths with superfluous leading zeros
// (82 00 9F is 159), and filler bytes (FF or 00) after the last object.
// Go's encoding/asn1 rejects all three (shared/card-reference.md §5; MYNA-GO
// forked encoding/asn1 in commit f705d7a for the same reason).
//
// It also reads JICSAP "simple TLV" (1-byte tag, 1-byte length or FF and a
// 2-byte length) used by record EFs (ref §5).
//
// Nothing here panics on input: every read is bounds-checked and errors
// say where the bytes went wrong.
package tlv

import (
	"errors"
	"fmt"
)

// ErrMalformed reports bytes that are not TLV.
var ErrMalformed = errors.New("tlv: malformed")

// Tag is a BER tag as it appears on the wire, e.g. 0xFF10, 0xDF22, 0x7F21,
// 0x30. Up to three tag bytes are supported (all the card uses).
type Tag uint32

// Constructed reports whether the tag's first byte has the constructed bit.
func (t Tag) Constructed() bool {
	b := t
	for b > 0xFF {
		b >>= 8
	}
	return b&0x20 != 0
}

func (t Tag) String() string { return fmt.Sprintf("%X", uint32(t)) }

// Object is one TLV: Tag, the value bytes, and Raw, the whole encoding
// (tag, length and value) as found in the input.
type Object struct {
	Tag   Tag
	Value []byte
	Raw   []byte
}

// Header decodes the tag and length at the start of b. It returns the
// header size and the value length. b may hold only part of the value;
// that is what lets a reader learn a file's size from its first bytes.
func Header(b []byte) (tag Tag, headerLen, valueLen int, err error) {
	if len(b) == 0 {
		return 0, 0, 0, fmt.Errorf("%w: empty", ErrMalformed)
	}
	i := 0
	first := b[i]
	tag = Tag(first)
	i++
	if first&0x1F == 0x1F { // long-form tag number
		for {
			if i >= len(b) {
				return 0, 0, 0, fmt.Errorf("%w: truncated tag", ErrMalformed)
			}
			if i >= 3 {
				return 0, 0, 0, fmt.Errorf("%w: tag longer than 3 bytes", ErrMalformed)
			}
			tag = tag<<8 | Tag(b[i])
			more := b[i]&0x80 != 0
			i++
			if !more {
				break
			}
		}
	}
	if i >= len(b) {
		return 0, 0, 0, fmt.Errorf("%w: tag %s without length", ErrMalformed, tag)
	}
	l := b[i]
	i++
	switch {
	case l < 0x80:
		valueLen = int(l)
	case l == 0x80:
		return 0, 0, 0, fmt.Errorf("%w: indefinite length under tag %s", ErrMalformed, tag)
	default:
		n := int(l & 0x7F)
		if n > 4 {
			return 0, 0, 0, fmt.Errorf("%w: %d length bytes under tag %s", ErrMalformed, n, tag)
		}
		if i+n > len(b) {
			return 0, 0, 0, fmt.Errorf("%w: truncated length under tag %s", ErrMalformed, tag)
		}
		v := 0
		for _, c := range b[i : i+n] { // leading zeros are allowed
			v = v<<8 | int(c)
		}
		if v > 1<<24 {
			return 0, 0, 0, fmt.Errorf("%w: length %d under tag %s", ErrMalformed, v, tag)
		}
		valueLen = v
		i += n
	}
	return tag, i, valueLen, nil
}

// isFiller reports whether everything in b is FF or 00 filler.
func isFiller(b []byte) bool {
	for _, c := range b {
		if c != 0xFF && c != 0x00 {
			return false
		}
	}
	return true
}

// Parse reads consecutive objects from b and stops at the end or at
// filler (FF or 00 bytes to the end).
func Parse(b []byte) ([]Object, error) {
	var out []Object
	for len(b) > 0 {
		if isFiller(b) {
			break
		}
		tag, h, n, err := Header(b)
		if err != nil {
			return nil, err
		}
		if h+n > len(b) {
			return nil, fmt.Errorf("%w: tag %s wants %d value bytes, %d left", ErrMalformed, tag, n, len(b)-h)
		}
		out = append(out, Object{Tag: tag, Value: b[h : h+n : h+n], Raw: b[: h+n : h+n]})
		b = b[h+n:]
	}
	return out, nil
}

// First parses the first object of b (ignoring what follows, such as
// filler) and checks its tag.
func First(b []byte, want Tag) (Object, error) {
	tag, h, n, err := Header(b)
	if err != nil {
		return Object{}, err
	}
	if tag != want {
		return Object{}, fmt.Errorf("%w: tag %s, want %s", ErrMalformed, tag, want)
	}
	if h+n > len(b) {
		return Object{}, fmt.Errorf("%w: tag %s wants %d value bytes, %d left", ErrMalformed, tag, n, len(b)-h)
	}
	return Object{Tag: tag, Value: b[h : h+n : h+n], Raw: b[: h+n : h+n]}, nil
}

// Children parses a constructed object's value into a map by tag; a
// repeated tag is an error (the card never repeats one).
func (o Object) Children() (map[Tag]Object, error) {
	list, err := Parse(o.Value)
	if err != nil {
		return nil, fmt.Errorf("inside %s: %w", o.Tag, err)
	}
	m := make(map[Tag]Object, len(list))
	for _, c := range list {
		if _, dup := m[c.Tag]; dup {
			return nil, fmt.Errorf("%w: tag %s twice inside %s", ErrMalformed, c.Tag, o.Tag)
		}
		m[c.Tag] = c
	}
	return m, nil
}

// Size returns the total encoded size of the object at the start of b
// from its header alone.
func Size(b []byte) (int, error) {
	_, h, n, err := Header(b)
	if err != nil {
		return 0, err
	}
	return h + n, nil
}

// Encode builds a TLV with the minimal length form. Tags are written as
// given (so FF10 stays two bytes, as the card has it).
func Encode(tag Tag, value []byte) []byte {
	var out []byte
	switch {
	case tag > 0xFFFF:
		out = append(out, byte(tag>>16), byte(tag>>8), byte(tag))
	case tag > 0xFF:
		out = append(out, byte(tag>>8), byte(tag))
	default:
		out = append(out, byte(tag))
	}
	n := len(value)
	switch {
	case n < 0x80:
		out = append(out, byte(n))
	case n <= 0xFF:
		out = append(out, 0x81, byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x82, byte(n>>8), byte(n))
	default:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, value...)
}

// SimpleObject is a JICSAP simple-TLV object of a record EF.
type SimpleObject struct {
	Tag   byte
	Value []byte
}

// ParseSimple reads simple TLV: a 1-byte tag, then a 1-byte length, or FF
// and a 2-byte length.
func ParseSimple(b []byte) ([]SimpleObject, error) {
	var out []SimpleObject
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: truncated simple TLV", ErrMalformed)
		}
		tag, n, h := b[0], int(b[1]), 2
		if b[1] == 0xFF {
			if len(b) < 4 {
				return nil, fmt.Errorf("%w: truncated simple-TLV length", ErrMalformed)
			}
			n, h = int(b[2])<<8|int(b[3]), 4
		}
		if h+n > len(b) {
			return nil, fmt.Errorf("%w: simple tag %02X wants %d bytes, %d left", ErrMalformed, tag, n, len(b)-h)
		}
		out = append(out, SimpleObject{Tag: tag, Value: b[h : h+n : h+n]})
		b = b[h+n:]
	}
	return out, nil
}
