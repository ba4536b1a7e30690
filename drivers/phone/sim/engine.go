package sim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"slices"

	"madoguchi/drivers/card/apdu"
	"madoguchi/drivers/mdoc"
	"madoguchi/drivers/phone"
)

func sw(code uint16) []byte { return apdu.Response{SW: code}.Bytes() }

func data(b []byte) []byte { return apdu.Response{Data: b, SW: apdu.SWOK}.Bytes() }

// maxStaging bounds a PUT CREDENTIAL chain: the payload and its TLV
// envelope.
const maxStaging = phone.MaxCredentialSize + 512

// Process answers one command APDU (docs/PHONE-COMMANDS.md). A response
// longer than the command's Le is cut to Le with 61xx, and the rest
// follows with GET RESPONSE (ISO/IEC 7816-4 §5.3.4).
func (p *Phone) Process(raw []byte) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd, err := apdu.ParseCommand(raw)
	if err != nil {
		return sw(apdu.SWWrongLength)
	}
	if cmd.CLA == phone.ClaISO && cmd.INS == phone.InsGetResponse {
		return p.getResponse(cmd)
	}
	p.pending = nil
	out := p.process(cmd)
	if len(out) > 2 && cmd.Le > 0 && len(out)-2 > cmd.Le {
		body := out[:len(out)-2]
		p.pending = slices.Clone(body[cmd.Le:])
		return p.moreSW(body[:cmd.Le])
	}
	return out
}

func (p *Phone) moreSW(b []byte) []byte {
	n := len(p.pending)
	if n > 255 {
		n = 0 // 6100: 256 or more bytes remain
	}
	return apdu.Response{Data: b, SW: 0x6100 | uint16(n)}.Bytes()
}

func (p *Phone) getResponse(cmd apdu.Command) []byte {
	if len(p.pending) == 0 {
		return sw(apdu.SWConditionsOfUse)
	}
	n := min(cmd.Le, len(p.pending))
	if cmd.Le == 0 { // no Le: as much as a short answer holds
		n = min(apdu.MaxShortLe, len(p.pending))
	}
	out := p.pending[:n]
	p.pending = p.pending[n:]
	if len(p.pending) > 0 {
		return p.moreSW(out)
	}
	p.pending = nil
	return data(out)
}

func (p *Phone) process(cmd apdu.Command) []byte {
	switch {
	case cmd.CLA&0x03 != 0:
		return sw(apdu.SWLogicalChannel)
	case cmd.CLA&0x0C != 0:
		return sw(apdu.SWSecureMessaging)
	}
	base := cmd.CLA &^ phone.ClaChaining
	chained := cmd.CLA&phone.ClaChaining != 0
	if chained && cmd.INS != phone.InsPutCredential {
		return sw(apdu.SWChainingNotSupported)
	}
	if p.staging != nil && (cmd.INS != phone.InsPutCredential || base != phone.ClaProprietary) {
		p.staging, p.chainP1 = nil, 0 // any other command abandons an unfinished chain
	}
	if cmd.INS == phone.InsSelect {
		if base != phone.ClaISO {
			return sw(apdu.SWCLANotSupported)
		}
		return p.selectApp(cmd)
	}
	switch cmd.INS {
	case phone.InsGetData, phone.InsGenerateKey, phone.InsSign, phone.InsPutCredential,
		phone.InsDeleteCredential, phone.InsSetState, phone.InsPutNotice:
	default:
		return sw(apdu.SWINSNotSupported)
	}
	if base != phone.ClaProprietary {
		return sw(apdu.SWCLANotSupported)
	}
	if !p.selected {
		return sw(apdu.SWConditionsOfUse)
	}
	switch cmd.INS {
	case phone.InsGetData:
		return p.getData(cmd)
	case phone.InsGenerateKey:
		return p.generateKey(cmd)
	case phone.InsSign:
		return p.sign(cmd)
	case phone.InsPutCredential:
		return p.putCredential(cmd, chained)
	case phone.InsDeleteCredential:
		return p.deleteCredential(cmd)
	case phone.InsSetState:
		return p.setState(cmd)
	default: // phone.InsPutNotice
		return p.putNotice(cmd)
	}
}

func (p *Phone) selectApp(cmd apdu.Command) []byte {
	if cmd.P1 != phone.P1SelectByName || (cmd.P2 != phone.P2SelectFirst && cmd.P2 != 0x0C) {
		return sw(apdu.SWWrongP1P2)
	}
	if !bytes.Equal(cmd.Data, phone.AID) {
		p.selected = false
		return sw(apdu.SWFileNotFound)
	}
	p.selected = true
	if cmd.P2 == 0x0C { // no FCI wanted
		return sw(apdu.SWOK)
	}
	return data(phone.EncodeFCI())
}

