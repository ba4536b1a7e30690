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
	Dir           string           `json:"dir"`
	RootCA        string           `json:"rootCA"`
	RootKey       string           `json:"rootKey"`
	CAs           map[string]Files `json:"cas"`
	Server        Files            `json:"server"`
	TerminalCert  string           `json:"terminalCert"`
	TerminalKey   string           `json:"terminalKey"`
	MasterKey     string           `json:"cardManagementKey"`
	Database      string           `json:"database"`
	PhoneAllow    string           `json:"phoneAllowList"`
	CardIssuer    string           `json:"cardIssuer"`
	DemoCards     []string         `json:"demoCards"`
	AlreadyExists bool             `json:"alreadyExisted"`
}

func paths(dir string) *InitResult {
	r := &InitResult{
		Dir:        dir,
		RootCA:     filepath.Join(dir, pkiDir, "root.pem"),
		RootKey:    filepath.Join(dir, pkiDir, "root.key"),
		CAs:        map[string]Files{},
		Server:     Files{filepath.Join(dir, pkiDir, "server.pem"), filepath.Join(dir, pkiDir, "server.key")},
		MasterKey:  filepath.Join(dir, masterFile),
		Database:   filepath.Join(dir, dbFile),
		PhoneAllow: filepath.Join(dir, allowFile),
		CardIssuer: filepath.Join(dir, cardIssuerFile),
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
// (card-issuer.json: the keys that sign the cards' input-assist data) and
// the database with demo card records. On a directory already initialised
// it changes nothing and returns the existing paths, except that it makes
// the card issuer if the directory has none yet.
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
	if err := os.WriteFile(r.PhoneAllow, []byte(defaultAllowList), 0o644); err != nil {
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

// defaultAllowList is the demo's approved secure elements and wallet apps.
const defaultAllowList = `[
  {"secureElement": "DEMO-eSE", "app": "jp.madoguchi.wallet.demo"},
  {"secureElement": "DEMO-StrongBox", "app": "jp.madoguchi.wallet.demo"}
]
`

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
