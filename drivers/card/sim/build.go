package sim

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"madoguchi/drivers/card"
	"madoguchi/drivers/card/tlv"
	"madoguchi/drivers/jlis/jpki"
)

//go:embed assets/demo-face.jp2 assets/name.png assets/address.png assets/security-code.png
var assets embed.FS

func asset(name string) []byte {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

// PINs are the values a generated card starts with.
type PINs struct {
	Auth, Sign, InputAssist, Resident, PUK string
}

// The demo card's holder and PINs (documented in the README). The person
// is fictitious; the individual number has a valid check digit.
var (
	DemoHolder = Holder{
		Name:             "窓口　花子",
		Address:          "デモ県デモ市中央一丁目２番３号",
		BirthDate:        "19850401",
		Sex:              "2",
		IndividualNumber: "123456789018",
		Municipality:     "99999",
		SecurityCode:     "1234",
	}
	DemoPINs = PINs{Auth: "1234", Sign: "MADOGUCHI1", InputAssist: "1234", Resident: "1234", PUK: "12345678"}
	// DemoFaceCheck is the next-generation card's printed 6-digit 照合番号.
	DemoFaceCheck = "246810"
)

// Options describe a card to generate.
type Options struct {
	Profile *card.Profile
	Holder  Holder
	PINs    PINs
	// FaceCheck is the next-generation 6-digit 照合番号 (default DemoFaceCheck).
	FaceCheck string
	Issued    time.Time // default now
	// Blank makes a card as delivered to the municipality: data written,
	// PINs not set, no JPKI keys or certificates (issuance sets them).
	Blank bool
	// Serial fixes the card's serial (default random), and MgmtKey its
	// card-management key (default derived from iss's master key): a card
	// made for another central system, e.g. the built-in simulator's.
	Serial  string
	MgmtKey []byte
}

// ContactATR is the real card's contact ATR (ref §1).
var ContactATR = []byte{0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14}

// ValidityFor computes the card's and its certificates' expiry by the
// rules of jpki.ValidityFor; the next generation's certificates run as
// long as the card.
func ValidityFor(p *card.Profile, birth string, issued time.Time) (jpki.Validity, error) {
	return jpki.ValidityFor(birth, issued, p.Keys == card.ECDSAP384)
}

// Generate makes a new card's state under iss.
func Generate(iss *Issuer, o Options) (*State, error) {
	p := o.Profile
	if p == nil {
		p = card.Current
	}
	if o.Issued.IsZero() {
		o.Issued = time.Now()
	}
	if o.FaceCheck == "" {
		o.FaceCheck = DemoFaceCheck
	}
	h := o.Holder
	if len(h.IndividualNumber) != 12 || len(h.BirthDate) != 8 || len(h.SecurityCode) != 4 {
		return nil, fmt.Errorf("holder: individual number, birth date or security code malformed")
	}
	v, err := ValidityFor(p, h.BirthDate, o.Issued)
	if err != nil {
		return nil, err
	}
	serial := o.Serial
	if serial == "" {
		serialBytes := make([]byte, 8)
		_, _ = rand.Read(serialBytes)
		serial = fmt.Sprintf("%X", serialBytes)
	}
	mgmt := o.MgmtKey
	if mgmt == nil {
		mgmt = iss.CardKey(serial)
	}
	st := &State{Profile: p.Name, Serial: serial, ATR: ContactATR, MgmtKey: mgmt}
	pin := func(v string) string {
		if o.Blank {
			return ""
		}
		return v
	}
	alg := "rsa2048"
	if p.Keys == card.ECDSAP384 {
		alg = "p384"
	}
	signAllowed := jpki.AgeAt(h.BirthDate, o.Issued) >= 15 // domain.md §1: no signature certificate under 15

	jpki := &App{AID: p.JPKI, Files: map[uint16][]byte{}, Access: map[uint16][]uint16{}, PINs: map[uint16]*PIN{}, Keys: map[uint16]*Key{}}
	jpki.PINs[card.PINRefAuth] = newPIN(pin(o.PINs.Auth), 3, 4, 4, false)
	jpki.PINs[card.PINRefSign] = newPIN(pin(o.PINs.Sign), 5, 6, 16, true)
	jpki.Keys[card.KeyAuth] = &Key{Guard: card.PINRefAuth, Alg: alg}
	jpki.Keys[card.KeySign] = &Key{Guard: card.PINRefSign, Alg: alg}
	jpki.Files[card.EFTokenInfo] = tokenInfo(p.TokenLabel, serial)
	jpki.Files[card.EFAuthCACert] = iss.AuthCA.Raw
	jpki.Files[card.EFSignCACert] = iss.SignCA.Raw
	jpki.Files[card.EFAuthCert] = nil
	jpki.Files[card.EFSignCert] = nil
	jpki.Access[card.EFSignCert] = []uint16{card.PINRefSign}
	avail := []byte{0x00, 0x00, 0x00}
	if !o.Blank {
		notBefore := o.Issued.UTC().Truncate(time.Second)
		authDER, authPub, err := genKey(alg)
		if err != nil {
			return nil, err
		}
		jpki.Keys[card.KeyAuth].PKCS8 = authDER
		if jpki.Files[card.EFAuthCert], err = iss.AuthCert(authPub, notBefore, v.Certs.UTC()); err != nil {
			return nil, err
		}
		avail[1] = 0x8F
		if signAllowed {
			signDER, signPub, err := genKey(alg)
			if err != nil {
				return nil, err
			}
			jpki.Keys[card.KeySign].PKCS8 = signDER
			if jpki.Files[card.EFSignCert], err = iss.SignCert(signPub, h, notBefore, v.Certs.UTC()); err != nil {
				return nil, err
			}
			avail[0] = 0x8F
		}
	}
	// EF 0008: 8F 8F 00 = both certificates; 00 8F 00 = no signature
	// certificate (ref §6.1, MC ⚠).
	jpki.Files[card.EFCertAvailability] = avail

	myNumberEF := append(tlv.Encode(0xFF10, []byte(h.IndividualNumber)), 0xFF, 0xFF)
	basicFourEF, err := BasicFourEF(h)
	if err != nil {
		return nil, err
	}
	integrity, err := iss.IntegrityRecord(myNumberEF, basicFourEF)
	if err != nil {
		return nil, err
	}
	cv, err := iss.cvCert()
	if err != nil {
		return nil, err
	}
	cv = pad(cv, 568)
	face, err := iss.faceEF(h, v.Card)
	if err != nil {
		return nil, err
	}
	faceInfo := tlv.Encode(0xFF30, concat(
		tlv.Encode(0xDF31, []byte{0x06, 0x03, 0x0E, 0x01}),
		tlv.Encode(0xDF32, iss.DataKeyID[:]),
		tlv.Encode(0xDF33, []byte{0x01}),
		tlv.Encode(0xDF34, []byte(h.Municipality)),
		tlv.Encode(0xDF35, make([]byte, 16+256)),
	))
	faceApp := &App{AID: p.Face, Files: map[uint16][]byte{card.EFFace: face, card.EFFaceInfo: faceInfo},
		Access: map[uint16][]uint16{}, PINs: map[uint16]*PIN{}, Keys: map[uint16]*Key{}}

	switch p {
	case card.Current:
		text := &App{AID: p.InputAssist, Files: map[uint16][]byte{}, Access: map[uint16][]uint16{}, PINs: map[uint16]*PIN{}, Keys: map[uint16]*Key{}}
		text.PINs[card.PINRefInputAssist] = newPIN(pin(o.PINs.InputAssist), 3, 4, 4, false)
		text.PINs[card.KeyRefCheckA] = newPIN(h.IndividualNumber, faceCheckTries, 12, 12, false)
		text.PINs[card.KeyRefCheckB] = newPIN(checkB(h, v.Card), faceCheckTries, 14, 14, false)
		text.Files[card.EFMyNumber] = myNumberEF
		text.Files[card.EFBasicFour] = basicFourEF
		text.Files[card.EFIntegrity] = integrity
		text.Files[card.EFCVCert] = cv
		text.Files[card.EFAPInfo] = apInfo(iss)
		// Access matrix of ref §8.1.
		text.Access[card.EFMyNumber] = []uint16{card.PINRefInputAssist, card.KeyRefCheckA}
		text.Access[card.EFBasicFour] = []uint16{card.PINRefInputAssist, card.KeyRefCheckB}
		text.Access[card.EFIntegrity] = []uint16{card.PINRefInputAssist, card.KeyRefCheckA, card.KeyRefCheckB}
		faceApp.PINs[card.KeyRefFaceCheckA] = newPIN(h.IndividualNumber, faceCheckTries, 12, 12, false)
		faceApp.PINs[card.KeyRefFaceCheckB] = newPIN(checkB(h, v.Card), faceCheckTries, 14, 14, false)
		faceApp.Access[card.EFFace] = []uint16{card.KeyRefFaceCheckA, card.KeyRefFaceCheckB}
		juki := &App{AID: card.AIDResidentRegistry, Files: map[uint16][]byte{}, Access: map[uint16][]uint16{},
			PINs: map[uint16]*PIN{card.PINRefResident: newPIN(pin(o.PINs.Resident), 3, 4, 4, false)}, Keys: map[uint16]*Key{}}
		st.Apps = []*App{jpki, text, faceApp, juki}
	case card.Next:
		jpki.PINs[card.PINRefPUK] = newPIN(pin(o.PINs.PUK), 10, 8, 8, false)
		both := []uint16{card.PINRefAuth, card.PINRefSign}
		jpki.Files[card.EFNextMyNumber] = myNumberEF
		jpki.Files[card.EFNextBasicFour] = basicFourEF
		jpki.Files[card.EFNextIntegrity] = integrity
		jpki.Files[card.EFNextCVCert] = cv
		jpki.Access[card.EFNextMyNumber] = both
		jpki.Access[card.EFNextBasicFour] = both
		jpki.Access[card.EFNextIntegrity] = both
		faceApp.PINs[card.KeyRefNextFaceCheck] = newPIN(o.FaceCheck, faceCheckTries, 6, 6, false)
		faceApp.Access[card.EFFace] = []uint16{card.KeyRefNextFaceCheck}
		st.Apps = []*App{jpki, faceApp}
	default:
		return nil, fmt.Errorf("profile %s cannot be generated", p.Name)
	}
	return st, nil
}

func genKey(alg string) ([]byte, crypto.PublicKey, error) {
	der, _, err := newKey(alg)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, nil, err
	}
	return der, k.(crypto.Signer).Public(), nil
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// tokenInfo is EF 0006: a 160-byte PKCS#11 CK_TOKEN_INFO whose first 32
// bytes are the space-padded label (ref §6.1).
func tokenInfo(label, serial string) []byte {
	field := func(s string, n int) []byte {
		b := []byte(s)
		for len(b) < n {
			b = append(b, ' ')
		}
		return b[:n]
	}
	out := concat(field(label, 32), field("Madoguchi virtual card", 32), field("DEMO", 16), field(serial, 16))
	return append(out, make([]byte, 160-len(out))...)
}

// BasicFourEF is EF 0002 of the input-assist data (ref §8.2): FF20 { DF21
// offsets of DF22..DF25 from the start of the file, DF22 name, DF23
// address, DF24 birth date, DF25 sex }, then FF filler.
func BasicFourEF(h Holder) ([]byte, error) {
	kids := [][]byte{
		tlv.Encode(0xDF22, []byte(h.Name)),
		tlv.Encode(0xDF23, []byte(h.Address)),
		tlv.Encode(0xDF24, []byte(h.BirthDate)),
		tlv.Encode(0xDF25, []byte(h.Sex)),
	}
	return withOffsets(0xFF20, 0xDF21, kids, 3), nil
}

// withOffsets builds outer { offsetTag <2-byte offsets>, kids... } where
// each offset is the absolute position of a kid in the encoding, and
// appends filler bytes.
func withOffsets(outer, offsetTag tlv.Tag, kids [][]byte, filler int) []byte {
	bodyLen := 0
	for _, k := range kids {
		bodyLen += len(k)
	}
	offsetObjLen := len(tlv.Encode(offsetTag, make([]byte, 2*len(kids))))
	headerLen := len(tlv.Encode(outer, make([]byte, offsetObjLen+bodyLen))) - offsetObjLen - bodyLen
	offsets := make([]byte, 0, 2*len(kids))
	pos := headerLen + offsetObjLen
	for _, k := range kids {
		offsets = append(offsets, byte(pos>>8), byte(pos))
		pos += len(k)
	}
	body := tlv.Encode(offsetTag, offsets)
	for _, k := range kids {
		body = append(body, k...)
	}
	out := tlv.Encode(outer, body)
	for i := 0; i < filler; i++ {
		out = append(out, 0xFF)
	}
	return out
}

// checkB is 照合番号B: birth date YYMMDD in the Japanese era, the card's
// expiry year, and the security code — 14 digits (ref §7, MC data.rs).
func checkB(h Holder, cardExpiry time.Time) string {
	y, _ := strconv.Atoi(h.BirthDate[:4])
	starts := []struct {
		from string
		base int
	}{{"20190501", 2018}, {"19890108", 1988}, {"19261225", 1925}, {"19120730", 1911}, {"18681023", 1867}}
	ey := y
	for _, s := range starts {
		if h.BirthDate >= s.from {
			ey = y - s.base
			break
		}
	}
	return fmt.Sprintf("%02d%s%04d%s", ey%100, h.BirthDate[4:], cardExpiry.In(jpki.JST).Year(), h.SecurityCode)
}

// CheckB exposes 照合番号B of a holder for tests and the demo.
func CheckB(h Holder, cardExpiry time.Time) string { return checkB(h, cardExpiry) }

// apInfo is EF 0005 (ref §8.2): FF40 { DF41 "01 03 0E 01", DF42 key ID,
// DF43 32 bytes + 96 × FF }.
func apInfo(iss *Issuer) []byte {
	d43 := append(make([]byte, 32), []byte(strings.Repeat("\xff", 96))...)
	return tlv.Encode(0xFF40, concat(
		tlv.Encode(0xDF41, []byte{0x01, 0x03, 0x0E, 0x01}),
		tlv.Encode(0xDF42, iss.DataKeyID[:]),
		tlv.Encode(0xDF43, d43),
	))
}

// faceEF is the card-face EF 0002 (ref §9): FF20 { DF21 offsets, DF22
// birth, DF23 sex, DF24 public key, DF25 name image, DF26 address image,
// DF27 face photo (JPEG 2000), DF28 signature, DF29 expiry, DF2A security
// code image }. The signature covers SHA-256 of DF22–DF24, of DF25–DF26 and
// of DF27, concatenated; expiry and security code are not covered (ref §9
// ⚠).
func (iss *Issuer) faceEF(h Holder, cardExpiry time.Time) ([]byte, error) {
	d22 := tlv.Encode(0xDF22, []byte(h.BirthDate))
	d23 := tlv.Encode(0xDF23, []byte(h.Sex))
	d24 := tlv.Encode(0xDF24, rsaPublicTLV(&iss.dataKey.PublicKey))
	d25 := tlv.Encode(0xDF25, asset("name.png"))
	d26 := tlv.Encode(0xDF26, asset("address.png"))
	d27 := tlv.Encode(0xDF27, asset("demo-face.jp2"))
	var hashes []byte
	for _, seg := range [][]byte{concat(d22, d23, d24), concat(d25, d26), d27} {
		s := sha256sum(seg)
		hashes = append(hashes, s...)
	}
	sig, err := iss.signData(hashes)
	if err != nil {
		return nil, err
	}
	kids := [][]byte{d22, d23, d24, d25, d26, d27, tlv.Encode(0xDF28, sig),
		tlv.Encode(0xDF29, []byte(cardExpiry.In(jpki.JST).Format("20060102"))), tlv.Encode(0xDF2A, asset("security-code.png"))}
	return withOffsets(0xFF20, 0xDF21, kids, 2), nil
}
