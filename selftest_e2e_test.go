package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	cardsim "madoguchi/drivers/card/sim"
)

// TestSelftest runs `madoguchi selftest --json` as the municipality's IT
// staff would: every counter procedure once, through a pcscd the self-test
// starts and the built-in central simulator over mutual TLS. Every
// procedure must be ok with one card placement; then no PIN and no
// individual number may be found in any file of the data directory, its
// logs, or the text of any receipt rendered as a PDF.
func TestSelftest(t *testing.T) {
	bin := need(t, "pdftotext")
	data := t.TempDir()
	cmd := exec.Command(bin, "selftest", "--json", "--data", data)
	// Not this test process's private pcscd (another test's, maybe gone).
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PCSCLITE_CSOCK_NAME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var rep acceptanceReport
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		t.Fatalf("selftest: %v %v\n%s\n%s", err, jerr, out, stderr.String())
	}
	if err != nil || !rep.OK {
		t.Errorf("selftest failed: %v\n%s", err, out)
	}
	if !strings.HasPrefix(rep.CardPath, "pcscd") {
		t.Errorf("the virtual card was not reached through pcscd: %q %v", rep.CardPath, rep.Notes)
	}
	seen := map[string]map[string]bool{}
	for _, p := range rep.Procedures {
		if !p.OK {
			t.Errorf("%s (%s): %s", p.Name, p.Generation, p.Error)
		}
		if p.Placements > 1 {
			t.Errorf("%s (%s): %d card placements", p.Name, p.Generation, p.Placements)
		}
		if strings.HasPrefix(p.Name, "phone_") && p.Placements == 1 && p.PhoneTaps != 1 {
			t.Errorf("%s: %d phone taps, want 1", p.Name, p.PhoneTaps)
		}
		if p.Placements == 1 && p.APDUs == 0 {
			t.Errorf("%s (%s): no APDU counted", p.Name, p.Generation)
		}
		if seen[p.Name] == nil {
			seen[p.Name] = map[string]bool{}
		}
		seen[p.Name][p.Generation] = true
	}
	// Every screen language has a font on this machine (build/deps.sh).
	if len(rep.Fonts) < 13 {
		t.Errorf("fonts checked for %d languages, want 13: %v", len(rep.Fonts), rep.Notes)
	}
	for _, f := range rep.Fonts {
		if !f.OK {
			t.Errorf("no font for %s", f.Lang)
		}
	}
	for _, name := range []string{"issuance", "cert_renewal", "card_renewal", "change_of_details", "pin_reset"} {
		if !seen[name]["current"] || !seen[name]["next"] {
			t.Errorf("%s not run in both generations: %v", name, seen[name])
		}
	}
	for _, name := range []string{"puk_unlock", "suspension", "suspension_lift", "return", "status_check", "reserved_reset",
		"phone_store", "phone_change", "phone_unapproved", "phone_revoke", "phone_notices"} {
		if len(seen[name]) == 0 {
			t.Errorf("%s not run", name)
		}
	}

	// Our own scan, independent of the self-test's.
	secrets := []string{stSign, stSignNext, stSignNew, stPUK, cardsim.DemoHolder.IndividualNumber}
	short := regexp.MustCompile(`(^|[^0-9])(` + stPIN4 + `|` + stNewPIN + `)($|[^0-9])`)
	files := 0
	filepath.Walk(data, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(path)
		files++
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret (%d characters)", path, len(s))
			}
		}
		if strings.HasSuffix(path, ".log") || strings.HasSuffix(path, ".json") {
			// Log lines and JSON: a 4-digit PIN as a value of its own.
			for _, line := range strings.Split(string(b), "\n") {
				for _, field := range regexp.MustCompile(`"[^"]*"|=\S+`).FindAllString(line, -1) {
					v := strings.Trim(strings.TrimPrefix(field, "="), `"`)
					if v == stPIN4 || v == stNewPIN {
						t.Errorf("%s: a 4-digit PIN as a value: %s", path, line)
					}
				}
			}
		}
		return nil
	})
	if files < 5 {
		t.Errorf("only %d files scanned", files)
	}

	// Every receipt, rendered as a PDF: its text shows the expiry dates
	// and never a PIN or the individual number.
	cfg := filepath.Join(data, "selftest.toml")
	list, err := exec.Command(bin, "receipt", "list", "--json", "--data", data, "--config", cfg).Output()
	if err != nil {
		t.Fatalf("receipt list: %v", err)
	}
	var receipts []struct {
		Number    string `json:"number"`
		Procedure string `json:"procedure"`
	}
	withReceipt := 0
	for _, p := range rep.Procedures {
		if p.Receipt != "" {
			withReceipt++
		}
	}
	if err := json.Unmarshal(list, &receipts); err != nil || len(receipts) < withReceipt || withReceipt < len(rep.Procedures)-3 {
		t.Fatalf("receipts: %d stored, %d reported, for %d procedures (%v)", len(receipts), withReceipt, len(rep.Procedures), err)
	}
	for _, r := range receipts {
		pdf := filepath.Join(t.TempDir(), r.Number+".pdf")
		if out, err := exec.Command(bin, "receipt", "pdf", r.Number, "--out", pdf, "--data", data, "--config", cfg).CombinedOutput(); err != nil {
			t.Fatalf("receipt pdf %s: %v\n%s", r.Number, err, out)
		}
		text, err := exec.Command("pdftotext", "-enc", "UTF-8", pdf, "-").Output()
		if err != nil {
			t.Fatal(err)
		}
		s := string(text)
		for _, sec := range secrets {
			if strings.Contains(strings.ReplaceAll(s, " ", ""), sec) {
				t.Errorf("receipt %s shows a secret", r.Number)
			}
		}
		if short.MatchString(s) {
			t.Errorf("receipt %s shows a 4-digit PIN:\n%s", r.Number, s)
		}
		switch r.Procedure {
		case "issuance", "cert_renewal", "card_renewal":
			if !strings.Contains(s, "有効期限") {
				t.Errorf("receipt %s (%s) shows no expiry:\n%s", r.Number, r.Procedure, s)
			}
		}
	}
}

// BenchmarkProcedures runs the self-test (every counter procedure through
// a private pcscd and the built-in central simulator) and reports each
// procedure's software time, placements, PIN entries and APDUs.
func BenchmarkProcedures(b *testing.B) {
	ms := map[string][]float64{}
	var last *acceptanceReport
	for b.Loop() {
		rep, err := runSelftest(b.Context(), "", false, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK {
			b.Fatalf("selftest failed: %+v", rep)
		}
		for _, p := range rep.Procedures {
			k := p.Name + "/" + p.Generation
			ms[k] = append(ms[k], p.Ms)
		}
		last = rep
	}
	for _, p := range last.Procedures {
		k := p.Name + "/" + p.Generation
		v := append([]float64(nil), ms[k]...)
		sort.Float64s(v)
		gen := p.Generation
		if gen == "—" {
			gen = "none"
		}
		b.Logf("%-18s %-8s median %6.1f ms  max %6.1f ms  placements %d  PIN entries %d  APDUs %d",
			p.Name, gen, v[len(v)/2], v[len(v)-1], p.Placements, p.PINEntries, p.APDUs)
		if p.Name == "issuance" {
			b.ReportMetric(v[len(v)/2], "issuance-"+gen+"-ms")
		}
	}
}
