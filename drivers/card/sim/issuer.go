package sim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"madoguchi/drivers/card"
	"madoguchi/drivers/card/tlv"
	"madoguchi/drivers/jlis/jpki"
)

// Issuer is the demo stand-in for J-LIS's secret material: the JPKI
// certificate authorities, the issuer keys that sign the input-assist and
// card-face data, and the card-management master key. It is a throwaway
// hierarchy for development and tests (its names say DEMO); the central
// simulator (drivers/jlis) uses the same type.
type Issuer struct {
	AuthCA, SignCA       *x509.Certificate
	authCAKey, signCAKey *rsa.PrivateKey
	// cvRootKey certifies dataKey in a card-verifiable certificate;
	// dataKey signs the input-assist integrity record and the card face.
	cvRootKey, dataKey  *rsa.PrivateKey
	CVRootID, DataKeyID [16]byte
	master              []byte
}

func keyID(prefix string, n byte) (id [16]byte) {
	// "6000033" 08 05 "001" 00 00 00 xx: the JPKI test hierarchy's form (ref §8.2).
	copy(id[:], prefix)
	id[7], id[8] = 0x08, 0x05
	copy(id[9:], "001")
	id[15] = n
	return id
}

// NewIssuer makes a fresh throwaway hierarchy.
func NewIssuer() (*Issuer, error) {
	iss := &Issuer{CVRootID: keyID("6000033", 1), DataKeyID: keyID("6000034", 1)}
	var err error
	for _, k := range []**rsa.PrivateKey{&iss.authCAKey, &iss.signCAKey, &iss.cvRootKey, &iss.dataKey} {
		if *k, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, ca := range []struct {
		cert **x509.Certificate
		key  *rsa.PrivateKey
		ou   string
	}{
		{&iss.AuthCA, iss.authCAKey, "JPKI for user authentication (DEMO)"},
		{&iss.SignCA, iss.signCAKey, "JPKI for digital signature (DEMO)"},
	} {
		tmpl := &x509.Certificate{
			SerialNumber: jpki.RandomSerial(),
			Subject: pkix.Name{Country: []string{"JP"}, Organization: []string{"JPKI-DEMO"},
				OrganizationalUnit: []string{ca.ou, "Madoguchi virtual card, not J-LIS"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
			IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ca.key.PublicKey, ca.key)
		if err != nil {
			return nil, err
		}
		if *ca.cert, err = x509.ParseCertificate(der); err != nil {
			return nil, err
		}
	}
	iss.master = make([]byte, 32)
	_, _ = rand.Read(iss.master)
	return iss, nil
}

// CardKey is a card's diversified management key.
func (iss *Issuer) CardKey(serial string) []byte { return card.DiversifyKey(iss.master, serial) }

// Authorise answers a card's challenge with the EXTERNAL AUTHENTICATE
// data for g: what the central system does for a terminal.
func (iss *Issuer) Authorise(serial string, challenge []byte, g card.Grant) []byte {
	return card.Cryptogram(g, card.CryptogramMAC(iss.CardKey(serial), serial, challenge, g))
}

// CVRootPublicKey is the trust anchor for the input-assist data's
// integrity record (the key that signs the CV certificate in EF 0004).
func (iss *Issuer) CVRootPublicKey() *rsa.PublicKey { return &iss.cvRootKey.PublicKey }

// Holder is the person on the card.
type Holder struct {
	Name             string // 氏名, full-width space between surname and given name
	Address          string // 住所
	BirthDate        string // YYYYMMDD, Gregorian
	Sex              string // "1" male, "2" female, "9" not applicable (ISO 5218)
	IndividualNumber string // 12 digits with a valid check digit
	Municipality     string // 5-digit local government code
	SecurityCode     string // 4 digits printed on the card
}

// AuthCert issues a 利用者証明用 certificate for pub following the JPKI
// profile (jpki.AuthTemplate).
func (iss *Issuer) AuthCert(pub crypto.PublicKey, notBefore, notAfter time.Time) ([]byte, error) {
	return x509.CreateCertificate(rand.Reader, jpki.AuthTemplate(notBefore, notAfter, jpki.Endpoints{}), iss.AuthCA, pub, iss.authCAKey)
}

// SignCert issues a 署名用 certificate carrying the basic four items
// (jpki.SignTemplate).
func (iss *Issuer) SignCert(pub crypto.PublicKey, h Holder, notBefore, notAfter time.Time) ([]byte, error) {
	t, err := jpki.SignTemplate(jpki.Holder{Name: h.Name, Address: h.Address, BirthDate: h.BirthDate, Sex: h.Sex}, notBefore, notAfter, jpki.Endpoints{})
	if err != nil {
		return nil, err
	}
	return x509.CreateCertificate(rand.Reader, t, iss.SignCA, pub, iss.signCAKey)
}

// cvCert is the input-assist AP's card-verifiable certificate (EF 0004,
// ref §8.2): 7F21 { 5F4E { issuer key ID, subject key ID, 90 exponent, 91
// modulus }, 5F37 signature }. The signature is PKCS#1 v1.5 SHA-256 by the
// CV root over the whole 5F4E object (Madoguchi's reading; ref ⚠).
func (iss *Issuer) cvCert() ([]byte, error) {
	body := append(append([]byte{}, iss.CVRootID[:]...), iss.DataKeyID[:]...)
	body = append(body, rsaPublicTLV(&iss.dataKey.PublicKey)...)
	content := tlv.Encode(0x5F4E, body)
	h := sha256.Sum256(content)
	sig, err := rsa.SignPKCS1v15(nil, iss.cvRootKey, crypto.SHA256, h[:])
	if err != nil {
		return nil, err
	}
	return tlv.Encode(0x7F21, append(content, tlv.Encode(0x5F37, sig)...)), nil
}

// rsaPublicTLV is the card's public-key form: 90 <exponent> 91 <modulus>
// (ref §5, MC data.rs).
func rsaPublicTLV(k *rsa.PublicKey) []byte {
	return append(tlv.Encode(0x90, big.NewInt(int64(k.E)).Bytes()), tlv.Encode(0x91, k.N.Bytes())...)
}

// signData signs with the data key (integrity record, card face).
func (iss *Issuer) signData(msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	return rsa.SignPKCS1v15(nil, iss.dataKey, crypto.SHA256, h[:])
}

// IntegrityRecord builds EF 0003 for the input-assist data (ref §8.2):
// FF30 { DF31 SHA-256 of EF 0001 as stored (filler included), DF32 SHA-256
// of EF 0002's outer value from DF22 on, DF33 signature over the DF31 and
// DF32 objects }, padded with FF to 336 bytes.
func (iss *Issuer) IntegrityRecord(myNumberEF, basicFourEF []byte) ([]byte, error) {
	h1 := sha256.Sum256(myNumberEF)
	return iss.IntegrityRecordFromDigest(h1[:], basicFourEF)
}

// IntegrityRecordFromDigest is IntegrityRecord given DF31, the SHA-256 of
// the individual-number EF, instead of the EF: what the central system
// does on a change of details, where the terminal carries DF31 over from
// the card's current record and never sends the individual number.
func (iss *Issuer) IntegrityRecordFromDigest(myNumberDigest []byte, basicFourEF []byte) ([]byte, error) {
	if len(myNumberDigest) != sha256.Size {
		return nil, fmt.Errorf("integrity record: the individual-number digest is %d bytes, want %d", len(myNumberDigest), sha256.Size)
	}
	tail, err := BasicFourSignedPart(basicFourEF)
	if err != nil {
		return nil, err
	}
	h2 := sha256.Sum256(tail)
	signed := append(tlv.Encode(0xDF31, myNumberDigest), tlv.Encode(0xDF32, h2[:])...)
	sig, err := iss.signData(signed)
	if err != nil {
		return nil, err
	}
	rec := tlv.Encode(0xFF30, append(signed, tlv.Encode(0xDF33, sig)...))
	return pad(rec, 336), nil
}

// BasicFourSignedPart is the part of EF 0002 the integrity hash covers:
// the outer FF20 value without its DF21 offset table.
func BasicFourSignedPart(ef []byte) ([]byte, error) {
	outer, err := tlv.First(ef, 0xFF20)
	if err != nil {
		return nil, err
	}
	first, err := tlv.First(outer.Value, 0xDF21)
	if err != nil {
		return nil, err
	}
	return outer.Value[len(first.Raw):], nil
}

func pad(b []byte, n int) []byte {
	for len(b) < n {
		b = append(b, 0xFF)
	}
	return b
}

// issuerFile is the saved form of an Issuer.
type issuerFile struct {
	AuthCA, SignCA                        []byte
	AuthCAKey, SignCAKey, CVRoot, DataKey []byte
	CVRootID, DataKeyID                   [16]byte
	Master                                []byte
}

// Save writes the issuer (mode 0600).
func (iss *Issuer) Save(path string) error {
	f := issuerFile{AuthCA: iss.AuthCA.Raw, SignCA: iss.SignCA.Raw, CVRootID: iss.CVRootID, DataKeyID: iss.DataKeyID, Master: iss.master}
	f.AuthCAKey = x509.MarshalPKCS1PrivateKey(iss.authCAKey)
	f.SignCAKey = x509.MarshalPKCS1PrivateKey(iss.signCAKey)
	f.CVRoot = x509.MarshalPKCS1PrivateKey(iss.cvRootKey)
	f.DataKey = x509.MarshalPKCS1PrivateKey(iss.dataKey)
	data, err := json.Marshal(f)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// LoadIssuer reads a saved issuer.
func LoadIssuer(path string) (*Issuer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f issuerFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("issuer %s: %w", path, err)
	}
	iss := &Issuer{CVRootID: f.CVRootID, DataKeyID: f.DataKeyID, master: f.Master}
	if iss.AuthCA, err = x509.ParseCertificate(f.AuthCA); err != nil {
		return nil, err
	}
	if iss.SignCA, err = x509.ParseCertificate(f.SignCA); err != nil {
		return nil, err
	}
	for _, k := range []struct {
		dst **rsa.PrivateKey
		der []byte
	}{{&iss.authCAKey, f.AuthCAKey}, {&iss.signCAKey, f.SignCAKey}, {&iss.cvRootKey, f.CVRoot}, {&iss.dataKey, f.DataKey}} {
		if *k.dst, err = x509.ParsePKCS1PrivateKey(k.der); err != nil {
			return nil, fmt.Errorf("issuer %s: %w", path, err)
		}
	}
	return iss, nil
}

// LoadOrCreateIssuer loads path, or creates and saves a new issuer there.
func LoadOrCreateIssuer(path string) (*Issuer, error) {
	iss, err := LoadIssuer(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return iss, err
	}
	if iss, err = NewIssuer(); err != nil {
		return nil, err
	}
	return iss, iss.Save(path)
}
