package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"madoguchi/app/secret"
)

// TestSecretsNeverReachTheLogFile logs secrets through every path a
// developer might take and checks the file on disk.
func TestSecretsNeverReachTheLogFile(t *testing.T) {
	dir := t.TempDir()
	log, closer, err := New(Options{Dir: dir, Level: slog.LevelDebug})
	if err != nil {
		t.Fatal(err)
	}
	pin := secret.NewPIN("4711")
	puk := secret.NewPUK("86420975")
	pw := secret.NewPassword("SIGN9PASS")
	num := secret.NewIndividualNumber("123456789018")
	type req struct {
		Card string
		PIN  secret.Value
		pin  secret.Value
	}
	log.Info("verify", "pin", pin, "value", puk, slog.Any("pw", pw))
	log.Info(fmt.Sprintf("read number %v and %s", num, pw))
	log.Info("struct", "req", req{Card: "c1", PIN: pin, pin: pin}, "ptr", &req{pin: puk})
	log.Error("failed", "err", fmt.Errorf("verify %v: %w", pin, errors.New("63C2")))
	log.With("pin", "4711").Info("with attrs")
	log.WithGroup("g").Info("grouped", slog.Group("inner", "password", "SIGN9PASS", "n", num))
	// Plain strings by mistake: the handler's second line of defence.
	log.Info("raw number 123456789018 here", "note", "1234-5678-9018", "err", errors.New("number 123456789018"))
	log.Info("raw secret keys", "user_pin", "4711", "PUK", "86420975", "individual_number", "123456789018")
	closer.Close()

	data, err := os.ReadFile(filepath.Join(dir, "madoguchi.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"4711", "86420975", "SIGN9PASS", "123456789018", "1234-5678-9018"} {
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("log file contains %q:\n%s", s, data)
		}
	}
	if got := bytes.Count(data, []byte(secret.Redacted)); got < 10 {
		t.Errorf("only %d redaction markers; the records were lost rather than redacted:\n%s", got, data)
	}
	if !bytes.Contains(data, []byte(`"Card":"c1"`)) && !bytes.Contains(data, []byte("c1")) {
		t.Errorf("non-secret field lost:\n%s", data)
	}
	if st, _ := os.Stat(filepath.Join(dir, "madoguchi.log")); st.Mode().Perm() != 0o600 {
		t.Errorf("log file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestScrubKeepsOrdinaryDigits(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"job 42 took 1200 ms", "job 42 took 1200 ms"},
		{"serial 1234567890123", "serial 1234567890123"}, // 13 digits: not an individual number
		{"n=123456789018.", "n=" + secret.Redacted + "."},
		{"1234 5678 9018", secret.Redacted},
	} {
		if got := scrubString(tc.in); got != tc.want {
			t.Errorf("scrubString(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.log")
	r, err := OpenRotating(p, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("a", 39) + "\n" // 40 bytes
	for i := 0; i < 10; i++ {
		if _, err := r.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	for _, name := range []string{"x.log", "x.log.1", "x.log.2"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if st.Size() > 100 {
			t.Errorf("%s is %d bytes, over the limit", name, st.Size())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.log.3")); !os.IsNotExist(err) {
		t.Errorf("kept more backups than asked: %v", err)
	}
}
