package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"serve", "--help"}} {
		code, out, _ := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		for _, cmd := range []string{"madoguchi serve", "madoguchi config", "madoguchi version", "madoguchi help", "--data DIR"} {
			if !strings.Contains(out, cmd) {
				t.Errorf("%v: help lacks %q", args, cmd)
			}
		}
	}
}

func TestCLIErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"serve", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"serve", "--mode", "admin", "--data", "DATA"}, 2, "--mode"},
		{[]string{"serve", "--addr", "0.0.0.0:0", "--data", "DATA", "--config", "NONE"}, 2, "requires --tls-cert"},
		{[]string{"serve", "--addr", "nonsense", "--data", "DATA", "--config", "NONE"}, 2, "--addr"},
		{[]string{"config"}, 2, "init, path or show"},
		{[]string{"config", "explode"}, 2, "want init"},
		{[]string{"window", "extra-arg"}, 2, "unexpected argument"},
	} {
		dir := t.TempDir()
		for i, a := range tc.args {
			tc.args[i] = strings.NewReplacer("DATA", dir, "NONE", filepath.Join(dir, "none.toml")).Replace(a)
		}
		code, _, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d %q; want %d containing %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}

func TestVersion(t *testing.T) {
	if code, out, _ := runCLI(t, "version"); code != 0 || out != "madoguchi "+version+"\n" {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestConfigCommands(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cfg", "config.toml")
	if code, out, _ := runCLI(t, "config", "path", "--config", p); code != 0 || strings.TrimSpace(out) != p {
		t.Fatalf("path: %d %q", code, out)
	}
	if code, _, e := runCLI(t, "config", "init", "--config", p); code != 0 {
		t.Fatalf("init: %d %s", code, e)
	}
	if code, _, _ := runCLI(t, "config", "init", "--config", p); code != 1 {
		t.Fatalf("second init overwrote the file (exit %d)", code)
	}
	code, out, _ := runCLI(t, "config", "show", "--config", p, "--data", "/srv/m")
	if code != 0 || !strings.Contains(out, `terminal = "DEMO-01"`) || !strings.Contains(out, "/srv/m") {
		t.Fatalf("show: %d %q", code, out)
	}
	os.WriteFile(p, []byte("typo = 1\n"), 0o600)
	if code, _, e := runCLI(t, "config", "show", "--config", p); code != 1 || !strings.Contains(e, "unknown settings: typo") {
		t.Fatalf("show with a typo: %d %q", code, e)
	}
}

func TestWindowNeedsADisplay(t *testing.T) {
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	if code, _, e := runCLI(t, "--data", t.TempDir()); code != 1 || !strings.Contains(e, "no display") {
		t.Fatalf("exit %d %q", code, e)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "madoguchi test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}

// TestServeBeyondLoopback runs serve on all interfaces: TLS and the access
// code are enforced, and a login opens the API.
func TestServeBeyondLoopback(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	codeFile := filepath.Join(dir, "access-code")
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, []byte("[serve]\naccess_code_file = \""+codeFile+"\"\n"), 0o600)

	// A world-readable access code is refused.
	os.WriteFile(codeFile, []byte("ABCDEFGHIJKLMNOP\n"), 0o644)
	if code, _, e := runCLI(t, "serve", "--addr", "0.0.0.0:0", "--tls-cert", certFile, "--tls-key", keyFile, "--data", dir, "--config", cfg); code != 1 || !strings.Contains(e, "readable by others") {
		t.Fatalf("0644 access code: exit %d %q", code, e)
	}
	os.Remove(codeFile) // serve creates a fresh random one

	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "0.0.0.0:0", "--tls-cert", certFile, "--tls-key", keyFile, "--data", dir, "--config", cfg}, pw, io.Discard)
		pw.Close()
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exit %d", code)
		}
	}()
	sc := bufio.NewScanner(pr)
	var url string
	for sc.Scan() {
		if i := strings.Index(sc.Text(), "https://"); i >= 0 {
			url = strings.Fields(sc.Text()[i:])[0]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		t.Fatal("serve printed no https URL")
	}
	url = strings.Replace(url, "0.0.0.0", "127.0.0.1", 1)
	url = strings.Replace(url, "[::]", "127.0.0.1", 1)
	st, err := os.Stat(codeFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("access code file: %v %v", st, err)
	}
	code, _ := os.ReadFile(codeFile)

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	call := func(path, body string) int {
		req, _ := http.NewRequest("POST", url+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if s := call("api/Status", "[]"); s != 401 {
		t.Fatalf("Status before login: %d", s)
	}
	if s := call("login", `{"code":"wrong-code-123"}`); s != 401 {
		t.Fatalf("wrong code: %d", s)
	}
	if s := call("login", `{"code":"`+strings.TrimSpace(string(code))+`"}`); s != 200 {
		t.Fatalf("login: %d", s)
	}
	if s := call("api/Status", "[]"); s != 200 {
		t.Fatalf("Status after login: %d", s)
	}
}
