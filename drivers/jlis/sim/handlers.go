package sim

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
)

func slogErrorLog(l *slog.Logger) *log.Logger { return slog.NewLogLogger(l.Handler(), slog.LevelWarn) }

var serialRE = regexp.MustCompile(`^[A-Z0-9]{1,32}$`)

func (s *server) getCard(w http.ResponseWriter, r *http.Request) {
	c, err := loadCard(r.Context(), s.db.DB, r.PathValue("serial"))
	if errors.Is(err, sql.ErrNoRows) {
		writeProblem(w, refuse(404, api.CodeNotFound, "no such card"))
		return
	}
	if err != nil {
		writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		return
	}
	writeJSON(w, 200, c)
}

func (s *server) certStatus(ctx context.Context, q querier, serial string) (api.CertStatus, []byte, string, error) {
	var st api.CertStatus
	var der []byte
	var ca, na, ra string
	err := q.QueryRowContext(ctx, `SELECT serial, ca, purpose, card_serial, der, state, not_after, revoked_at, reason FROM certificates WHERE serial = ?`, serial).
		Scan(&st.Serial, &ca, &st.Purpose, &st.CardSerial, &der, &st.State, &na, &ra, &st.Reason)
	st.NotAfter, st.RevokedAt = parseTS(na), parseTS(ra)
	return st, der, ca, err
}

// canonicalSerial writes a certificate serial as stored: hex, upper case,
// no leading zeros.
func canonicalSerial(s string) string {
	s = strings.TrimLeft(strings.ToUpper(s), "0")
	if s == "" {
		return "0"
	}
	return s
}

func (s *server) getCertificate(w http.ResponseWriter, r *http.Request) {
	st, _, _, err := s.certStatus(r.Context(), s.db.DB, canonicalSerial(r.PathValue("cert")))
	if errors.Is(err, sql.ErrNoRows) {
		writeProblem(w, refuse(404, api.CodeNotFound, "no such certificate"))
		return
	}
	if err != nil {
		writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		return
	}
	writeJSON(w, 200, st)
}

// holderOK is the check a holder's basic four items pass on registration
// and on a change of details.
func holderOK(h api.Holder) bool { return h.Name != "" && len(h.BirthDate) == 8 }

