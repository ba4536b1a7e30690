package mdoc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"
)

// NewIACA makes a self-signed IACA root (issuing authority certificate
// authority, ISO 18013-5 Annex B.1.2) with a new P-256 key: a CA that
// certifies document signers only (path length 0), for notBefore to
// notAfter. name is its common name; the country is JP.
func NewIACA(name string, notBefore, notAfter time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	t := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{Country: []string{"JP"}, CommonName: name},
		NotBefore:    notBefore, NotAfter: notAfter,
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, t, t, &k.PublicKey, k)
	if err != nil {
		return nil, nil, fmt.Errorf("mdoc: IACA: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, k, err
}

// NewDocumentSigner makes a document signer certificate (ISO 18013-5
// Annex B.1.4) with a new P-256 key under an IACA: digital signature
// only, extended key usage OIDDocumentSigner.
func NewDocumentSigner(iaca *x509.Certificate, iacaKey crypto.Signer, name string, notBefore, notAfter time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	t := &x509.Certificate{
		SerialNumber:       randomSerial(),
		Subject:            pkix.Name{Country: []string{"JP"}, CommonName: name},
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		KeyUsage:           x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{OIDDocumentSigner},
	}
	der, err := x509.CreateCertificate(rand.Reader, t, iaca, &k.PublicKey, iacaKey)
	if err != nil {
		return nil, nil, fmt.Errorf("mdoc: document signer: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, k, err
}

func randomSerial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	return n.Add(n, big.NewInt(1))
}
