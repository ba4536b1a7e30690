package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"madoguchi/app/atomicfile"
)

// DefaultVendorName is the name of the throwaway secure-element vendor the
// virtual phone and the central simulator share.
const DefaultVendorName = "Madoguchi Virtual SE Vendor"

// VendorFile is the vendor's file name in the central simulator's
// directory (<data dir>/central-sim): the virtual phone's secure elements
// are certified by it and the central simulator trusts it.
const VendorFile = "virtual-se-vendor.json"

// Vendor is a secure-element vendor's certificate authority: it certifies
// the attestation key inside every secure element it ships. The central
// system trusts a vendor by its root certificate (RootPEM). This one is a
// throwaway for development and tests; its certificates say so.
type Vendor struct {
	Name string
	root *x509.Certificate
	key  *ecdsa.PrivateKey
}

// vendorFile is the JSON form of a Vendor (mode 0600: it holds the CA key).
type vendorFile struct {
	Name string `json:"name"`
	Cert []byte `json:"cert"` // root certificate, DER
	Key  []byte `json:"key"`  // ECDSA P-256 private key, PKCS#8 DER
}

// NewVendor makes a fresh vendor CA: an ECDSA P-256 key and a self-signed
// root certificate valid for 20 years.
func NewVendor(name string) (*Vendor, error) {
	if name == "" {
		name = DefaultVendorName
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("vendor %q: %w", name, err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{CommonName: name + " Attestation Root",
			Organization:       []string{name},
			OrganizationalUnit: []string{"Madoguchi virtual secure element, not a real vendor"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(20, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("vendor %q: root certificate: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("vendor %q: root certificate: %w", name, err)
	}
	return &Vendor{Name: name, root: cert, key: key}, nil
}

// LoadOrCreateVendor reads the vendor saved at path, or makes one named
// name and saves it there (mode 0600, directories created 0700).
func LoadOrCreateVendor(path, name string) (*Vendor, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return parseVendor(path, data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("vendor: %w", err)
	}
	v, err := NewVendor(name)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("vendor: %w", err)
	}
	if err := v.Save(path); err != nil {
		return nil, err
	}
	return v, nil
}

func parseVendor(path string, data []byte) (*Vendor, error) {
	var f vendorFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("vendor %s: %w", path, err)
	}
	cert, err := x509.ParseCertificate(f.Cert)
	if err != nil {
		return nil, fmt.Errorf("vendor %s: root certificate: %w", path, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(f.Key)
	if err != nil {
		return nil, fmt.Errorf("vendor %s: key: %w", path, err)
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("vendor %s: the key does not match the root certificate", path)
	}
	return &Vendor{Name: f.Name, root: cert, key: key}, nil
}

// Save writes the vendor to path atomically, mode 0600.
func (v *Vendor) Save(path string) error {
	key, err := x509.MarshalPKCS8PrivateKey(v.key)
	if err != nil {
		return fmt.Errorf("vendor: %w", err)
	}
	data, err := json.MarshalIndent(vendorFile{Name: v.Name, Cert: v.root.Raw, Key: key}, "", "  ")
	if err != nil {
		return fmt.Errorf("vendor: %w", err)
	}
	return writeFileAtomic(path, data)
}

// RootCert is the vendor's root certificate.
func (v *Vendor) RootCert() *x509.Certificate { return v.root }

// RootPEM is the root certificate in PEM, what a verifier installs.
func (v *Vendor) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.root.Raw})
}

// issueAttestation certifies an attestation public key for one secure
// element.
func (v *Vendor) issueAttestation(pub *ecdsa.PublicKey, se, deviceID string) (*x509.Certificate, error) {
	now := time.Now().UTC().Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{CommonName: se + " attestation " + deviceID,
			Organization: []string{v.Name}, SerialNumber: deviceID},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(15, 0, 0),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, v.root, pub, v.key)
	if err != nil {
		return nil, fmt.Errorf("vendor %q: attestation certificate: %w", v.Name, err)
	}
	return x509.ParseCertificate(der)
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return big.NewInt(time.Now().UnixNano())
	}
	return n.Add(n, big.NewInt(1))
}

// writeFileAtomic writes data to path through a temporary file (fsync,
// rename), mode 0600: a crash never leaves half a file.
func writeFileAtomic(path string, data []byte) error {
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}