func (s *server) registerCard(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var nc api.NewCard
	if err := decode(body, &nc); err != nil {
		return 0, nil, err
	}
	if !serialRE.MatchString(nc.Serial) || (nc.Profile != "current" && nc.Profile != "next") || !holderOK(nc.Holder) {
		return 0, nil, refuse(400, api.CodeBadRequest, "serial, profile, holder name and birth date are required")
	}
	if nc.CardExpiry == "" {
		v, err := jpki.ValidityFor(nc.Holder.BirthDate, s.now(), nc.Profile == "next")
		if err != nil {
			return 0, nil, refuse(400, api.CodeBadRequest, "birth date: %v", err)
		}
		nc.CardExpiry = v.Card.Format("20060102")
	}
	hj, _ := json.Marshal(nc.Holder)
	res, err := tx.ExecContext(ctx, `INSERT INTO cards (serial, profile, state, municipality, holder, card_expiry, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		nc.Serial, nc.Profile, api.StateManufactured, nc.Municipality, string(hj), nc.CardExpiry, ts(s.now()))
	if err != nil {
		return 0, nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, nil, refuse(409, api.CodeConflict, "card %s is registered already", nc.Serial)
	}
	for _, fc := range nc.Certificates {
		cert, err := s.factoryCert(fc)
		if err != nil {
			return 0, nil, err
		}
		if err := s.storeCert(ctx, tx, fc.Purpose, fc.Purpose, nc.Serial, cert); err != nil {
			return 0, nil, err
		}
	}
	c, err := loadCard(ctx, tx, nc.Serial)
	return 201, c, err
}

// factoryCert checks a certificate a card left the factory with: an
// authentication or signature certificate signed by the card issuer's CA
// of that purpose.
func (s *server) factoryCert(fc api.FactoryCertificate) (*x509.Certificate, error) {
	var ca *x509.Certificate
	switch fc.Purpose {
	case api.CAAuth:
		ca = s.cardIssuer.AuthCA
	case api.CASign:
		ca = s.cardIssuer.SignCA
	default:
		return nil, refuse(400, api.CodeBadRequest, "factory certificate: purpose %q is not auth or sign", fc.Purpose)
	}
	cert, err := x509.ParseCertificate(fc.DER)
	if err != nil {
		return nil, refuse(400, api.CodeBadRequest, "factory certificate: %v", err)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return nil, refuse(400, api.CodeBadRequest, "factory certificate: not signed by the card issuer's %s CA", fc.Purpose)
	}
	return cert, nil
}

func (s *server) cardForUpdate(ctx context.Context, tx querier, serial string) (api.Card, error) {
	c, err := loadCard(ctx, tx, serial)
	if errors.Is(err, sql.ErrNoRows) {
		return c, refuse(404, api.CodeNotFound, "no such card")
	}
	return c, err
}

func (s *server) transition(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var t api.Transition
	if err := decode(body, &t); err != nil {
		return 0, nil, err
	}
	c, err := s.cardForUpdate(ctx, tx, r.PathValue("serial"))
	if err != nil {
		return 0, nil, err
	}
	if !api.Allowed(c.State, t.To) {
		return 0, nil, refuse(409, api.CodeInvalidTransition, "a %s card cannot become %s", c.State, t.To)
	}
	now := ts(s.now())
	// The certificates follow the card (domain.md §1, §3), and the phones
	// hear of it (a notice for the next tap).
	switch t.To {
	case api.StateSuspended:
		if err = s.notePhones(ctx, tx, c.Serial, []api.CertState{api.CertGood}, api.NoticeSuspended, api.NoticeReasonCardSuspended); err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE certificates SET state = 'suspended', revoked_at = ?, reason = 'certificateHold' WHERE card_serial = ? AND state = 'good'`, now, c.Serial)
		}
	case api.StateIssued:
		if c.State == api.StateSuspended {
			// A phone suspended on its own (lost phone) stays suspended.
			if err = s.notePhones(ctx, tx, c.Serial, []api.CertState{api.CertGood}, api.NoticeResumed, api.NoticeReasonCardResumed); err == nil {
				_, err = tx.ExecContext(ctx, `UPDATE certificates SET state = 'good', revoked_at = '', reason = '' WHERE card_serial = ? AND state = 'suspended'
					AND serial NOT IN (SELECT cert_serial FROM phones WHERE card_serial = ? AND state = 'suspended')`, c.Serial, c.Serial)
			}
		}
	case api.StateRevoked, api.StateReturned, api.StateExpired:
		reason := map[api.CardState]string{api.StateRevoked: "keyCompromise", api.StateReturned: "cessationOfOperation", api.StateExpired: "cessationOfOperation"}[t.To]
		why := map[api.CardState]string{api.StateRevoked: api.NoticeReasonCardRevoked, api.StateReturned: api.NoticeReasonCardReturned, api.StateExpired: api.NoticeReasonCardExpired}[t.To]
		if err = s.notePhones(ctx, tx, c.Serial, []api.CertState{api.CertGood, api.CertSuspended}, api.NoticeRevoked, why); err != nil {
			return 0, nil, err
		}
		if _, err = tx.ExecContext(ctx, `UPDATE certificates SET state = 'revoked', revoked_at = ?, reason = ? WHERE card_serial = ? AND state != 'revoked'`, now, reason, c.Serial); err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE phones SET state = 'revoked' WHERE card_serial = ? AND state != 'revoked'`, c.Serial)
		}
	}
	if err != nil {
		return 0, nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE cards SET state = ?, updated_at = ? WHERE serial = ?`, t.To, now, c.Serial); err != nil {
		return 0, nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO transitions (card_serial, from_state, to_state, reason, terminal, at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Serial, c.State, t.To, t.Reason, terminalName(ctx), now); err != nil {
		return 0, nil, err
	}
	c, err = loadCard(ctx, tx, c.Serial)
	return 200, c, err
}

