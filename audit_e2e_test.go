package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"madoguchi/app/store"
)

// TestAuditVerifyCLI: a PIN reset through the binary leaves its steps in
// the audit trail; `madoguchi audit verify` finds it intact, then finds an
// edited row and names it.
func TestAuditVerifyCLI(t *testing.T) {
	bin := need(t)
	data := t.TempDir()
	cfg := filepath.Join(data, "none.toml")
	os.WriteFile(cfg, []byte("language = \"en\"\n"), 0o600)
	run := cliRun(bin, data, cfg)
	if out, err := run("5827\n5827\n", "pin-reset", "--pin", "auth", "--pin-fd", "3", "--documents", "driving-licence", "--face-matched"); err != nil {
		t.Fatalf("pin-reset: %v\n%s", err, out)
	}
	out, err := run("", "audit", "verify")
	if err != nil || !strings.Contains(out, "intact") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	if out, err := run("", "audit", "export"); err != nil || !strings.Contains(out, "procedure.step") || strings.Contains(out, "5827") {
		t.Fatalf("export: %v\n%s", err, out)
	}
	st, err := store.Open(context.Background(), filepath.Join(data, "madoguchi.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_events_no_update`, `UPDATE audit_events SET actor = 'someone else' WHERE seq = 3`} {
		if _, err := st.DB.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out, err = run("", "audit", "verify")
	if err == nil || !strings.Contains(out, "BROKEN at event 3: edited") {
		t.Fatalf("verify after an edit: %v\n%s", err, out)
	}
}

// TestStaffCLI adds an account (password on a descriptor, twice) and
// lists it; a short password is refused.
func TestStaffCLI(t *testing.T) {
	bin := need(t)
	data := t.TempDir()
	cfg := filepath.Join(data, "none.toml")
	run := cliRun(bin, data, cfg)
	if out, err := run("short\nshort\n", "staff", "add", "--login", "sato", "--role", "supervisor", "--password-fd", "3"); err == nil {
		t.Fatalf("a short password was accepted: %s", out)
	}
	if out, err := run("long-enough-1\nlong-enough-1\n", "staff", "add", "--login", "sato", "--name", "佐藤", "--role", "supervisor", "--password-fd", "3"); err != nil {
		t.Fatalf("staff add: %v\n%s", err, out)
	}
	out, err := run("", "staff", "list")
	if err != nil || !strings.Contains(out, "sato") || !strings.Contains(out, "supervisor") || strings.Contains(out, "long-enough-1") {
		t.Fatalf("staff list: %v\n%s", err, out)
	}
}
