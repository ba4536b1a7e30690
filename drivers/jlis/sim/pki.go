package sim

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"madoguchi/drivers/card"
	cardsim "madoguchi/drivers/card/sim"
	"madoguchi/drivers/jlis/api"
	"madoguchi/drivers/jlis/jpki"
	"madoguchi/drivers/mdoc"
	phonesim "madoguchi/drivers/phone/sim"
)

// The files of a simulator directory.
const (
	pkiDir       = "pki"
	terminalsDir = "terminals"
	dbFile       = "jlis.db"
	masterFile   = "pki/card-management.key"
	allowFile    = "phone-allowlist.json"
	// cardIssuerFile is the card issuer (drivers/card/sim.Issuer): the
	// keys that sign the cards' input-assist data, as J-LIS makes the
	// cards.
	cardIssuerFile = "card-issuer.json"
	// vendorFile is the virtual secure-element vendor (drivers/phone/sim):
	// the CA that certifies the virtual phones' attestation keys. Its root
	// is in the default allow-list.
	vendorFile = "virtual-se-vendor.json"
)

// CAs are the issuing CAs, one per purpose, under one root.
var caNames = []string{api.CAAuth, api.CASign, api.CAPhone, api.CATerminal}

// Files are the paths of a key pair.
type Files struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// InitResult lists every file Init wrote (or found).
type InitResult struct {
	Dir          string           `json:"dir"`
	RootCA       string           `json:"rootCA"`
	RootKey      string           `json:"rootKey"`
	CAs          map[string]Files `json:"cas"`
	Server       Files            `json:"server"`
	TerminalCert string           `json:"terminalCert"`
	TerminalKey  string           `json:"terminalKey"`
	MasterKey    string           `json:"cardManagementKey"`
	Database     string           `json:"database"`
	PhoneAllow   string           `json:"phoneAllowList"`
	CardIssuer   string           `json:"cardIssuer"`
	PhoneVendor  string           `json:"phoneVendor"`
	// IACA is the mdoc issuing authority's root (ISO 18013-5 Annex B),
	// DocumentSigner the certificate and key that sign the mdocs.
	IACA           Files    `json:"iaca"`
	DocumentSigner Files    `json:"documentSigner"`
	DemoCards      []string `json:"demoCards"`
	AlreadyExists  bool     `json:"alreadyExisted"`
}

func paths(dir string) *InitResult {
	r := &InitResult{
		Dir:            dir,
		RootCA:         filepath.Join(dir, pkiDir, "root.pem"),
		RootKey:        filepath.Join(dir, pkiDir, "root.key"),
		CAs:            map[string]Files{},
		Server:         Files{filepath.Join(dir, pkiDir, "server.pem"), filepath.Join(dir, pkiDir, "server.key")},
		MasterKey:      filepath.Join(dir, masterFile),
		Database:       filepath.Join(dir, dbFile),
		PhoneAllow:     filepath.Join(dir, allowFile),
		CardIssuer:     filepath.Join(dir, cardIssuerFile),
		PhoneVendor:    filepath.Join(dir, vendorFile),
		IACA:           Files{filepath.Join(dir, pkiDir, "iaca.pem"), filepath.Join(dir, pkiDir, "iaca.key")},
		DocumentSigner: Files{filepath.Join(dir, pkiDir, "mdoc-signer.pem"), filepath.Join(dir, pkiDir, "mdoc-signer.key")},
	}
	for _, n := range caNames {
		r.CAs[n] = Files{filepath.Join(dir, pkiDir, n+"-ca.pem"), filepath.Join(dir, pkiDir, n+"-ca.key")}
	}
	r.TerminalCert, r.TerminalKey = terminalPaths(dir, "terminal-01")
	return r
}

func terminalPaths(dir, name string) (string, string) {
	return filepath.Join(dir, terminalsDir, name+".pem"), filepath.Join(dir, terminalsDir, name+".key")
}

