package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"madoguchi/drivers/card/cardtest"
)

// TestProcedureVerbsThroughPCSCD runs the counter verbs as a clerk would
// from a shell, on a blank card from the built-in central simulator's
// factory placed in a real (private) pcscd's vpcd reader: issue it (the
// three 4-digit PINs as one value), change its address, re-issue its
// certificates. PINs come on --pin-fd only.
func TestProcedureVerbsThroughPCSCD(t *testing.T) {
	bin := need(t)
	env := cardtest.StartPCSCD(t)
	data := t.TempDir()
	cfg := filepath.Join(data, "none.toml")
	os.WriteFile(cfg, []byte("language = \"en\"\n"), 0o600)
	pcscEnv := append(os.Environ(), "PCSCLITE_CSOCK_NAME="+env.Socket)

	sim := exec.Command(bin, "card-sim", "--factory", "blank", "--vpcd", env.VPCDAddr, "--data", data, "--config", cfg)
	sim.Env = pcscEnv
	simIn, _ := sim.StdinPipe()
	simOut, _ := sim.StdoutPipe()
	sim.Stderr = os.Stderr
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { simIn.Write([]byte("quit\n")); sim.Wait() })
	lines := bufio.NewScanner(simOut)
	for lines.Scan() && !strings.Contains(lines.Text(), "in vpcd at") {
	}
	go io.Copy(io.Discard, simOut)

	run := func(pins string, args ...string) (string, error) {
		t.Helper()
		args = append(args, "--reader", env.ReaderName, "--pin-fd", "3", "--data", data, "--config", cfg,
			"--documents", "driving-licence", "--face-matched", "--lang", "en")
		cmd := exec.Command(bin, args...)
		cmd.Env = pcscEnv
		r, w, _ := os.Pipe()
		cmd.ExtraFiles = []*os.File{r}
		w.Write([]byte(pins))
		w.Close()
		out, err := cmd.CombinedOutput()
		r.Close()
		return string(out), err
	}
	// The card may take a moment to show in the reader.
	out, err := run("5307\n5307\nPASSWORD7\nPASSWORD7\n", "issue", "--same-pin")
	for i := 0; i < 50 && err != nil && strings.Contains(out, "no card in the reader"); i++ {
		time.Sleep(100 * time.Millisecond)
		out, err = run("5307\n5307\nPASSWORD7\nPASSWORD7\n", "issue", "--same-pin")
	}
	if err != nil || !strings.Contains(out, "Card issued") || !strings.Contains(out, "signature certificate:") {
		t.Fatalf("issue: %v\n%s", err, out)
	}
	// The same card cannot be issued twice.
	if out, err := run("1111\n1111\nOTHER123\nOTHER123\n", "issue", "--same-pin"); err == nil || !strings.Contains(out, "already been issued") {
		t.Fatalf("second issue: %v\n%s", err, out)
	}
	if out, err := run("5307\nPASSWORD7\n", "change-details", "--address", "デモ県デモ市北二丁目４番５号"); err != nil || !strings.Contains(out, "Card details changed") {
		t.Fatalf("change-details: %v\n%s", err, out)
	}
	// Fresh certificates are not due: refused with the date, then
	// re-issued on request.
	if out, err := run("5307\nPASSWORD7\n", "renew-cert"); err == nil || !strings.Contains(out, "cannot be renewed yet") {
		t.Fatalf("renew-cert not due: %v\n%s", err, out)
	}
	if out, err := run("5307\nPASSWORD7\n", "renew-cert", "--reissue"); err != nil || !strings.Contains(out, "Certificates renewed") {
		t.Fatalf("renew-cert --reissue: %v\n%s", err, out)
	}
	// A wrong PIN says how many tries are left, and nothing is written.
	if out, err := run("0000\nPASSWORD7\n", "renew-cert", "--reissue"); err == nil || !strings.Contains(out, "2 more tries") {
		t.Fatalf("wrong PIN: %v\n%s", err, out)
	}
	for _, f := range []string{"madoguchi.db", filepath.Join("logs", "madoguchi.log")} {
		b, _ := os.ReadFile(filepath.Join(data, f))
		if strings.Contains(string(b), "PASSWORD7") {
			t.Errorf("%s holds the signature password", f)
		}
	}
}

// TestPhoneCLI: on the demo, a clerk stores the citizen's phone
// credentials (the built-in card, its signature password, the built-in
// phone), lists them and revokes one, through the binary.
func TestPhoneCLI(t *testing.T) {
	bin := need(t)
	data := t.TempDir()
	cfg := filepath.Join(data, "none.toml")
	os.WriteFile(cfg, []byte("language = \"en\"\n"), 0o600)
	run := cliRun(bin, data, cfg)
	// A wrong signature password: the tries left, nothing stored.
	if out, err := run("WRONGPASS1\n\n", "phone-store", "--pin-fd", "3", "--documents", "driving-licence", "--face-matched"); err == nil || !strings.Contains(out, "4 more tries") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
	out, err := run("MADOGUCHI1\n\n", "phone-store", "--pin-fd", "3", "--documents", "driving-licence", "--face-matched")
	if err != nil || !strings.Contains(out, "Credential stored on the phone") {
		t.Fatalf("phone-store: %v\n%s", err, out)
	}
	// One active phone per person: a second store needs --replace.
	if out, err := run("MADOGUCHI1\n\n", "phone-store", "--pin-fd", "3", "--documents", "driving-licence", "--face-matched"); err == nil {
		t.Fatalf("second phone without --replace: %s", out)
	}
	list, err := run("", "phone-list", "--serial", "DEMO000000000001")
	if err != nil || !strings.Contains(list, "good") || !strings.Contains(list, "Madoguchi Virtual SE") {
		t.Fatalf("phone-list: %v\n%s", err, list)
	}
	id := strings.Fields(strings.Split(list, "\n")[1])[0]
	if out, err := run("", "phone-revoke", "--id", id); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("phone-revoke: %v\n%s", err, out)
	}
	if list, _ := run("", "phone-list", "--serial", "DEMO000000000001"); !strings.Contains(list, "revoked") {
		t.Fatalf("after the revocation:\n%s", list)
	}
}