// changeDetails is the change of details (券面記載事項変更, domain.md §2)
// of an issued card: the record's holder is updated (a history entry from
// issued to issued, reason detailsChanged), the card's signature
// certificates that are not revoked yet are revoked with reason
// affiliationChanged (they carry the old details), and the answer holds
// the new basic-four EF and its integrity record, signed by the card
// issuer over the terminal's DF31 (the individual number's digest, which
// does not change) and the new EF.
func (s *server) changeDetails(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var d api.DetailsChange
	if err := decode(body, &d); err != nil {
		return 0, nil, err
	}
	if !holderOK(d.Holder) {
		return 0, nil, refuse(400, api.CodeBadRequest, "holder name and birth date are required")
	}
	if len(d.MyNumberDigest) != sha256.Size {
		return 0, nil, refuse(400, api.CodeBadRequest, "myNumberDigest is the 32-byte DF31 of the card's integrity record")
	}
	c, err := s.cardForUpdate(ctx, tx, r.PathValue("serial"))
	if err != nil {
		return 0, nil, err
	}
	if c.State != api.StateIssued {
		return 0, nil, refuse(409, api.CodeCardState, "details change only on an issued card, this one is %s", c.State)
	}
	h := d.Holder
	// EF 0002 holds the basic four items only: no individual number.
	ef, err := cardsim.BasicFourEF(cardsim.Holder{Name: h.Name, Address: h.Address, BirthDate: h.BirthDate, Sex: h.Sex})
	if err != nil {
		return 0, nil, err
	}
	integrity, err := s.cardIssuer.IntegrityRecordFromDigest(d.MyNumberDigest, ef)
	if err != nil {
		return 0, nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT serial FROM certificates WHERE card_serial = ? AND purpose = ? AND state != 'revoked' ORDER BY not_before`, c.Serial, api.CASign)
	if err != nil {
		return 0, nil, err
	}
	var revoked []string
	for rows.Next() {
		var serial string
		if err := rows.Scan(&serial); err != nil {
			rows.Close()
			return 0, nil, err
		}
		revoked = append(revoked, serial)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	for _, serial := range revoked {
		if _, err := s.setCertState(ctx, tx, serial, []api.CertState{api.CertGood, api.CertSuspended}, api.CertRevoked, "affiliationChanged"); err != nil {
			return 0, nil, err
		}
	}
	now := ts(s.now())
	hj, _ := json.Marshal(h)
	if _, err := tx.ExecContext(ctx, `UPDATE cards SET holder = ?, updated_at = ? WHERE serial = ?`, string(hj), now, c.Serial); err != nil {
		return 0, nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO transitions (card_serial, from_state, to_state, reason, terminal, at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Serial, c.State, c.State, api.ReasonDetailsChanged, terminalName(ctx), now); err != nil {
		return 0, nil, err
	}
	if c, err = loadCard(ctx, tx, c.Serial); err != nil {
		return 0, nil, err
	}
	return 200, api.TextData{BasicFour: ef, Integrity: integrity, Card: c, RevokedSign: revoked}, nil
}

// checkProof verifies a proof of possession over api.PoPMessage.
func checkProof(serial, purpose string, spki, proof []byte) (crypto.PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(spki)
	if err != nil {
		return nil, refuse(400, api.CodeBadRequest, "public key: %v", err)
	}
	msg := api.PoPMessage(serial, purpose, spki)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return nil, refuse(400, api.CodeBadRequest, "RSA keys must be at least 2048 bits")
		}
		h := sha256.Sum256(msg)
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, h[:], proof) != nil {
			return nil, refuse(422, api.CodeProofInvalid, "the proof does not verify with this key")
		}
	case *ecdsa.PublicKey:
		var h []byte
		switch k.Curve {
		case elliptic.P384():
			s := sha512.Sum384(msg)
			h = s[:]
		case elliptic.P256():
			s := sha256.Sum256(msg)
			h = s[:]
		default:
			return nil, refuse(400, api.CodeBadRequest, "curve not supported")
		}
		if !ecdsa.VerifyASN1(k, h, proof) {
			return nil, refuse(422, api.CodeProofInvalid, "the proof does not verify with this key")
		}
	default:
		return nil, refuse(400, api.CodeBadRequest, "key type %T not supported", pub)
	}
	return pub, nil
}

func (s *server) endpoints(ca string) jpki.Endpoints {
	return jpki.Endpoints{CRL: s.publicURL + "/crl/" + ca + ".crl", OCSP: s.publicURL + api.PathOCSP}
}

// store records an issued certificate.
func (s *server) storeCert(ctx context.Context, tx querier, ca, purpose, cardSerial string, c *x509.Certificate) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO certificates (serial, ca, purpose, card_serial, der, not_before, not_after) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		certSerial(c), ca, purpose, cardSerial, c.Raw, ts(c.NotBefore), ts(c.NotAfter))
	return err
}

func (s *server) apiCert(purpose string, ca string, c *x509.Certificate) api.Certificate {
	return api.Certificate{Serial: certSerial(c), Purpose: purpose, DER: c.Raw, NotBefore: c.NotBefore, NotAfter: c.NotAfter,
		Chain: [][]byte{s.cas[ca].Cert.Raw, s.root.Cert.Raw}}
}

func (s *server) issueCertificate(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var req api.CertRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	if req.Purpose != api.CAAuth && req.Purpose != api.CASign {
		return 0, nil, refuse(400, api.CodeBadRequest, "purpose must be auth or sign (phones: POST %s)", api.PathPhones)
	}
	c, err := s.cardForUpdate(ctx, tx, r.PathValue("serial"))
	if err != nil {
		return 0, nil, err
	}
	if c.State != api.StateDelivered && c.State != api.StateIssued {
		return 0, nil, refuse(409, api.CodeCardState, "no certificates for a %s card", c.State)
	}
	now := s.now()
	if req.Purpose == api.CASign && jpki.AgeAt(c.Holder.BirthDate, now) < 15 {
		return 0, nil, refuse(409, api.CodeCardState, "no signature certificate under 15 (domain.md §1)")
	}
	pub, err := checkProof(c.Serial, req.Purpose, req.PublicKey, req.Proof)
	if err != nil {
		return 0, nil, err
	}
	v, err := jpki.ValidityFor(c.Holder.BirthDate, now, c.Profile == "next")
	if err != nil {
		return 0, nil, err
	}
	notAfter := v.Certs
	if exp, err := time.ParseInLocation("20060102", c.CardExpiry, jpki.JST); err == nil {
		if end := exp.Add(24*time.Hour - time.Second); end.Before(notAfter) {
			notAfter = end
		}
	}
	notBefore := now.UTC().Truncate(time.Second).Add(-time.Minute)
	var tmpl *x509.Certificate
	if req.Purpose == api.CAAuth {
		tmpl = jpki.AuthTemplate(notBefore, notAfter, s.endpoints(api.CAAuth))
	} else {
		h := c.Holder
		if tmpl, err = jpki.SignTemplate(jpki.Holder{Name: h.Name, Address: h.Address, BirthDate: h.BirthDate, Sex: h.Sex}, notBefore, notAfter, s.endpoints(api.CASign)); err != nil {
			return 0, nil, err
		}
	}
	cert, err := issue(tmpl, s.cas[req.Purpose], pub)
	if err != nil {
		return 0, nil, err
	}
	// A new certificate supersedes the card's previous one of that purpose.
	if _, err := tx.ExecContext(ctx, `UPDATE certificates SET state = 'revoked', revoked_at = ?, reason = 'superseded' WHERE card_serial = ? AND purpose = ? AND state != 'revoked'`,
		ts(now), c.Serial, req.Purpose); err != nil {
		return 0, nil, err
	}
	if err := s.storeCert(ctx, tx, req.Purpose, req.Purpose, c.Serial, cert); err != nil {
		return 0, nil, err
	}
	return 201, s.apiCert(req.Purpose, req.Purpose, cert), nil
}

func (s *server) setCertState(ctx context.Context, tx querier, serial string, from []api.CertState, to api.CertState, reason string) (api.CertStatus, error) {
	st, _, _, err := s.certStatus(ctx, tx, serial)
	if errors.Is(err, sql.ErrNoRows) {
		return st, refuse(404, api.CodeNotFound, "no such certificate")
	}
	if err != nil {
		return st, err
	}
	ok := false
	for _, f := range from {
		ok = ok || st.State == f
	}
	if !ok {
		return st, refuse(409, api.CodeCertState, "the certificate is %s", st.State)
	}
	at := ts(s.now())
	if to == api.CertGood {
		at, reason = "", ""
	}
	if _, err := tx.ExecContext(ctx, `UPDATE certificates SET state = ?, revoked_at = ?, reason = ? WHERE serial = ?`, to, at, reason, serial); err != nil {
		return st, err
	}
	// Revoking a card's authentication certificate revokes its phone
	// credentials, which are bound to it (domain.md §3).
	if to == api.CertRevoked && st.Purpose == api.CAAuth {
		if err := s.notePhones(ctx, tx, st.CardSerial, []api.CertState{api.CertGood, api.CertSuspended}, api.NoticeRevoked, api.NoticeReasonAuthCertRevoked); err != nil {
			return st, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE certificates SET state = 'revoked', revoked_at = ?, reason = 'affiliationChanged' WHERE card_serial = ? AND purpose = 'phone' AND state != 'revoked'`, at, st.CardSerial); err != nil {
			return st, err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE phones SET state = 'revoked' WHERE card_serial = ? AND state != 'revoked'`, st.CardSerial); err != nil {
			return st, err
		}
	}
	st, _, _, err = s.certStatus(ctx, tx, serial)
	return st, err
}

var revocationReasons = map[string]bool{"unspecified": true, "keyCompromise": true, "affiliationChanged": true, "superseded": true, "cessationOfOperation": true}

func (s *server) revokeCert(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var rv api.Revocation
	if err := decode(body, &rv); err != nil {
		return 0, nil, err
	}
	if rv.Reason == "" {
		rv.Reason = "unspecified"
	}
	if !revocationReasons[rv.Reason] {
		return 0, nil, refuse(400, api.CodeBadRequest, "reason %q", rv.Reason)
	}
	st, err := s.setCertState(ctx, tx, canonicalSerial(r.PathValue("cert")), []api.CertState{api.CertGood, api.CertSuspended}, api.CertRevoked, rv.Reason)
	return 200, st, err
}

func (s *server) suspendCert(ctx context.Context, tx querier, r *http.Request, _ []byte) (int, any, error) {
	st, err := s.setCertState(ctx, tx, canonicalSerial(r.PathValue("cert")), []api.CertState{api.CertGood}, api.CertSuspended, "certificateHold")
	return 200, st, err
}

func (s *server) liftCert(ctx context.Context, tx querier, r *http.Request, _ []byte) (int, any, error) {
	st, err := s.setCertState(ctx, tx, canonicalSerial(r.PathValue("cert")), []api.CertState{api.CertSuspended}, api.CertGood, "")
	return 200, st, err
}

var opNames = map[string]card.Op{api.OpSetPIN: card.OpSetPIN, api.OpResetPIN: card.OpResetPIN, api.OpGenerateKey: card.OpGenerateKey, api.OpWriteCert: card.OpWriteCert, api.OpWriteText: card.OpWriteText}

// opStates: in which card states each privileged operation is allowed.
var opStates = map[card.Op][]api.CardState{
	card.OpSetPIN:      {api.StateDelivered},
	card.OpResetPIN:    {api.StateIssued},
	card.OpGenerateKey: {api.StateDelivered, api.StateIssued},
	card.OpWriteCert:   {api.StateDelivered, api.StateIssued},
	card.OpWriteText:   {api.StateDelivered, api.StateIssued},
}

// authoriseTTL is how long a terminal should hold a cryptogram.
const authoriseTTL = 2 * time.Minute

func (s *server) authorise(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var req api.AuthoriseRequest
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	op, ok := opNames[req.Operation]
	if !ok {
		return 0, nil, refuse(400, api.CodeBadRequest, "operation %q", req.Operation)
	}
	if len(req.Challenge) != 8 {
		return 0, nil, refuse(400, api.CodeBadRequest, "the challenge is 8 bytes")
	}
	write := op == card.OpWriteCert || op == card.OpWriteText
	if write != (len(req.Digest) == 32) {
		return 0, nil, refuse(400, api.CodeBadRequest, "a write needs the 32-byte SHA-256 of the content; other operations none")
	}
	if req.Reservation != "" && op != card.OpResetPIN {
		return 0, nil, refuse(400, api.CodeBadRequest, "a reservation goes with %s only", api.OpResetPIN)
	}
	c, err := s.cardForUpdate(ctx, tx, r.PathValue("serial"))
	if err != nil {
		return 0, nil, err
	}
	allowed := false
	for _, st := range opStates[op] {
		allowed = allowed || c.State == st
	}
	if !allowed {
		return 0, nil, refuse(409, api.CodeCardState, "%s is not allowed on a %s card", req.Operation, c.State)
	}
	// A kiosk reset: the reservation must be open for this card and PIN;
	// it is used up below, in this transaction, only when the
	// authorisation is granted.
	if req.Reservation != "" {
		if err := s.checkReservation(ctx, tx, req.Reservation, c.Serial, req.Ref); err != nil {
			return 0, nil, err
		}
	}
	now := s.now()
	id := hex.EncodeToString(randBytes(12))
	if req.Digest == nil {
		req.Digest = []byte{} // NOT NULL: OR IGNORE would swallow the violation
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO authorisations (id, card_serial, op, ref, digest, challenge, terminal, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		id, c.Serial, req.Operation, int(req.Ref), req.Digest, req.Challenge, terminalName(ctx), ts(now), ts(now.Add(authoriseTTL)))
	if err != nil {
		return 0, nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, nil, refuse(409, api.CodeChallengeReused, "this challenge was answered already")
	}
	if req.Reservation != "" {
		res, err := tx.ExecContext(ctx, `UPDATE reservations SET state = 'used', used_at = ?, authorisation = ? WHERE id = ? AND state = 'open'`,
			ts(now), id, req.Reservation)
		if err != nil {
			return 0, nil, err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return 0, nil, refuse(409, api.CodeReservationInvalid, "the reservation was used already")
		}
	}
	g := card.Grant{Op: op, Ref: req.Ref}
	copy(g.Digest[:], req.Digest)
	mac := card.CryptogramMAC(card.DiversifyKey(s.master, c.Serial), c.Serial, req.Challenge, g)
	return 201, api.Authorisation{ID: id, Cryptogram: card.Cryptogram(g, mac), ExpiresAt: now.Add(authoriseTTL).UTC()}, nil
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func (s *server) ingestEvents(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var evs api.Events
	if err := decode(body, &evs); err != nil {
		return 0, nil, err
	}
	if len(evs.Events) == 0 || len(evs.Events) > api.MaxEventsPerRequest {
		return 0, nil, refuse(400, api.CodeBadRequest, "1 to %d events per request", api.MaxEventsPerRequest)
	}
	var res api.EventsResult
	for _, e := range evs.Events {
		if e.ID == "" || e.Type == "" {
			return 0, nil, refuse(400, api.CodeBadRequest, "every event needs an id and a type")
		}
		data, _ := json.Marshal(e.Data)
		r, err := tx.ExecContext(ctx, `INSERT INTO events (terminal, id, type, at, data, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			terminalName(ctx), e.ID, e.Type, ts(e.At), string(data), ts(s.now()))
		if err != nil {
			return 0, nil, err
		}
		if n, _ := r.RowsAffected(); n == 1 {
			res.Accepted++
		} else {
			res.Duplicates++
		}
	}
	return 200, res, nil
}

