package phone

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"madoguchi/drivers/card/tlv"
)

// Encoders and parsers of the command and response data fields
// (docs/PHONE-COMMANDS.md §3). The driver encodes commands and parses
// answers; the virtual phone does the reverse with the same functions.
// Parsers never panic and return ErrMalformed on bad input.

func malformed(what string, err error) error {
	return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
}

// children parses a constructed object's value, refusing repeats and
// trailing filler.
func children(o tlv.Object) (map[tlv.Tag]tlv.Object, error) {
	objs, err := parseExact(o.Value)
	if err != nil {
		return nil, err
	}
	m := make(map[tlv.Tag]tlv.Object, len(objs))
	for _, c := range objs {
		if _, dup := m[c.Tag]; dup {
			return nil, fmt.Errorf("tag %s twice inside %s", c.Tag, o.Tag)
		}
		m[c.Tag] = c
	}
	return m, nil
}

// only parses b as exactly one object with tag want.
func only(b []byte, want tlv.Tag) (tlv.Object, error) {
	o, err := tlv.First(b, want)
	if err != nil {
		return tlv.Object{}, err
	}
	if len(o.Raw) != len(b) {
		return tlv.Object{}, fmt.Errorf("%d bytes after %s", len(b)-len(o.Raw), want)
	}
	return o, nil
}

func need(m map[tlv.Tag]tlv.Object, t tlv.Tag) ([]byte, error) {
	o, ok := m[t]
	if !ok {
		return nil, fmt.Errorf("no %s", t)
	}
	return o.Value, nil
}

// EncodeDeviceInfo is GET DEVICE INFO's answer:
// 7F51 { 80 SE, 81 app, 82 version, 87 device id, 88 model, 89 OS }.
func EncodeDeviceInfo(d Device) []byte {
	var v []byte
	v = append(v, tlv.Encode(TagSEName, []byte(d.SecureElement))...)
	v = append(v, tlv.Encode(TagAppName, []byte(d.App))...)
	v = append(v, tlv.Encode(TagAppVersion, []byte(d.AppVersion))...)
	v = append(v, tlv.Encode(TagDeviceID, d.ID)...)
	v = append(v, tlv.Encode(TagModel, []byte(d.Model))...)
	v = append(v, tlv.Encode(TagOS, []byte(d.OS))...)
	return tlv.Encode(TagDeviceInfo, v)
}

// ParseDeviceInfo decodes GET DEVICE INFO's answer. Unknown tags inside
// 7F51 are ignored (a newer wallet may say more).
func ParseDeviceInfo(b []byte) (Device, error) {
	o, err := only(b, TagDeviceInfo)
	if err != nil {
		return Device{}, malformed("device info", err)
	}
	m, err := children(o)
	if err != nil {
		return Device{}, malformed("device info", err)
	}
	var d Device
	for _, f := range []struct {
		tag tlv.Tag
		dst *string
	}{{TagSEName, &d.SecureElement}, {TagAppName, &d.App}, {TagAppVersion, &d.AppVersion}, {TagModel, &d.Model}, {TagOS, &d.OS}} {
		v, err := need(m, f.tag)
		if err != nil {
			return Device{}, malformed("device info", err)
		}
		if *f.dst, err = text(v); err != nil {
			return Device{}, malformed("device info "+f.tag.String(), err)
		}
	}
	id, err := need(m, TagDeviceID)
	if err != nil {
		return Device{}, malformed("device info", err)
	}
	if len(id) != DeviceIDLen {
		return Device{}, malformed("device info", fmt.Errorf("device id of %d bytes, want %d", len(id), DeviceIDLen))
	}
	d.ID = slices.Clone(id)
	return d, nil
}

// EncodeStatus is GET STATUS's answer: 7F52 { 70 { 80 id, 81 type, 82 key
// id, 83 state, 84 notAfter } ... }, one 70 per credential (none: an empty
// 7F52).
func EncodeStatus(list []CredentialStatus) []byte {
	var v []byte
	for _, c := range list {
		var e []byte
		e = append(e, tlv.Encode(TagCredID, []byte(c.ID))...)
		e = append(e, tlv.Encode(TagCredType, []byte{byte(c.Type)})...)
		e = append(e, tlv.Encode(TagCredKeyID, c.KeyID)...)
		e = append(e, tlv.Encode(TagCredState, []byte{byte(c.State)})...)
		e = append(e, tlv.Encode(TagCredExpiry, []byte(c.NotAfter.UTC().Format(ExpiryLayout)))...)
		v = append(v, tlv.Encode(TagEntry, e)...)
	}
	return tlv.Encode(TagStatus, v)
}

