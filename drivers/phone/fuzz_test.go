package phone_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"madoguchi/drivers/phone"
	"madoguchi/drivers/phone/sim"
)

// Fuzz targets for every parser of bytes that come from a phone (or, for
// the attestation, reach the central system). The checked-in seed corpus
// under testdata/fuzz holds real answers of the virtual phone; regenerate
// it with MADOGUCHI_WRITE_CORPUS=1 go test -run TestWriteSeedCorpus.

func FuzzParseAttestation(f *testing.F) {
	f.Add([]byte{0x7F, 0x50, 0x00})
	pool := roots(testVendor(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := phone.ParseAttestation(b)
		if err != nil {
			return
		}
		if len(a.KeyID) != phone.KeyIDLen || a.PublicKey == nil || a.Certificate == nil || !bytes.Equal(a.Raw, b) {
			t.Fatalf("parsed an incomplete attestation %+v", a)
		}
		_ = a.Verify(pool) // must not panic
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte{0x7F, 0x52, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		list, err := phone.ParseStatus(b)
		if err != nil {
			return
		}
		// What parses re-encodes to the same list.
		again, err := phone.ParseStatus(phone.EncodeStatus(list))
		if err != nil || len(again) != len(list) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range list {
			if again[i].ID != list[i].ID || !again[i].NotAfter.Equal(list[i].NotAfter) || again[i].State != list[i].State {
				t.Fatalf("round trip entry %d: %+v -> %+v", i, list[i], again[i])
			}
		}
	})
}

func FuzzParseDeviceInfo(f *testing.F) {
	f.Add([]byte{0x7F, 0x51, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := phone.ParseDeviceInfo(b)
		if err == nil && len(d.ID) != phone.DeviceIDLen {
			t.Fatalf("device id of %d bytes", len(d.ID))
		}
	})
}

// FuzzProcess feeds the virtual phone arbitrary APDUs after selecting the
// wallet: it must answer every one with a status word and never panic.
func FuzzProcess(f *testing.F) {
	f.Add([]byte{0x80, 0xCA, 0x7F, 0x52, 0x00})
	f.Add([]byte{0x90, 0xDA, 0x01, 0x00, 0x02, 0x70, 0x00})
	f.Add([]byte{0x80, 0x2A, 0x9E, 0xAC, 0x02, 0x85, 0x00, 0x00})
	ph, err := sim.New(sim.Options{Vendor: testVendor(f)})
	if err != nil {
		f.Fatal(err)
	}
	sel := append([]byte{0x00, 0xA4, 0x04, 0x00, byte(len(phone.AID))}, phone.AID...)
	f.Fuzz(func(t *testing.T, cmd []byte) {
		ph.Process(sel)
		if out := ph.Process(cmd); len(out) < 2 {
			t.Fatalf("answer of %d bytes", len(out))
		}
	})
}

// TestWriteSeedCorpus writes real phone answers as seed corpus files.
func TestWriteSeedCorpus(t *testing.T) {
	if os.Getenv("MADOGUCHI_WRITE_CORPUS") == "" {
		t.Skip("set MADOGUCHI_WRITE_CORPUS=1 to regenerate testdata/fuzz")
	}
	write := func(target, name string, arg []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(arg)))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := attestation(t)
	write("FuzzParseAttestation", "virtual-phone", a.Raw)
	notAfter := time.Date(2031, 3, 31, 14, 59, 59, 0, time.UTC)
	write("FuzzParseStatus", "empty", phone.EncodeStatus(nil))
	write("FuzzParseStatus", "two", phone.EncodeStatus([]phone.CredentialStatus{
		{ID: "jpki-auth-1", Type: phone.CredentialCertChain, KeyID: []byte("01234567"), State: phone.StateActive, NotAfter: notAfter},
		{ID: "mdoc-1", Type: phone.CredentialMdoc, KeyID: []byte("89abcdef"), State: phone.StateRevoked, NotAfter: notAfter},
	}))
	write("FuzzParseDeviceInfo", "virtual-phone", phone.EncodeDeviceInfo(phone.Device{ID: bytes.Repeat([]byte{0x42}, 16),
		Model: sim.DefaultModel, OS: sim.DefaultOS, SecureElement: sim.DefaultSecureElement, App: sim.DefaultApp, AppVersion: sim.DefaultAppVersion}))
	write("FuzzProcess", "put-chain", []byte{0x90, 0xDA, 0x02, 0x00, 0x03, 0x70, 0x81, 0x80})
	write("FuzzProcess", "generate", append([]byte{0x80, 0x46, 0x01, 0x00, 0x10}, bytes.Repeat([]byte{1}, 16)...))
}
