package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"madoguchi/drivers/card/cardtest"
)

// TestCardSimAndRead runs the two CLI verbs as separate processes through a
// real (private) pcscd: card-sim puts the virtual card into the vpcd
// reader, card read reads it like any card in any reader.
func TestCardSimAndRead(t *testing.T) {
	bin := need(t)
	env := cardtest.StartPCSCD(t)
	data := t.TempDir()
	cfg := filepath.Join(data, "none.toml")
	pcscEnv := append(os.Environ(), "PCSCLITE_CSOCK_NAME="+env.Socket)

	sim := exec.Command(bin, "card-sim", "--profile", "current", "--vpcd", env.VPCDAddr, "--data", data, "--config", cfg)
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

	read := func(extra ...string) (map[string]any, string, error) {
		t.Helper()
		args := append([]string{"card", "read", "--reader", env.ReaderName, "--data", data, "--config", cfg, "--json"}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Env = pcscEnv
		pr, pw, _ := os.Pipe()
		cmd.ExtraFiles = []*os.File{pr} // fd 3
		var stderr strings.Builder
		cmd.Stderr = &stderr
		pw.Write([]byte("1234\n"))
		pw.Close()
		out, err := cmd.Output()
		pr.Close()
		var m map[string]any
		if err == nil {
			if jerr := json.Unmarshal(out, &m); jerr != nil {
				t.Fatalf("card read output: %v\n%s", jerr, out)
			}
		}
		return m, stderr.String(), err
	}
	// The card may take a moment to appear in the reader.
	var m map[string]any
	var errOut string
	var err error
	for i := 0; i < 100; i++ {
		if m, errOut, err = read("--pin-fd", "3"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("card read: %v\n%s", err, errOut)
	}
	if m["tokenLabel"] != "JPKIAPICCTOKEN2" || m["demo"] != false || m["reader"] != env.ReaderName {
		t.Fatalf("card read: %v", m)
	}
	bf, _ := m["basicFour"].(map[string]any)
	if bf == nil || bf["name"] != "窓口　花子" || m["individualNumber"] != "****-****-9018" {
		t.Fatalf("basic four / number: %v %v", bf, m["individualNumber"])
	}
	tries, _ := m["tries"].(map[string]any)
	if tries["auth"] != 3.0 || tries["sign"] != 5.0 || tries["input-assist"] != 3.0 || tries["resident"] != 3.0 {
		t.Fatalf("tries %v", tries)
	}
	// With --show-number the number is printed in full.
	if m, _, err = read("--pin-fd", "3", "--show-number"); err != nil || m["individualNumber"] != "123456789018" {
		t.Fatalf("--show-number: %v %v", m["individualNumber"], err)
	}
	// Pull the card: card read fails with a clear error, quickly.
	simIn.Write([]byte("remove\n"))
	time.Sleep(500 * time.Millisecond)
	if _, errOut, err = read("--no-pin"); err == nil || !strings.Contains(errOut, "card") {
		t.Fatalf("read without a card: %v %q", err, errOut)
	}
	simIn.Write([]byte("insert\n"))
	for i := 0; i < 100; i++ {
		if m, _, err = read("--no-pin"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || m["basicFour"] != nil {
		t.Fatalf("after reinsertion: %v %v", err, m)
	}

	// The status panel of a terminal configured with this reader follows
	// insertion and removal.
	readerCfg := filepath.Join(data, "reader.toml")
	os.WriteFile(readerCfg, []byte("[card]\nreader = \""+env.ReaderName+"\"\n"), 0o600)
	serve := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--config", readerCfg)
	serve.Env = pcscEnv
	serveOut, _ := serve.StdoutPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { serve.Process.Signal(os.Interrupt); serve.Wait() })
	line, _ := bufio.NewReader(serveOut).ReadString('\n')
	url := strings.Fields(line[strings.Index(line, "http://"):])[0]
	waitReader := func(want string) {
		t.Helper()
		var got map[string]any
		for i := 0; i < 150; i++ {
			res, err := http.Post(url+"api/Status", "application/json", strings.NewReader("[]"))
			if err == nil {
				var body struct{ Result map[string]any }
				json.NewDecoder(res.Body).Decode(&body)
				res.Body.Close()
				got, _ = body.Result["reader"].(map[string]any)
				if got["state"] == want {
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("reader state never %q: %v", want, got)
	}
	waitReader("ok")
	simIn.Write([]byte("remove\n"))
	waitReader("absent")
	simIn.Write([]byte("insert\n"))
	waitReader("ok")
}
