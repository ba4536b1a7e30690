package card_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"madoguchi/drivers/card"
)

// TestOpenSCSeesTheCard runs third-party software written for the real
// card — OpenSC's JPKI driver (card-jpki.c, pkcs15-jpki.c) — against the
// virtual card through pcscd, unchanged: it must recognise the card, list
// its certificates and read the authentication certificate.
func TestOpenSCSeesTheCard(t *testing.T) {
	tool, err := exec.LookPath("pkcs15-tool")
	if err != nil {
		if os.Getenv("MADOGUCHI_E2E") == "require" {
			t.Fatal("pkcs15-tool (Debian package opensc) is required")
		}
		t.Skip("pkcs15-tool (opensc) not installed")
	}
	r := newRig(t, card.Current, nil)
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tool, append([]string{"--reader", r.env.ReaderName}, args...)...)
		cmd.Env = append(os.Environ(), "PCSCLITE_CSOCK_NAME="+r.env.Socket, "OPENSC_CONF=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pkcs15-tool %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	list := run("--list-certificates")
	for _, want := range []string{"User Authentication Certificate", "User Authentication Certificate CA", "Digital Signature Certificate CA"} {
		if !strings.Contains(list, want) {
			t.Errorf("OpenSC does not list %q:\n%s", want, list)
		}
	}
	// Read the authentication certificate through OpenSC and compare it
	// with what the card holds.
	out := filepath.Join(t.TempDir(), "auth.pem")
	run("--read-certificate", "1", "--output", out)
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatalf("OpenSC wrote no certificate:\n%s", data)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	var jpki = r.engine.State().Apps[0]
	if string(cert.Raw) != string(jpki.Files[card.EFAuthCert]) {
		t.Fatal("OpenSC read a different authentication certificate")
	}
	t.Logf("OpenSC:\n%s", list)
}
