// Package mdoctest makes mdocs for tests of the wallets that store them.
package mdoctest

import (
	"crypto/ecdsa"
	"strings"
	"testing"
	"time"

	"madoguchi/drivers/mdoc"
)

// Bound returns an IssuerSigned structure (CBOR) bound to deviceKey,
// signed by a throwaway issuer, with an element of padding bytes so that
// tests can make it as large as they need (it is at least about 1 KB).
func Bound(t testing.TB, deviceKey *ecdsa.PublicKey, padding int) []byte {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	iaca, iacaKey, err := mdoc.NewIACA("Test IACA", now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ds, dsKey, err := mdoc.NewDocumentSigner(iaca, iacaKey, "Test DS", now.Add(-time.Hour), now.AddDate(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := mdoc.Issue(mdoc.IssueInput{
		DocType: mdoc.DocTypeMNC, Namespace: mdoc.NamespaceJP,
		Elements:  map[string]any{"full_name_unicode": "試験　花子", "resident_address_unicode": strings.Repeat("x", padding)},
		DeviceKey: deviceKey, ValidFrom: now, ValidUntil: now.AddDate(0, 6, 0),
		SignerKey: dsKey, SignerChain: [][]byte{ds.Raw},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