func (p *Phone) getData(cmd apdu.Command) []byte {
	if len(cmd.Data) != 0 {
		return sw(apdu.SWWrongLength)
	}
	switch uint16(cmd.P1)<<8 | uint16(cmd.P2) {
	case phone.P1P2DeviceInfo:
		return data(phone.EncodeDeviceInfo(phone.Device{ID: p.st.DeviceID, Model: p.st.Model, OS: p.st.OS,
			SecureElement: p.st.SecureElement, App: p.st.App, AppVersion: p.st.AppVersion}))
	case phone.P1P2Status:
		return data(phone.EncodeStatus(p.statusLocked()))
	}
	return sw(apdu.SWReferenceNotFound)
}

func (p *Phone) generateKey(cmd apdu.Command) []byte {
	purpose := phone.Purpose(cmd.P1)
	if !purpose.Valid() || cmd.P2 != 0 {
		return sw(apdu.SWWrongP1P2)
	}
	if len(cmd.Data) < phone.MinChallenge || len(cmd.Data) > phone.MaxChallenge {
		return sw(apdu.SWWrongLength)
	}
	if len(p.st.Keys) >= phone.MaxKeys {
		return sw(apdu.SWNotEnoughMemory)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return sw(apdu.SWNotEnoughMemory)
	}
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return sw(apdu.SWNotEnoughMemory)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return sw(apdu.SWNotEnoughMemory)
	}
	id := make([]byte, phone.KeyIDLen)
	for {
		_, _ = rand.Read(id)
		if p.key(id) == nil {
			break
		}
	}
	body := phone.AttestationBody(p.st.SecureElement, p.st.App, p.st.AppVersion, spki, cmd.Data, id, p.attCert.Raw)
	h := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, p.attKey, h[:])
	if err != nil {
		return sw(apdu.SWNotEnoughMemory)
	}
	p.st.Keys = append(p.st.Keys, keyEntry{ID: id, Purpose: purpose, Key: pkcs8, Created: p.now().UTC()})
	p.persist()
	p.log.Info("virtual phone: key generated", "purpose", purpose.String(), "key", keyName(id))
	return data(phone.EncodeAttestation(body, sig))
}

func (p *Phone) key(id []byte) *keyEntry {
	for i := range p.st.Keys {
		if bytes.Equal(p.st.Keys[i].ID, id) {
			return &p.st.Keys[i]
		}
	}
	return nil
}