// reservationRefs maps a reservation's PIN to the key reference of that
// PIN on the card (the same on both generations, drivers/card/spec.go).
var reservationRefs = map[string]uint16{api.ReservationPINSign: card.PINRefSign, api.ReservationPINAuth: card.PINRefAuth}

// loadReservation reads a reservation; an open one past its expiry reads
// as expired.
func (s *server) loadReservation(ctx context.Context, q querier, id string) (api.Reservation, error) {
	var rv api.Reservation
	var created, expires string
	err := q.QueryRowContext(ctx, `SELECT id, card_serial, pin, state, created_at, expires_at FROM reservations WHERE id = ?`, id).
		Scan(&rv.ID, &rv.CardSerial, &rv.PIN, &rv.State, &created, &expires)
	if err != nil {
		return rv, err
	}
	rv.CreatedAt, rv.ExpiresAt = parseTS(created), parseTS(expires)
	if rv.State == api.ReservationOpen && !s.now().Before(rv.ExpiresAt) {
		rv.State = api.ReservationExpired
	}
	return rv, nil
}

// createReservation records a remote face check for a kiosk PIN reset
// (POST /v1/reservations). In reality the smartphone face-check service
// makes reservations; the reference server takes them from any
// authenticated client.
func (s *server) createReservation(ctx context.Context, tx querier, r *http.Request, body []byte) (int, any, error) {
	var req api.Reservation
	if err := decode(body, &req); err != nil {
		return 0, nil, err
	}
	if req.ID != "" || req.State != "" || !req.CreatedAt.IsZero() || !req.ExpiresAt.IsZero() {
		return 0, nil, refuse(400, api.CodeBadRequest, "id, state and times are the server's")
	}
	if _, ok := reservationRefs[req.PIN]; !ok {
		return 0, nil, refuse(400, api.CodeBadRequest, "pin must be %s or %s", api.ReservationPINSign, api.ReservationPINAuth)
	}
	c, err := s.cardForUpdate(ctx, tx, req.CardSerial)
	if err != nil {
		return 0, nil, err
	}
	if c.State != api.StateIssued {
		return 0, nil, refuse(409, api.CodeCardState, "a PIN reset needs an issued card, this one is %s", c.State)
	}
	now := s.now()
	id := hex.EncodeToString(randBytes(12))
	if _, err := tx.ExecContext(ctx, `INSERT INTO reservations (id, card_serial, pin, state, created_by, created_at, expires_at) VALUES (?, ?, ?, 'open', ?, ?, ?)`,
		id, c.Serial, req.PIN, terminalName(ctx), ts(now), ts(now.Add(s.reservationTTL))); err != nil {
		return 0, nil, err
	}
	rv, err := s.loadReservation(ctx, tx, id)
	return 201, rv, err
}

