package sim

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/ocsp"

	"madoguchi/drivers/jlis/api"
)

// crlReasons maps stored reasons to RFC 5280 CRLReason codes.
var crlReasons = map[string]int{
	"unspecified": ocsp.Unspecified, "keyCompromise": ocsp.KeyCompromise, "affiliationChanged": ocsp.AffiliationChanged,
	"superseded": ocsp.Superseded, "cessationOfOperation": ocsp.CessationOfOperation, "certificateHold": ocsp.CertificateHold,
}

// crl serves a fresh CRL of one CA (RFC 5280), signed by that CA.
func (s *server) crl(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".crl")
	ca, known := s.cas[name]
	if !ok || !known {
		writeProblem(w, refuse(404, api.CodeNotFound, "no CA %q", r.PathValue("file")))
		return
	}
	rows, err := s.db.DB.QueryContext(r.Context(), `SELECT serial, revoked_at, reason FROM certificates WHERE ca = ? AND state != 'good'`, name)
	if err != nil {
		writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		return
	}
	defer rows.Close()
	var entries []x509.RevocationListEntry
	for rows.Next() {
		var serial, at, reason string
		if err := rows.Scan(&serial, &at, &reason); err != nil {
			writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
			return
		}
		n, ok := new(big.Int).SetString(serial, 16)
		if !ok {
			continue
		}
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: parseTS(at), ReasonCode: crlReasons[reason]})
	}
	now := s.now().UTC()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(now.UnixNano()), ThisUpdate: now, NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		writeProblem(w, refuse(500, api.CodeInternal, "internal error"))
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	w.Write(der)
}

// ocsp answers RFC 6960 requests for any of the CAs; the CA signs its
// own responses.
func (s *server) ocsp(w http.ResponseWriter, r *http.Request) {
	var raw []byte
	var err error
	if r.Method == http.MethodGet {
		p, _ := url.PathUnescape(r.PathValue("req"))
		raw, err = base64.StdEncoding.DecodeString(strings.TrimRight(p, "/"))
	} else {
		raw, err = io.ReadAll(io.LimitReader(r.Body, 10000))
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	if err != nil {
		w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	req, err := ocsp.ParseRequest(raw)
	if err != nil {
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}
	var issuer *keyPair
	for _, n := range caNames {
		ca := s.cas[n]
		if keyHashMatches(req, ca.Cert) {
			issuer = &ca
			break
		}
	}
	if issuer == nil {
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(ocsp.UnauthorizedErrorResponse)
		return
	}
	now := s.now().UTC().Truncate(time.Second)
	tmpl := ocsp.Response{SerialNumber: req.SerialNumber, ThisUpdate: now, NextUpdate: now.Add(time.Hour), Status: ocsp.Unknown}
	st, _, ca, err := s.certStatus(r.Context(), s.db.DB, strings.ToUpper(req.SerialNumber.Text(16)))
	if err == nil && s.cas[ca].Cert.Equal(issuer.Cert) {
		switch st.State {
		case api.CertGood:
			tmpl.Status = ocsp.Good
		default:
			tmpl.Status = ocsp.Revoked
			tmpl.RevokedAt = st.RevokedAt.UTC().Truncate(time.Second)
			tmpl.RevocationReason = crlReasons[st.Reason]
		}
	}
	der, err := ocsp.CreateResponse(issuer.Cert, issuer.Cert, tmpl, issuer.Key)
	if err != nil {
		w.Write(ocsp.InternalErrorErrorResponse)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	w.Write(der)
}

// keyHashMatches compares the request's issuer key hash with a CA's.
func keyHashMatches(req *ocsp.Request, ca *x509.Certificate) bool {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(ca.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	h := req.HashAlgorithm.New()
	h.Write(spki.PublicKey.Bytes)
	return string(h.Sum(nil)) == string(req.IssuerKeyHash)
}
