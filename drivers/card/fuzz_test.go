package card_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"madoguchi/drivers/card"
	"madoguchi/drivers/card/sim"
)

// Fuzz targets for every parser of bytes that come from a card. Seeds are
// real EF contents from the virtual card; the checked-in corpus is under
// testdata/fuzz (regenerate with MADOGUCHI_WRITE_CORPUS=1 go test -run
// TestWriteSeedCorpus).

func seedFiles(t testing.TB) map[string][]byte {
	t.Helper()
	slot, _ := newCard(t, sim.Options{})
	c := open(t, slot, false)
	ctx := context.Background()
	out := map[string][]byte{}
	cert, err := c.AuthCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out["pubkey"] = sim.PublicKeyTemplate(cert.PublicKey)
	_ = c.Verify(ctx, card.PINInputAssist, pin("1234"))
	for name, fid := range map[string]uint16{"basicfour": card.EFBasicFour, "integrity": card.EFIntegrity, "cv": card.EFCVCert, "apinfo": card.EFAPInfo} {
		b, err := c.ReadFile(ctx, card.AIDInputAssist, fid)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = b
	}
	out["mynumber"] = append(append([]byte{0xFF, 0x10, 0x0C}, "123456789018"...), 0xFF, 0xFF)
	out["availability"] = []byte{0x8F, 0x8F, 0x00}
	num, err := c.MyNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Face(ctx, num); err != nil {
		t.Fatal(err)
	}
	if out["face"], err = c.ReadFile(ctx, card.AIDCardFace, card.EFFace); err != nil {
		t.Fatal(err)
	}
	return out
}

func FuzzParseBasicFour(f *testing.F) {
	f.Add([]byte{0xFF, 0x20, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		bf, err := card.ParseBasicFour(b)
		if err != nil {
			return
		}
		// What parses re-encodes to a file that parses to the same items.
		ef, _ := sim.BasicFourEF(sim.Holder{Name: bf.Name, Address: bf.Address, BirthDate: bf.BirthDate, Sex: bf.Sex})
		again, err := card.ParseBasicFour(ef)
		if err != nil || again != bf {
			t.Fatalf("round trip: %+v -> %+v, %v", bf, again, err)
		}
	})
}

func FuzzParseMyNumber(f *testing.F) {
	f.Add(append(append([]byte{0xFF, 0x10, 0x0C}, "123456789018"...), 0xFF, 0xFF))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := card.ParseMyNumber(b)
		if err == nil && v.Len() != 12 {
			t.Fatalf("parsed a %d-byte number", v.Len())
		}
	})
}

func FuzzParseFace(f *testing.F) {
	f.Add([]byte{0xFF, 0x20, 0x04, 0xDF, 0x27, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = card.ParseFace(b) })
}

func FuzzParseAvailability(f *testing.F) {
	f.Add([]byte{0x8F, 0x8F, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = card.ParseAvailability(b) })
}

func FuzzParsePublicKeyTemplate(f *testing.F) {
	f.Add([]byte{0x7F, 0x49, 0x03, 0x86, 0x01, 0x04})
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = card.ParsePublicKeyTemplate(b) })
}

func FuzzCheckIntegrity(f *testing.F) {
	f.Add([]byte{0xFF, 0x30, 0x00}, []byte{0x7F, 0x21, 0x00}, []byte{0xFF, 0x20, 0x00})
	keys := []card.IssuerKey{{ID: issuer.CVRootID, Key: issuer.CVRootPublicKey()}}
	f.Fuzz(func(t *testing.T, rec, cv, bf []byte) {
		if card.CheckIntegrity(rec, cv, bf, nil, keys) == nil {
			t.Fatal("random bytes passed the issuer signature check")
		}
	})
}

// TestWriteSeedCorpus writes real EF contents as seed corpus files.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("MADOGUCHI_WRITE_CORPUS") == "" {
		t.Skip("set MADOGUCHI_WRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	files := seedFiles(t)
	write := func(target, name string, args ...[]byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "go test fuzz v1\n"
		for _, a := range args {
			body += fmt.Sprintf("[]byte(%s)\n", strconv.Quote(string(a)))
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("FuzzParseBasicFour", "virtual-card", files["basicfour"])
	write("FuzzParseMyNumber", "virtual-card", files["mynumber"])
	write("FuzzParseAvailability", "both", files["availability"])
	write("FuzzParseAvailability", "no-sign", []byte{0x00, 0x8F, 0x00})
	write("FuzzCheckIntegrity", "virtual-card", files["integrity"], files["cv"], files["basicfour"])
	write("FuzzParseFace", "virtual-card", files["face"])
	write("FuzzParsePublicKeyTemplate", "rsa", files["pubkey"])
}
