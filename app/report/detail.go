package report

import (
	"bytes"
	"encoding/json"
	"strings"
)

// detail is what the report reads of a procedure's detail JSON.
type detail struct {
	PIN     string `json:"pin"`
	Profile string `json:"profile"`
	Expiry  struct {
		Card string `json:"card"`
		Auth string `json:"auth"`
		Sign string `json:"sign"`
	} `json:"expiry"`
}

// fields are a detail's values; they may point into the parsed bytes.
type fields struct {
	pin, profile, card, auth, sign []byte
}

// parseDetail reads a detail JSON object. Objects without escapes in
// their strings (what the flows write) are scanned in place, several
// times faster than encoding/json over a day's records; anything else
// goes to encoding/json. ok is false for invalid JSON, or a field of
// another type than encoding/json would accept.
func parseDetail(b []byte) (f fields, ok bool) {
	if bytes.IndexByte(b, '\\') < 0 {
		s := scanner{b: b}
		if s.object(func(key []byte) bool {
			switch string(key) {
			case "pin":
				f.pin, ok = s.raw()
				return ok
			case "profile":
				f.profile, ok = s.raw()
				return ok
			case "expiry":
				if s.peek() == 'n' {
					return s.skip() // null
				}
				return s.object(func(key []byte) bool {
					switch string(key) {
					case "card":
						f.card, ok = s.raw()
					case "auth":
						f.auth, ok = s.raw()
					case "sign":
						f.sign, ok = s.raw()
					default:
						return s.skip()
					}
					return ok
				})
			}
			return s.skip()
		}) && s.end() {
			return f, true
		}
	}
	var d detail
	if json.Unmarshal(b, &d) != nil {
		return fields{}, false
	}
	return fields{[]byte(d.PIN), []byte(d.Profile), []byte(d.Expiry.Card), []byte(d.Expiry.Auth), []byte(d.Expiry.Sign)}, true
}

// scanner reads JSON without escapes.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) end() bool { s.ws(); return s.i == len(s.b) }

// raw reads a string's content.
func (s *scanner) raw() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	j := bytes.IndexByte(s.b[s.i+1:], '"')
	if j < 0 {
		return nil, false
	}
	v := s.b[s.i+1 : s.i+1+j]
	s.i += j + 2
	return v, true
}

// object reads an object, calling field with the scanner on each value.
func (s *scanner) object(field func(key []byte) bool) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		k, ok := s.raw()
		if !ok || s.peek() != ':' {
			return false
		}
		s.i++
		if !field(k) {
			return false
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// skip passes over any value.
func (s *scanner) skip() bool {
	switch c := s.peek(); c {
	case '"':
		_, ok := s.raw()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, ok := s.raw(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	case 0:
		return false
	default:
		start := s.i
		for s.i < len(s.b) && strings.IndexByte(",}] \t\n\r", s.b[s.i]) < 0 {
			s.i++
		}
		return s.i > start && json.Valid(s.b[start:s.i])
	}
}