// keyPair is a certificate and its private key.
type keyPair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func writePair(f Files, kp keyPair) error {
	if err := writePEM(f.Cert, "CERTIFICATE", kp.Cert.Raw, 0o644); err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(kp.Key)
	if err != nil {
		return err
	}
	return writePEM(f.Key, "PRIVATE KEY", der, 0o600)
}

func readPair(f Files) (keyPair, error) {
	cb, err := os.ReadFile(f.Cert)
	if err != nil {
		return keyPair{}, err
	}
	kb, err := os.ReadFile(f.Key)
	if err != nil {
		return keyPair{}, err
	}
	c, _ := pem.Decode(cb)
	k, _ := pem.Decode(kb)
	if c == nil || k == nil {
		return keyPair{}, fmt.Errorf("%s: not PEM", f.Cert)
	}
	cert, err := x509.ParseCertificate(c.Bytes)
	if err != nil {
		return keyPair{}, err
	}
	key, err := x509.ParsePKCS8PrivateKey(k.Bytes)
	if err != nil {
		return keyPair{}, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return keyPair{}, fmt.Errorf("%s: not a signing key", f.Key)
	}
	return keyPair{Cert: cert, Key: signer}, nil
}

func issue(tmpl *x509.Certificate, parent keyPair, pub crypto.PublicKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent.Cert, pub, parent.Key)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func caName(purpose string) pkix.Name {
	return pkix.Name{Country: []string{"JP"}, Organization: []string{"JPKI-DEMO"},
		OrganizationalUnit: []string{"Madoguchi central simulator, not J-LIS"}, CommonName: "Madoguchi DEMO " + purpose + " CA"}
}

