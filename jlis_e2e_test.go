package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestJLISSimCLI initialises and runs the central simulator with the
// built binary, as a person would, and calls it over mutual TLS.
func TestJLISSimCLI(t *testing.T) {
	bin := need(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "jlis-sim", "init", "--data", dir, "--json").Output()
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	var paths struct {
		RootCA       string   `json:"rootCA"`
		TerminalCert string   `json:"terminalCert"`
		TerminalKey  string   `json:"terminalKey"`
		DemoCards    []string `json:"demoCards"`
	}
	if err := json.Unmarshal(out, &paths); err != nil || len(paths.DemoCards) == 0 {
		t.Fatalf("init output: %v\n%s", err, out)
	}
	for _, p := range []string{paths.RootCA, paths.TerminalCert, paths.TerminalKey} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("init listed %s: %v", p, err)
		}
	}
	if st, _ := os.Stat(paths.TerminalKey); st.Mode().Perm() != 0o600 {
		t.Fatalf("terminal key mode %v", st.Mode().Perm())
	}
	// A second init changes nothing.
	again, _ := exec.Command(bin, "jlis-sim", "init", "--data", dir, "--json").Output()
	if !strings.Contains(string(again), `"alreadyExisted": true`) {
		t.Fatalf("second init: %s", again)
	}
	run := exec.Command(bin, "jlis-sim", "run", "--data", dir, "--addr", "127.0.0.1:0")
	stdout, _ := run.StdoutPipe()
	run.Stderr = os.Stderr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run.Process.Signal(syscall.SIGTERM); run.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "https://") {
		t.Fatalf("run said %q, %v", line, err)
	}
	base := strings.Fields(line[strings.Index(line, "https://"):])[0]
	roots := x509.NewCertPool()
	pemData, _ := os.ReadFile(paths.RootCA)
	roots.AppendCertsFromPEM(pemData)
	pair, err := tls.LoadX509KeyPair(paths.TerminalCert, paths.TerminalKey)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}}}
	res, err := hc.Get(base + "/v1/cards/" + paths.DemoCards[0])
	if err != nil {
		t.Fatal(err)
	}
	var card struct{ State string }
	json.NewDecoder(res.Body).Decode(&card)
	res.Body.Close()
	if res.StatusCode != 200 || card.State != "delivered" {
		t.Fatalf("demo card: %d %+v", res.StatusCode, card)
	}
}