// ParseStatus decodes GET STATUS's answer.
func ParseStatus(b []byte) ([]CredentialStatus, error) {
	o, err := only(b, TagStatus)
	if err != nil {
		return nil, malformed("status", err)
	}
	entries, err := parseExact(o.Value)
	if err != nil {
		return nil, malformed("status", err)
	}
	out := make([]CredentialStatus, 0, len(entries))
	for i, e := range entries {
		if e.Tag != TagEntry {
			return nil, malformed("status", fmt.Errorf("entry %d has tag %s", i+1, e.Tag))
		}
		c, err := parseStatusEntry(e)
		if err != nil {
			return nil, malformed(fmt.Sprintf("status entry %d", i+1), err)
		}
		out = append(out, c)
	}
	return out, nil
}

func parseStatusEntry(e tlv.Object) (CredentialStatus, error) {
	m, err := children(e)
	if err != nil {
		return CredentialStatus{}, err
	}
	var c CredentialStatus
	id, err := need(m, TagCredID)
	if err != nil {
		return c, err
	}
	if c.ID, err = credentialID(id); err != nil {
		return c, err
	}
	typ, err := oneByte(m, TagCredType)
	if err != nil {
		return c, err
	}
	c.Type = CredentialType(typ)
	if !c.Type.Valid() {
		return c, fmt.Errorf("unknown type %02X", typ)
	}
	if c.KeyID, err = keyID(m, TagCredKeyID); err != nil {
		return c, err
	}
	st, err := oneByte(m, TagCredState)
	if err != nil {
		return c, err
	}
	c.State = State(st)
	if !c.State.Valid() {
		return c, fmt.Errorf("unknown state %02X", st)
	}
	if c.NotAfter, err = expiry(m); err != nil {
		return c, err
	}
	return c, nil
}

func oneByte(m map[tlv.Tag]tlv.Object, t tlv.Tag) (byte, error) {
	v, err := need(m, t)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%s of %d bytes, want 1", t, len(v))
	}
	return v[0], nil
}

func keyID(m map[tlv.Tag]tlv.Object, t tlv.Tag) ([]byte, error) {
	v, err := need(m, t)
	if err != nil {
		return nil, err
	}
	if len(v) != KeyIDLen {
		return nil, fmt.Errorf("key id of %d bytes, want %d", len(v), KeyIDLen)
	}
	return slices.Clone(v), nil
}

func expiry(m map[tlv.Tag]tlv.Object) (time.Time, error) {
	v, err := need(m, TagCredExpiry)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(ExpiryLayout, string(v))
	if err != nil || len(v) != len(ExpiryLayout) {
		return time.Time{}, fmt.Errorf("notAfter %q is not YYYYMMDDhhmmssZ", v)
	}
	return t.UTC(), nil
}

// credentialID checks an id: 1 to 32 bytes of printable ASCII.
func credentialID(b []byte) (string, error) {
	if len(b) == 0 || len(b) > MaxCredentialID {
		return "", fmt.Errorf("credential id of %d bytes, want 1 to %d", len(b), MaxCredentialID)
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7E {
			return "", fmt.Errorf("credential id byte %02X is not printable ASCII", c)
		}
	}
	return string(b), nil
}

// ValidCredentialID reports whether id can name a credential.
func ValidCredentialID(id string) bool {
	_, err := credentialID([]byte(id))
	return err == nil
}

// EncodeCredential is PUT CREDENTIAL's data field before chunking:
// 70 { 80 id, 82 key id, 84 notAfter, 85 payload }. The type travels in P1.
func EncodeCredential(c Credential) []byte {
	var e []byte
	e = append(e, tlv.Encode(TagCredID, []byte(c.ID))...)
	e = append(e, tlv.Encode(TagCredKeyID, c.KeyID)...)
	e = append(e, tlv.Encode(TagCredExpiry, []byte(c.NotAfter.UTC().Format(ExpiryLayout)))...)
	e = append(e, tlv.Encode(TagCredPayload, c.Data)...)
	return tlv.Encode(TagEntry, e)
}

