package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"madoguchi/app/receipt"
	"madoguchi/printing/cupstest"
)

func TestReceiptSampleCLI(t *testing.T) {
	dir := t.TempDir()
	noConfig := filepath.Join(dir, "none.toml") // a fresh machine: no config file
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--procedure", "issuance", "--lang", "ja", "--out", filepath.Join(dir, "ja.pdf")}, 0, "wrote"},
		{[]string{"--procedure", "suspension", "--lang", "en", "--layout", "a4", "--copy", "--out", filepath.Join(dir, "en.pdf")}, 0, "a4"},
		{[]string{"--procedure", "teleport", "--out", filepath.Join(dir, "x.pdf")}, 2, "want one of issuance"},
		{[]string{"--lang", "tlh", "--out", filepath.Join(dir, "x.pdf")}, 2, "want one of ja"},
		{[]string{"--layout", "letter", "--out", filepath.Join(dir, "x.pdf")}, 2, "roll80 or a4"},
		{[]string{"--procedure", "issuance"}, 2, "needs --out"},
	} {
		args := append([]string{"receipt", "sample", "--config", noConfig}, tc.args...)
		code, out, errOut := runCLI(t, args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.msg) {
			t.Errorf("%v: exit %d, %q %q", tc.args, code, out, errOut)
		}
	}
	for _, f := range []string{"ja.pdf", "en.pdf"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !strings.HasPrefix(string(data), "%PDF") || len(data) > 100<<10 {
			t.Errorf("%s: %d bytes, %v", f, len(data), err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "receipt-keys.json")); err == nil {
		t.Error("sample created a key file")
	}
}

// receiptEnv is a data directory and a config file for the receipt CLI.
type receiptEnv struct {
	data, config string
}

