package sim

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"madoguchi/drivers/card/tlv"
)

// TestIntegrityRecordFromDigest: the record made from DF31 is the one
// made from the individual-number EF (PKCS#1 v1.5 is deterministic).
func TestIntegrityRecordFromDigest(t *testing.T) {
	iss, err := NewIssuer()
	if err != nil {
		t.Fatal(err)
	}
	h := DemoHolder
	myNumberEF := append(tlv.Encode(0xFF10, []byte(h.IndividualNumber)), 0xFF, 0xFF)
	bf, _ := BasicFourEF(h)
	want, err := iss.IntegrityRecord(myNumberEF, bf)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(myNumberEF)
	got, err := iss.IntegrityRecordFromDigest(d[:], bf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || len(got) != 336 {
		t.Fatalf("records differ (%d, %d bytes)", len(got), len(want))
	}
	if _, err := iss.IntegrityRecordFromDigest(d[:31], bf); err == nil {
		t.Fatal("a 31-byte digest was accepted")
	}
}