func (p *Phone) privateKey(k *keyEntry) (*ecdsa.PrivateKey, bool) {
	priv, err := x509.ParsePKCS8PrivateKey(k.Key)
	if err != nil {
		return nil, false
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	return ec, ok
}

// sign is PERFORM SECURITY OPERATION: COMPUTE DIGITAL SIGNATURE. It needs
// an approval from the holder, given on the phone (Approve) less than
// phone.ApprovalLifetime ago and not used yet (domain.md §5): without
// one it answers 6982 and the phone shows the holder a prompt.
func (p *Phone) sign(cmd apdu.Command) []byte {
	if cmd.P1 != phone.P1Signature || cmd.P2 != phone.P2Template {
		return sw(apdu.SWWrongP1P2)
	}
	id, digest, err := phone.ParseSignInput(cmd.Data)
	if err != nil {
		return sw(apdu.SWWrongData)
	}
	k := p.key(id)
	if k == nil {
		return sw(apdu.SWReferenceNotFound)
	}
	if !p.takeApproval() {
		p.requested = true
		p.log.Warn("virtual phone: a signature was asked for; waiting for the holder to approve on the phone", "key", keyName(id))
		return sw(apdu.SWSecurityStatus)
	}
	priv, ok := p.privateKey(k)
	if !ok {
		return sw(apdu.SWReferenceNotFound)
	}
	sig, err := ecdsa.SignASN1(rand.Reader, priv, digest)
	if err != nil {
		return sw(apdu.SWConditionsOfUse)
	}
	p.log.Info("virtual phone: signed with the holder's approval", "key", keyName(id))
	return data(sig)
}

// takeApproval consumes the pending approval if it is still valid. An
// expired one is dropped.
func (p *Phone) takeApproval() bool {
	if p.auto {
		return true
	}
	if !p.approved {
		return false
	}
	p.approved = false
	age := p.now().Sub(p.approvedAt)
	return age >= 0 && age < phone.ApprovalLifetime
}

func (p *Phone) putCredential(cmd apdu.Command, chained bool) []byte {
	typ := phone.CredentialType(cmd.P1)
	if !typ.Valid() || cmd.P2 != 0 {
		p.staging, p.chainP1 = nil, 0
		return sw(apdu.SWWrongP1P2)
	}
	if len(cmd.Data) == 0 {
		p.staging, p.chainP1 = nil, 0
		return sw(apdu.SWWrongLength)
	}
	if p.staging != nil && p.chainP1 != cmd.P1 {
		p.staging, p.chainP1 = nil, 0
		return sw(apdu.SWWrongP1P2)
	}
	if len(p.staging)+len(cmd.Data) > maxStaging {
		p.staging, p.chainP1 = nil, 0
		return sw(apdu.SWNotEnoughMemory)
	}
	buf := append(p.staging, cmd.Data...)
	if chained {
		p.staging, p.chainP1 = buf, cmd.P1
		return sw(apdu.SWOK)
	}
	p.staging, p.chainP1 = nil, 0
	c, err := phone.ParseCredential(buf, typ)
	if err != nil {
		return sw(apdu.SWWrongData)
	}
	if len(c.Data) > phone.MaxCredentialSize {
		return sw(apdu.SWNotEnoughMemory)
	}
	k := p.key(c.KeyID)
	if k == nil {
		return sw(apdu.SWReferenceNotFound)
	}
	if typ == phone.CredentialCertChain && !p.chainFits(c.Data, k) ||
		typ == phone.CredentialMdoc && !p.mdocFits(c.Data, k) {
		return sw(apdu.SWWrongData)
	}
	for _, old := range p.st.Credentials {
		if old.ID == c.ID {
			return sw(phone.SWExists)
		}
	}
	if len(p.st.Credentials) >= phone.MaxCredentials {
		return sw(apdu.SWNotEnoughMemory)
	}
	p.st.Credentials = append(p.st.Credentials, credential{ID: c.ID, Type: typ, KeyID: c.KeyID,
		State: phone.StateActive, NotAfter: c.NotAfter, Data: c.Data, Stored: p.now().UTC()})
	p.persist()
	p.log.Info("virtual phone: credential stored", "id", c.ID, "type", typ.String(), "bytes", len(c.Data))
	return sw(apdu.SWOK)
}

// chainFits checks that a certificate chain parses and that its first
// certificate certifies key k: a wallet never stores a certificate for a
// key it does not hold.
// mdocFits reports whether an mdoc's MSO binds it to key k: a wallet
// never stores an mdoc it could not present with its own device key.
func (p *Phone) mdocFits(b []byte, k *keyEntry) bool {
	bound, err := mdoc.BoundKey(b)
	if err != nil {
		return false
	}
	priv, ok := p.privateKey(k)
	if !ok {
		return false
	}
	return priv.PublicKey.Equal(bound)
}

func (p *Phone) chainFits(b []byte, k *keyEntry) bool {
	certs, err := x509.ParseCertificates(b)
	if err != nil || len(certs) == 0 {
		return false
	}
	priv, ok := p.privateKey(k)
	if !ok {
		return false
	}
	return priv.PublicKey.Equal(certs[0].PublicKey)
}

func (p *Phone) deleteCredential(cmd apdu.Command) []byte {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return sw(apdu.SWWrongP1P2)
	}
	id, err := phone.ParseID(cmd.Data)
	if err != nil {
		return sw(apdu.SWWrongData)
	}
	i := slices.IndexFunc(p.st.Credentials, func(c credential) bool { return c.ID == id })
	if i < 0 {
		return sw(apdu.SWReferenceNotFound)
	}
	p.st.Credentials = slices.Delete(p.st.Credentials, i, i+1)
	p.persist()
	p.log.Info("virtual phone: credential deleted", "id", id)
	return sw(apdu.SWOK)
}

func (p *Phone) setState(cmd apdu.Command) []byte {
	s := phone.State(cmd.P1)
	if !s.Valid() || cmd.P2 != 0 {
		return sw(apdu.SWWrongP1P2)
	}
	id, err := phone.ParseID(cmd.Data)
	if err != nil {
		return sw(apdu.SWWrongData)
	}
	i := slices.IndexFunc(p.st.Credentials, func(c credential) bool { return c.ID == id })
	if i < 0 {
		return sw(apdu.SWReferenceNotFound)
	}
	c := &p.st.Credentials[i]
	if c.State == s {
		return sw(apdu.SWOK)
	}
	if c.State == phone.StateRevoked {
		return sw(apdu.SWConditionsOfUse) // revocation is final
	}
	c.State = s
	p.persist()
	p.log.Info("virtual phone: credential state", "id", id, "state", s.String())
	return sw(apdu.SWOK)
}

func (p *Phone) putNotice(cmd apdu.Command) []byte {
	if cmd.P1 != 0 || cmd.P2 != 0 {
		return sw(apdu.SWWrongP1P2)
	}
	n, err := phone.ParseNotice(cmd.Data)
	if err != nil {
		return sw(apdu.SWWrongData)
	}
	p.st.Inbox = append(p.st.Inbox, notice{Code: n.Code, Date: n.Date.Format(phone.NoticeDateLayout),
		CredentialID: n.CredentialID, Received: p.now().UTC()})
	if len(p.st.Inbox) > phone.MaxInbox {
		p.st.Inbox = slices.Delete(p.st.Inbox, 0, len(p.st.Inbox)-phone.MaxInbox)
	}
	p.persist()
	p.log.Info("virtual phone: notice received", "code", n.Code.String(), "date", n.Date.Format(phone.NoticeDateLayout))
	return sw(apdu.SWOK)
}

func keyName(id []byte) string { return hexString(id) }