// Init creates a simulator directory: a root CA, the issuing CAs (auth,
// signature, phone, terminal; RSA-2048 as JPKI), a TLS server certificate
// for loopback, the card-management master key, a first terminal
// certificate (terminal-01), the phone allow-list, the card issuer
// (card-issuer.json: the keys that sign the cards' input-assist data), the
// virtual secure-element vendor (virtual-se-vendor.json) whose root the
// default allow-list approves, the mdoc IACA root and document signer
// (P-256), and the database with demo card records. On a directory
// already initialised it changes nothing and returns the existing paths,
// except that it makes what a directory from before them lacks: the card
// issuer, the vendor (and an allow-list with vendor roots), the mdoc
// signer.
func Init(dir string) (*InitResult, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := paths(dir)
	if _, err := os.Stat(r.RootCA); err == nil {
		r.AlreadyExists = true
		// A directory from before the card issuer gets one now.
		if _, err := cardsim.LoadOrCreateIssuer(r.CardIssuer); err != nil {
			return nil, fmt.Errorf("card issuer: %w", err)
		}
		if err := ensurePhoneTrust(r); err != nil {
			return nil, err
		}
		if _, _, err := ensureMdocSigner(r); err != nil {
			return nil, err
		}
		db, err := openDB(r.Database)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		r.DemoCards, err = demoCardSerials(db)
		return r, err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	rootTmpl := &x509.Certificate{
		SerialNumber: jpki.RandomSerial(), Subject: caName("root"),
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(20, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootCert, err := issue(rootTmpl, keyPair{Cert: rootTmpl, Key: rootKey}, &rootKey.PublicKey)
	if err != nil {
		return nil, err
	}
	root := keyPair{Cert: rootCert, Key: rootKey}
	if err := writePair(Files{r.RootCA, r.RootKey}, root); err != nil {
		return nil, err
	}
	cas := map[string]keyPair{}
	for _, n := range caNames {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		t := &x509.Certificate{
			SerialNumber: jpki.RandomSerial(), Subject: caName(n),
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(15, 0, 0),
			IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		}
		c, err := issue(t, root, &k.PublicKey)
		if err != nil {
			return nil, err
		}
		cas[n] = keyPair{Cert: c, Key: k}
		if err := writePair(r.CAs[n], cas[n]); err != nil {
			return nil, err
		}
	}
	sk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	st := &x509.Certificate{
		SerialNumber: jpki.RandomSerial(), Subject: pkix.Name{CommonName: "localhost", Organization: []string{"JPKI-DEMO"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	sc, err := issue(st, root, &sk.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := writePair(r.Server, keyPair{Cert: sc, Key: sk}); err != nil {
		return nil, err
	}
	master := make([]byte, 32)
	_, _ = rand.Read(master)
	if err := os.WriteFile(r.MasterKey, []byte(hex.EncodeToString(master)+"\n"), 0o600); err != nil {
		return nil, err
	}
	if _, _, err := AddTerminal(dir, "terminal-01"); err != nil {
		return nil, err
	}
	if err := ensurePhoneTrust(r); err != nil {
		return nil, err
	}
	if _, _, err := ensureMdocSigner(r); err != nil {
		return nil, err
	}
	if _, err := cardsim.LoadOrCreateIssuer(r.CardIssuer); err != nil {
		return nil, fmt.Errorf("card issuer: %w", err)
	}
	db, err := openDB(r.Database)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if r.DemoCards, err = createDemoCards(db, now); err != nil {
		return nil, err
	}
	return r, nil
}

// allowEntry is one approved pair of secure element and wallet app, and
// the root certificate (PEM) of the vendor whose attestation certificate
// must vouch for it. The allow-list file (phone-allowlist.json) is a JSON
// array of them.
type allowEntry struct {
	SecureElement string `json:"secureElement"`
	App           string `json:"app"`
	// Vendor names the vendor, for people reading the file.
	Vendor string `json:"vendor,omitempty"`
	// VendorRoot is the vendor's attestation root certificate, PEM.
	VendorRoot string `json:"vendorRoot"`

	roots *x509.CertPool
}

// defaultAllowList approves the virtual phone: secure element "Madoguchi
// Virtual SE" with app "Madoguchi Wallet", attested under the virtual
// vendor of this directory.
func defaultAllowList(v *phonesim.Vendor) []allowEntry {
	return []allowEntry{{SecureElement: phonesim.DefaultSecureElement, App: phonesim.DefaultApp,
		Vendor: v.Name, VendorRoot: string(v.RootPEM())}}
}

// readAllowList reads the allow-list; entries whose vendor root is not a
// PEM certificate are an error (a typo must not silently approve or
// refuse a phone).
func readAllowList(path string) ([]allowEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []allowEntry
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("phone allow-list %s: %w", path, err)
	}
	for i := range list {
		e := &list[i]
		if e.VendorRoot == "" {
			continue // refused at use: "no vendor root"
		}
		e.roots = x509.NewCertPool()
		if !e.roots.AppendCertsFromPEM([]byte(e.VendorRoot)) {
			return nil, fmt.Errorf("phone allow-list %s: entry %d (%s / %s): vendorRoot holds no PEM certificate", path, i+1, e.SecureElement, e.App)
		}
	}
	return list, nil
}

// ensurePhoneTrust makes the virtual secure-element vendor if the
// directory has none, and the default allow-list if there is none or the
// one there is from before vendor roots (kept as phone-allowlist.json.old).
func ensurePhoneTrust(r *InitResult) error {
	v, err := phonesim.LoadOrCreateVendor(r.PhoneVendor, phonesim.DefaultVendorName)
	if err != nil {
		return fmt.Errorf("virtual secure-element vendor: %w", err)
	}
	list, err := readAllowList(r.PhoneAllow)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	default:
		for _, e := range list {
			if e.VendorRoot != "" {
				return nil
			}
		}
		if err := os.Rename(r.PhoneAllow, r.PhoneAllow+".old"); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(defaultAllowList(v), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(r.PhoneAllow, append(b, '\n'), 0o644)
}

// ensureMdocSigner loads the mdoc IACA root and document signer, making
// them if missing: the IACA for 20 years, the document signer for 11 (a
// demo simplification: the mdocs last as long as the phone certificate,
// up to 10 years, and a verifier checks the signer's certificate at the
// time it verifies; ISO 18013-5 Annex B keeps document signers to 457
// days with shorter mdocs).
func ensureMdocSigner(r *InitResult) (iaca, signer keyPair, err error) {
	now := time.Now().UTC().Truncate(time.Second)
	if iaca, err = readPair(r.IACA); errors.Is(err, fs.ErrNotExist) {
		c, k, err := mdoc.NewIACA("Madoguchi DEMO IACA (not J-LIS)", now.Add(-time.Hour), now.AddDate(20, 0, 0))
		if err != nil {
			return iaca, signer, err
		}
		iaca = keyPair{Cert: c, Key: k}
		if err := writePair(r.IACA, iaca); err != nil {
			return iaca, signer, err
		}
		os.Remove(r.DocumentSigner.Cert) // a signer under an old IACA is no use
		os.Remove(r.DocumentSigner.Key)
	} else if err != nil {
		return iaca, signer, fmt.Errorf("mdoc IACA: %w", err)
	}
	if signer, err = readPair(r.DocumentSigner); errors.Is(err, fs.ErrNotExist) {
		c, k, err := mdoc.NewDocumentSigner(iaca.Cert, iaca.Key, "Madoguchi DEMO mdoc document signer", now.Add(-time.Hour), now.AddDate(11, 0, 0))
		if err != nil {
			return iaca, signer, err
		}
		signer = keyPair{Cert: c, Key: k}
		if err := writePair(r.DocumentSigner, signer); err != nil {
			return iaca, signer, err
		}
	} else if err != nil {
		return iaca, signer, fmt.Errorf("mdoc document signer: %w", err)
	}
	return iaca, signer, nil
}

// AddTerminal issues a client certificate for a terminal (CN = name)
// under the terminal CA and writes it to terminals/NAME.pem and .key.
func AddTerminal(dir, name string) (certPath, keyPath string, err error) {
	r := paths(dir)
	ca, err := readPair(r.CAs[api.CATerminal])
	if err != nil {
		return "", "", fmt.Errorf("terminal CA: %w", err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now().UTC().Truncate(time.Second)
	t := &x509.Certificate{
		SerialNumber: jpki.RandomSerial(), Subject: pkix.Name{CommonName: name, Organization: []string{"Madoguchi terminals (DEMO)"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(3, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	c, err := issue(t, ca, &k.PublicKey)
	if err != nil {
		return "", "", err
	}
	certPath, keyPath = terminalPaths(dir, name)
	return certPath, keyPath, writePair(Files{certPath, keyPath}, keyPair{Cert: c, Key: k})
}

// readMasterKey reads the card-management master key.
func readMasterKey(path string) ([]byte, error) {
	mk, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	master, err := hex.DecodeString(strings.TrimSpace(string(mk)))
	if err != nil || len(master) < 32 {
		return nil, fmt.Errorf("card-management key %s is malformed", path)
	}
	return master, nil
}

// CardIssuer loads the card issuer of a simulator directory (made by Init;
// made now for a directory from before it): the CV root and data key that
// sign the input-assist data of the cards this central system makes, and
// the demo JPKI CAs that certify the keys of a card made already issued.
// Its CV root is what a terminal trusts for those cards
// (card.IssuerKey{ID: iss.CVRootID, Key: iss.CVRootPublicKey()}).
func CardIssuer(dir string) (*cardsim.Issuer, error) {
	iss, err := cardsim.LoadOrCreateIssuer(paths(dir).CardIssuer)
	if err != nil {
		return nil, fmt.Errorf("card issuer: %w", err)
	}
	return iss, nil
}

// CardKey is the card-management key of a card made for this central
// system: card.DiversifyKey of the master key and the card's serial. The
// card stores it; the master key itself never leaves this package.
func CardKey(dir, serial string) ([]byte, error) {
	master, err := readMasterKey(paths(dir).MasterKey)
	if err != nil {
		return nil, err
	}
	return card.DiversifyKey(master, serial), nil
}
