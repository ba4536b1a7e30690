package receipt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeysFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cfg", "receipt-keys.json")
	k, err := LoadKeys(p, "DEMO-01")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	n := "DEMO-01-20261122-0001"
	code, err := k.Code(n, Issuance)
	if err != nil || len(code) != 16 {
		t.Fatalf("Code = %q, %v", code, err)
	}
	// The same file gives the same key; another terminal name adds a key
	// and keeps this one.
	k2, err := LoadKeys(p, "DEMO-01")
	if err != nil {
		t.Fatal(err)
	}
	if c2, _ := k2.Code(n, Issuance); c2 != code {
		t.Error("reloaded key gives another code")
	}
	k3, err := LoadKeys(p, "DEMO-02")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok, err := k3.Verify(n, code); !ok || err != nil || p != Issuance {
		t.Errorf("DEMO-02 cannot verify DEMO-01's receipt on the same machine: %v %v", ok, err)
	}
	if _, err := k3.Code(n, Issuance); err == nil {
		t.Error("DEMO-02 signed DEMO-01's number")
	}

	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeys(p, "DEMO-01"); !errors.Is(err, ErrKeyFileMode) {
		t.Errorf("world-readable key file: %v", err)
	}
	os.WriteFile(p, []byte("{not json"), 0o600)
	if _, err := LoadKeys(p, "DEMO-01"); err == nil {
		t.Error("corrupt key file accepted")
	}
	if _, err := LoadKeys(filepath.Join(dir, "x.json"), " "); err == nil {
		t.Error("empty terminal accepted")
	}
}

func TestVerify(t *testing.T) {
	k, err := LoadKeys(filepath.Join(t.TempDir(), "k.json"), "DEMO-01")
	if err != nil {
		t.Fatal(err)
	}
	n := "DEMO-01-20261122-0001"
	code, _ := k.Code(n, PINReset)
	typed := strings.ToLower(GroupCode(code))
	for _, tc := range []struct {
		name, number, code string
		ok                 bool
		err                error
	}{
		{"exact", n, code, true, nil},
		{"grouped, lower case", n, typed, true, nil},
		{"other number", "DEMO-01-20261122-0002", code, false, nil},
		{"changed code", n, "A" + code[1:], code[0] == 'A', nil},
		{"unknown terminal", "OTHER-20261122-0001", code, false, ErrUnknownTerminal},
	} {
		p, ok, err := k.Verify(tc.number, tc.code)
		if ok != tc.ok || !errors.Is(err, tc.err) || (ok && p != PINReset) {
			t.Errorf("%s: Verify = %q, %v, %v", tc.name, p, ok, err)
		}
	}
	// The code covers the procedure: each procedure has its own.
	if c2, _ := k.Code(n, Issuance); c2 == code {
		t.Error("the same code for two procedures")
	}
	if _, err := k.Code(n, "teleport"); err == nil {
		t.Error("Code for an unknown procedure")
	}
	if NormalizeCode(" ab0d-1e8f ") != "ABODIEBF" {
		t.Errorf("NormalizeCode = %q", NormalizeCode(" ab0d-1e8f "))
	}
}

// TestKeyExchange: terminal B verifies terminal A's receipts after
// importing A's exported key; the seal key never leaves A.
func TestKeyExchange(t *testing.T) {
	dir := t.TempDir()
	a, _ := LoadKeys(filepath.Join(dir, "a.json"), "A")
	b, _ := LoadKeys(filepath.Join(dir, "b.json"), "B")
	n := "A-20261122-0001"
	code, _ := a.Code(n, Return)
	if _, _, err := b.Verify(n, code); !errors.Is(err, ErrUnknownTerminal) {
		t.Fatalf("before import: %v", err)
	}
	exp := filepath.Join(dir, "a.key")
	if err := a.Export(exp); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(exp); st.Mode().Perm() != 0o600 {
		t.Errorf("export mode %v", st.Mode().Perm())
	}
	data, _ := os.ReadFile(exp)
	af, _ := os.ReadFile(filepath.Join(dir, "a.json"))
	if strings.Contains(string(data), "seal") || len(strings.Fields(string(data))) != 2 || !strings.Contains(string(af), "seal") {
		t.Errorf("export holds more than the verification key: %q", data)
	}
	if err := a.Export(exp); err == nil {
		t.Error("Export overwrote a file")
	}
	if term, err := b.Import(exp); err != nil || term != "A" {
		t.Fatalf("Import = %q, %v", term, err)
	}
	if p, ok, err := b.Verify(n, code); !ok || err != nil || p != Return {
		t.Errorf("after import: %q, %v, %v", p, ok, err)
	}
	// The import survives a reload, and the same key imports again.
	b2, _ := LoadKeys(filepath.Join(dir, "b.json"), "B")
	if _, ok, _ := b2.Verify(n, code); !ok {
		t.Error("imported key lost on reload")
	}
	if _, err := b2.Import(exp); err != nil {
		t.Errorf("re-import: %v", err)
	}
	// Another key for a terminal already known is refused.
	other, _ := LoadKeys(filepath.Join(t.TempDir(), "o.json"), "A")
	exp2 := filepath.Join(dir, "a2.key")
	other.Export(exp2)
	if _, err := b2.Import(exp2); err == nil {
		t.Error("a second, different key for A was accepted")
	}
	os.WriteFile(filepath.Join(dir, "bad.key"), []byte("A notbase64"), 0o600)
	if _, err := b2.Import(filepath.Join(dir, "bad.key")); err == nil {
		t.Error("bad key file accepted")
	}
	if got := b2.Terminals(); strings.Join(got, ",") != "A,B" {
		t.Errorf("Terminals = %v", got)
	}
}