func newReceiptEnv(t *testing.T, printer string) receiptEnv {
	t.Helper()
	dir := t.TempDir()
	e := receiptEnv{data: filepath.Join(dir, "data"), config: filepath.Join(dir, "cfg", "config.toml")}
	if err := os.MkdirAll(filepath.Dir(e.config), 0o700); err != nil {
		t.Fatal(err)
	}
	body := "language = \"en\"\nterminal = \"TEST-01\"\n" + printer
	if err := os.WriteFile(e.config, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (re receiptEnv) cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLI(t, append(args, "--data", re.data, "--config", re.config)...)
}

// issue stores receipts as a procedure's flow does.
func (re receiptEnv) issue(t *testing.T, n int) []receipt.Record {
	t.Helper()
	ctx := context.Background()
	e, err := setup(ctx, common{data: re.data, config: re.config}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	svc, err := receiptService(e, re.config)
	if err != nil {
		t.Fatal(err)
	}
	var out []receipt.Record
	for i := 0; i < n; i++ {
		r, err := svc.Issue(ctx, receipt.Data{Procedure: receipt.PINReset, Lang: "en", Details: receipt.Details{
			HolderName: "窓口　花子", PINs: []receipt.PIN{receipt.PINSignature}}})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func (re receiptEnv) list(t *testing.T, status string) []receipt.Record {
	t.Helper()
	code, out, errOut := re.cli(t, "receipt", "list", "--status", status, "--json")
	if code != 0 {
		t.Fatalf("receipt list: exit %d: %s", code, errOut)
	}
	var recs []receipt.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatalf("receipt list --json: %v\n%s", err, out)
	}
	return recs
}

func TestReceiptCLIWithoutPrinter(t *testing.T) {
	re := newReceiptEnv(t, "")
	recs := re.issue(t, 2)

	code, out, _ := re.cli(t, "receipt", "list")
	if code != 0 || !strings.Contains(out, recs[1].Number) || !strings.Contains(out, "not printed") || strings.Contains(out, "花子") {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	// No printer configured: the receipt stays stored, unprinted, and the
	// command says so.
	code, out, errOut := re.cli(t, "receipt", "reprint", "1")
	if code != 1 || !strings.Contains(out, "No printer is set up") {
		t.Errorf("reprint without a printer: exit %d %q %q", code, out, errOut)
	}
	if got := re.list(t, "unprinted"); len(got) != 2 || got[1].Attempts != 1 || got[1].LastProblem != receipt.ProblemNoPrinter {
		t.Errorf("unprinted = %+v", got)
	}
	pdf := filepath.Join(t.TempDir(), "r.pdf")
	if code, out, errOut := re.cli(t, "receipt", "pdf", recs[0].Number, "--out", pdf, "--layout", "a4"); code != 0 {
		t.Errorf("pdf: exit %d %q %q", code, out, errOut)
	}
	if st, err := os.Stat(pdf); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("pdf file: %v %v", st, err)
	}

	// Verification from the QR code's text, and from a typed number and code.
	for _, args := range [][]string{{recs[0].QRPayload()}, {recs[1].Number, strings.ToLower(receipt.GroupCode(recs[1].Code))}} {
		code, out, _ := re.cli(t, append([]string{"receipt", "verify"}, args...)...)
		if code != 0 || !strings.Contains(out, "Genuine receipt") || !strings.Contains(out, "procedure: pin_reset") {
			t.Errorf("verify %v: exit %d %q", args, code, out)
		}
	}
	if code, out, _ := re.cli(t, "receipt", "verify", recs[0].Number, "AAAABBBBCCCCDDDD"); code != 1 || !strings.Contains(out, "does not match") {
		t.Errorf("verify forged: exit %d %q", code, out)
	}
	if code, out, _ := re.cli(t, "receipt", "verify", "OTHER-20261122-0001", "AAAABBBBCCCCDDDD"); code != 1 || !strings.Contains(out, "no verification key for terminal OTHER") {
		t.Errorf("verify unknown terminal: exit %d %q", code, out)
	}

	// Another terminal verifies after importing this one's key.
	other := newReceiptEnv(t, "")
	keyFile := filepath.Join(t.TempDir(), "test-01.key")
	if code, _, errOut := re.cli(t, "receipt", "key", "export", "--out", keyFile); code != 0 {
		t.Fatalf("key export: %s", errOut)
	}
	otherCfg := strings.Replace(mustRead(t, other.config), "TEST-01", "TEST-02", 1)
	os.WriteFile(other.config, []byte(otherCfg), 0o600)
	if code, out, errOut := other.cli(t, "receipt", "key", "import", keyFile); code != 0 || !strings.Contains(out, "TEST-01") {
		t.Fatalf("key import: %q %q", out, errOut)
	}
	if code, out, _ := other.cli(t, "receipt", "verify", recs[0].QRPayload()); code != 0 || !strings.Contains(out, "Genuine") {
		t.Errorf("verify on another terminal: exit %d %q", code, out)
	}

	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"receipt"}, "needs list"},
		{[]string{"receipt", "reprint"}, "needs a receipt ID"},
		{[]string{"receipt", "pdf", "1"}, "needs --out"},
		{[]string{"receipt", "list", "--status", "lost"}, "printed or unprinted"},
		{[]string{"receipt", "verify"}, "QR code"},
		{[]string{"receipt", "fold"}, "want list"},
	} {
		if code, _, errOut := re.cli(t, tc.args...); code != 2 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d %q", tc.args, code, errOut)
		}
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReceiptCLIThroughCUPS: a receipt goes through a real cupsd to
// cups-pdf; with the queue disabled it stays stored and unprinted, and
// `receipt reprint` prints it once the queue is back.
func TestReceiptCLIThroughCUPS(t *testing.T) {
	srv := cupstest.Start(t)
	re := newReceiptEnv(t, fmt.Sprintf("[printer]\nqueue = %q\nuri = %q\n", cupstest.Receipt, srv.URI))
	recs := re.issue(t, 2)

	code, out, errOut := re.cli(t, "receipt", "reprint", "1", "--json")
	var o receipt.Outcome
	if code != 0 || json.Unmarshal([]byte(out), &o) != nil || !o.Printed || o.JobID == 0 {
		t.Fatalf("reprint 1: exit %d %q %q\n%s", code, out, errOut, srv.Log())
	}
	srv.WaitPDF(t, o.JobID, strings.ToLower(recs[0].Number[:7]), 20*time.Second)

	code, out, _ = re.cli(t, "receipt", "printer")
	if code != 0 || !strings.Contains(out, "Receipt: idle") {
		t.Errorf("printer: %q", out)
	}

	srv.Admin(t, "cupsdisable", cupstest.Receipt)
	code, out, _ = re.cli(t, "receipt", "reprint", recs[1].Number)
	if code != 1 || !strings.Contains(out, "The printer is stopped") {
		t.Errorf("reprint on a disabled queue: exit %d %q", code, out)
	}
	if got := re.list(t, "unprinted"); len(got) != 1 || got[0].Number != recs[1].Number || got[0].LastProblem != receipt.ProblemStopped {
		t.Errorf("unprinted = %+v", got)
	}
	code, out, _ = re.cli(t, "receipt", "printer")
	if code != 0 || !strings.Contains(out, "stopped") {
		t.Errorf("printer while disabled: %q", out)
	}

	srv.Admin(t, "cupsenable", cupstest.Receipt)
	code, out, errOut = re.cli(t, "receipt", "reprint", recs[1].Number, "--json")
	o = receipt.Outcome{}
	if code != 0 || json.Unmarshal([]byte(out), &o) != nil || !o.Printed {
		t.Fatalf("reprint after cupsenable: exit %d %q %q", code, out, errOut)
	}
	srv.WaitPDF(t, o.JobID, strings.ToLower(recs[1].Number[:7]), 20*time.Second)
	if got := re.list(t, "unprinted"); len(got) != 0 {
		t.Errorf("still unprinted: %+v", got)
	}
	printed := re.list(t, "printed")
	if len(printed) != 2 || printed[0].Attempts != 2 || printed[0].PrintedAt.IsZero() {
		t.Errorf("printed = %+v", printed)
	}
}