// getReservations lists a card's open reservations, oldest first (GET
// /v1/cards/{serial}/reservations).
func (s *server) getReservations(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	serial := r.PathValue("serial")
	out, err := s.openReservations(ctx, serial)
	if errors.Is(err, sql.ErrNoRows) {
		writeProblem(w, refuse(404, api.CodeNotFound, "no such card"))
		return
	}
	if err != nil {
		writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		return
	}
	writeJSON(w, 200, out)
}

func (s *server) openReservations(ctx context.Context, serial string) ([]api.Reservation, error) {
	var n int
	if err := s.db.DB.QueryRowContext(ctx, `SELECT count(*) FROM cards WHERE serial = ?`, serial).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, sql.ErrNoRows
	}
	rows, err := s.db.DB.QueryContext(ctx, `SELECT id FROM reservations WHERE card_serial = ? AND state = 'open'`, serial)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := []api.Reservation{}
	for _, id := range ids {
		rv, err := s.loadReservation(ctx, s.db.DB, id)
		if err != nil {
			return nil, err
		}
		if rv.State == api.ReservationOpen {
			out = append(out, rv)
		}
	}
	// The stored times are RFC 3339 with trimmed fractions: not
	// comparable as text.
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// checkReservation refuses a reservation that is not open, not for this
// card, or not for the PIN whose key reference is ref.
func (s *server) checkReservation(ctx context.Context, tx querier, id, serial string, ref uint16) error {
	rv, err := s.loadReservation(ctx, tx, id)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && rv.CardSerial != serial):
		return refuse(409, api.CodeReservationInvalid, "no such reservation for this card")
	case err != nil:
		return err
	case reservationRefs[rv.PIN] != ref:
		return refuse(409, api.CodeReservationInvalid, "the reservation is for the %s PIN", rv.PIN)
	case rv.State == api.ReservationUsed:
		return refuse(409, api.CodeReservationInvalid, "the reservation was used already")
	case rv.State == api.ReservationExpired:
		return refuse(409, api.CodeReservationInvalid, "the reservation expired at %s", rv.ExpiresAt.UTC().Format(time.RFC3339))
	case rv.State != api.ReservationOpen:
		return refuse(409, api.CodeReservationInvalid, "the reservation is %s", rv.State)
	}
	return nil
}
