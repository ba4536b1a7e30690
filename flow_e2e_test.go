package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPINResetCLI resets the demo card's user-authentication PIN through
// the built binary: the built-in virtual card bound to the built-in central
// simulator, the new PIN twice on --pin-fd, a receipt stored, a statistics
// job queued, and no PIN anywhere in the data directory.
func TestPINResetCLI(t *testing.T) {
	bin := need(t)
	data := t.TempDir()
	cfg := filepath.Join(data, "none.toml")
	reset := func(pins string) (string, error) {
		t.Helper()
		cmd := exec.Command(bin, "pin-reset", "--pin", "auth", "--data", data, "--config", cfg, "--pin-fd", "3", "--lang", "en", "--documents", "driving-licence", "--face-matched")
		r, w, _ := os.Pipe()
		cmd.ExtraFiles = []*os.File{r}
		w.Write([]byte(pins))
		w.Close()
		out, err := cmd.CombinedOutput()
		r.Close()
		return string(out), err
	}
	if out, err := reset("7391\n7392\n"); err == nil || !strings.Contains(out, "確認の入力が一致しません") {
		t.Fatalf("mismatched confirmation: %v\n%s", err, out)
	}
	if out, err := reset("73\n73\n"); err == nil {
		t.Fatalf("a 2-digit PIN was accepted:\n%s", out)
	}
	out, err := reset("7391\n7391\n")
	if err != nil || !strings.Contains(out, "初期化しました") {
		t.Fatalf("reset: %v\n%s", err, out)
	}
	var receipts []map[string]any
	list, _ := exec.Command(bin, "receipt", "list", "--json", "--data", data, "--config", cfg).Output()
	json.Unmarshal(list, &receipts)
	if len(receipts) != 1 || receipts[0]["procedure"] != "pin_reset" {
		t.Fatalf("receipts: %s", list)
	}
	var counts map[string]int
	status, _ := exec.Command(bin, "queue", "status", "--json", "--data", data, "--config", cfg).Output()
	json.Unmarshal(status, &counts)
	if counts["pending"]+counts["done"] != 1 {
		t.Fatalf("queue: %s", status)
	}
	// The new PIN is nowhere in the data directory (store, logs, receipts).
	filepath.WalkDir(data, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "7391") {
			t.Errorf("the new PIN appears in %s", p)
		}
		return nil
	})
}

// TestPUKUnlockCLI unlocks the next-generation demo card with its PUK.
func TestPUKUnlockCLI(t *testing.T) {
	bin := need(t)
	data := t.TempDir()
	cfg := filepath.Join(data, "next.toml")
	os.WriteFile(cfg, []byte("language = \"en\"\n[card]\nvirtual_profile = \"next\"\n"), 0o600)
	unlock := func(lines string) (string, error) {
		t.Helper()
		cmd := exec.Command(bin, "puk-unlock", "--data", data, "--config", cfg, "--pin-fd", "3")
		r, w, _ := os.Pipe()
		cmd.ExtraFiles = []*os.File{r}
		w.Write([]byte(lines))
		w.Close()
		out, err := cmd.CombinedOutput()
		r.Close()
		return string(out), err
	}
	if out, err := unlock("87654321\n2580\n2580\n"); err == nil || !strings.Contains(out, "Wrong PUK. You have 9 more tries") {
		t.Fatalf("wrong PUK: %v\n%s", err, out)
	}
	if out, err := unlock("12345678\n2580\n2580\n"); err != nil || !strings.Contains(out, "unlocked") {
		t.Fatalf("unlock: %v\n%s", err, out)
	}
}

// TestSuspendResumeCLI: after the demo card is in use (a PIN reset binds
// and issues it), it is suspended, sent first, and lifted.
func TestSuspendResumeCLI(t *testing.T) {
	bin := need(t)
	data := t.TempDir()
	cfg := filepath.Join(data, "none.toml")
	os.WriteFile(cfg, []byte("language = \"en\"\n"), 0o600)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "--data", data, "--config", cfg)...)
		if args[0] == "pin-reset" {
			r, w, _ := os.Pipe()
			cmd.ExtraFiles = []*os.File{r}
			w.Write([]byte("5827\n5827\n"))
			w.Close()
			defer r.Close()
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("pin-reset", "--pin", "auth", "--pin-fd", "3", "--documents", "driving-licence", "--face-matched"); err != nil {
		t.Fatalf("pin-reset: %v\n%s", err, out)
	}
	if out, err := run("suspend", "--serial", "DEMO000000000001", "--reason", "lost"); err != nil || !strings.Contains(out, "was sent to the central system") {
		t.Fatalf("suspend: %v\n%s", err, out)
	}
	if out, err := run("resume", "--serial", "DEMO000000000001"); err != nil || !strings.Contains(out, "lifted") {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if out, err := run("resume", "--serial", "DEMO000000000001"); err == nil || !strings.Contains(out, "not suspended") {
		t.Fatalf("second resume: %v\n%s", err, out)
	}
	if out, err := run("return", "--serial", "DEMO000000000001"); err != nil || !strings.Contains(out, "certificates are revoked") {
		t.Fatalf("return: %v\n%s", err, out)
	}
	// A returned card cannot be suspended: refused, a dead letter.
	if out, err := run("suspend", "--serial", "DEMO000000000001"); err == nil || !strings.Contains(out, "refused") {
		t.Fatalf("suspending a returned card: %v\n%s", err, out)
	}
}