// ParseCredential decodes PUT CREDENTIAL's data field (the virtual phone's
// side); typ is P1. The payload size is not limited here.
func ParseCredential(b []byte, typ CredentialType) (Credential, error) {
	o, err := only(b, TagEntry)
	if err != nil {
		return Credential{}, malformed("credential", err)
	}
	m, err := children(o)
	if err != nil {
		return Credential{}, malformed("credential", err)
	}
	c := Credential{Type: typ}
	id, err := need(m, TagCredID)
	if err == nil {
		c.ID, err = credentialID(id)
	}
	if err == nil {
		c.KeyID, err = keyID(m, TagCredKeyID)
	}
	if err == nil {
		c.NotAfter, err = expiry(m)
	}
	var payload []byte
	if err == nil {
		payload, err = need(m, TagCredPayload)
	}
	if err == nil && len(payload) == 0 {
		err = fmt.Errorf("empty payload")
	}
	if err != nil {
		return Credential{}, malformed("credential", err)
	}
	c.Data = slices.Clone(payload)
	return c, nil
}

// EncodeNotice is PUT NOTICE's data field: 70 { 80 code, 81 date, [82
// credential id] }.
func EncodeNotice(n Notice) []byte {
	var e []byte
	e = append(e, tlv.Encode(TagNoticeCode, []byte{byte(n.Code)})...)
	e = append(e, tlv.Encode(TagNoticeDate, []byte(n.Date.Format(NoticeDateLayout)))...)
	if n.CredentialID != "" {
		e = append(e, tlv.Encode(TagNoticeCred, []byte(n.CredentialID))...)
	}
	return tlv.Encode(TagEntry, e)
}

// ParseNotice decodes PUT NOTICE's data field.
func ParseNotice(b []byte) (Notice, error) {
	o, err := only(b, TagEntry)
	if err != nil {
		return Notice{}, malformed("notice", err)
	}
	m, err := children(o)
	if err != nil {
		return Notice{}, malformed("notice", err)
	}
	code, err := oneByte(m, TagNoticeCode)
	if err != nil {
		return Notice{}, malformed("notice", err)
	}
	n := Notice{Code: NoticeCode(code)}
	if !n.Code.Valid() {
		return Notice{}, malformed("notice", fmt.Errorf("unknown code %02X", code))
	}
	d, err := need(m, TagNoticeDate)
	if err == nil {
		n.Date, err = time.Parse(NoticeDateLayout, string(d))
		if err == nil && len(d) != len(NoticeDateLayout) {
			err = fmt.Errorf("date %q is not YYYYMMDD", d)
		}
	}
	if err != nil {
		return Notice{}, malformed("notice", err)
	}
	if id, ok := m[TagNoticeCred]; ok {
		if n.CredentialID, err = credentialID(id.Value); err != nil {
			return Notice{}, malformed("notice", err)
		}
	}
	return n, nil
}

// EncodeSignInput is SIGN's data field: 85 key id, 90 digest.
func EncodeSignInput(keyID, digest []byte) []byte {
	return append(tlv.Encode(TagKeyID, keyID), tlv.Encode(TagDigest, digest)...)
}

// ParseSignInput decodes SIGN's data field: exactly 85 (8 bytes) then 90
// (32 bytes).
func ParseSignInput(b []byte) (keyID, digest []byte, err error) {
	objs, err := parseExact(b)
	if err != nil {
		return nil, nil, malformed("sign input", err)
	}
	if len(objs) != 2 || objs[0].Tag != TagKeyID || objs[1].Tag != TagDigest {
		return nil, nil, malformed("sign input", fmt.Errorf("want 85 and 90"))
	}
	if len(objs[0].Value) != KeyIDLen || len(objs[1].Value) != DigestLen {
		return nil, nil, malformed("sign input", fmt.Errorf("key id %d, digest %d bytes", len(objs[0].Value), len(objs[1].Value)))
	}
	return slices.Clone(objs[0].Value), slices.Clone(objs[1].Value), nil
}

// EncodeID is DELETE CREDENTIAL's and SET STATE's data field: 80 id.
func EncodeID(id string) []byte { return tlv.Encode(TagCredID, []byte(id)) }

// ParseID decodes DELETE CREDENTIAL's and SET STATE's data field.
func ParseID(b []byte) (string, error) {
	o, err := only(b, TagCredID)
	if err != nil {
		return "", malformed("credential id", err)
	}
	id, err := credentialID(o.Value)
	if err != nil {
		return "", malformed("credential id", err)
	}
	return id, nil
}

// EncodeFCI is SELECT's answer: 6F { 84 AID }.
func EncodeFCI() []byte { return tlv.Encode(0x6F, tlv.Encode(0x84, AID)) }

// isFCI reports whether b is the wallet's FCI (or empty).
func isFCI(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	o, err := tlv.First(b, 0x6F)
	if err != nil {
		return false
	}
	m, err := o.Children()
	if err != nil {
		return false
	}
	name, ok := m[0x84]
	return ok && bytes.Equal(name.Value, AID)
}
