// Package cupstest starts a private CUPS server for tests: its own cupsd
// (-c/-s config files in a temporary directory, a free port on 127.0.0.1
// and a private socket), CUPS's default job policy, and three queues:
//
//   - Receipt: Debian's cups-pdf backend (printer-driver-cups-pdf), which
//     "prints" to a PDF file;
//   - Dead: a socket printer at a closed port — CUPS keeps retrying it
//     (ErrorPolicy retry-job) and the job sits "processing";
//   - NoPaper: a backend that reports media-empty-error and never prints.
//
// It needs cupsd and cups-pdf and runs as root (cups-pdf's backend runs as
// root). Without them the test is skipped with a clear message, or fails
// when MADOGUCHI_E2E=require (as `make test` and CI set it).
package cupstest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Queue names.
const (
	Receipt = "Receipt"
	Dead    = "Dead"
	NoPaper = "NoPaper"
)

// Server is a running private cupsd.
type Server struct {
	// URI is its IPP endpoint over HTTP, e.g. http://127.0.0.1:40631.
	URI string
	// Socket is its domain socket (for lpstat/cupsenable -h).
	Socket string
	Dir    string
	// User is the job owner cups-pdf files its output under.
	User string
}

const ppd = "/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd"

// Need skips t, or fails it under MADOGUCHI_E2E=require, with why.
func Need(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("MADOGUCHI_E2E") == "require" {
		t.Fatalf("MADOGUCHI_E2E=require but %s", why)
	}
	t.Skipf("skipped: %s (install with build/deps.sh test)", why)
}

// Start starts a private cupsd for the test and stops it at cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	cupsd, err := exec.LookPath("cupsd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/cupsd", "/sbin/cupsd"} {
			if _, e := os.Stat(p); e == nil {
				cupsd, err = p, nil
			}
		}
	}
	if err != nil {
		Need(t, "cupsd is not installed (Debian package cups)")
	}
	if _, err := os.Stat(ppd); err != nil {
		Need(t, "cups-pdf is not installed (Debian package printer-driver-cups-pdf)")
	}
	if _, err := os.Stat("/usr/lib/cups/backend/cups-pdf"); err != nil {
		Need(t, "the cups-pdf backend is missing (Debian package printer-driver-cups-pdf)")
	}
	if os.Geteuid() != 0 {
		Need(t, "a private cupsd with the cups-pdf backend needs root")
	}
	// cupsd checks its directories' owners and modes: keep the tree in a
	// fresh root-owned directory outside t.TempDir's shared parent.
	dir, err := os.MkdirTemp("", "madoguchi-cups-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"etc/ppd", "spool/tmp", "cache", "state", "log", "serverbin/backend"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Filters run as lp: they must reach ServerBin and the spool.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// ServerBin: CUPS's own programs, plus the out-of-paper backend.
	bins, _ := filepath.Glob("/usr/lib/cups/*")
	for _, b := range bins {
		if filepath.Base(b) == "backend" {
			continue
		}
		must(t, os.Symlink(b, filepath.Join(dir, "serverbin", filepath.Base(b))))
	}
	backends, _ := filepath.Glob("/usr/lib/cups/backend/*")
	for _, b := range backends {
		must(t, os.Symlink(b, filepath.Join(dir, "serverbin/backend", filepath.Base(b))))
	}
	must(t, os.WriteFile(filepath.Join(dir, "serverbin/backend/nopaper"), []byte(noPaperBackend), 0o755))

	port := freePort(t)
	closed := freePort(t) // nothing listens there: the Dead printer
	sock := filepath.Join(dir, "cups.sock")
	must(t, os.WriteFile(filepath.Join(dir, "etc/cupsd.conf"), []byte(fmt.Sprintf(cupsdConf, port, sock)), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "etc/cups-files.conf"), []byte(strings.ReplaceAll(filesConf, "DIR", dir)), 0o644))
	printers := printer(Receipt, "cups-pdf:/") + printer(Dead, fmt.Sprintf("socket://127.0.0.1:%d", closed)) +
		printer(NoPaper, "nopaper:/")
	must(t, os.WriteFile(filepath.Join(dir, "etc/printers.conf"), []byte(printers), 0o600))
	src, err := os.ReadFile(ppd)
	must(t, err)
	for _, q := range []string{Receipt, Dead, NoPaper} {
		must(t, os.WriteFile(filepath.Join(dir, "etc/ppd", q+".ppd"), src, 0o644))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, cupsd, "-f", "-c", filepath.Join(dir, "etc/cupsd.conf"),
		"-s", filepath.Join(dir, "etc/cups-files.conf"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start cupsd: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	s := &Server{URI: fmt.Sprintf("http://127.0.0.1:%d", port), Socket: sock, Dir: dir, User: "root"}
	if u, err := user.Current(); err == nil {
		s.User = u.Username
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log/error_log"))
			t.Fatalf("cupsd did not listen within 10 s: %v\n%s\n%s", err, out.String(), log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func printer(name, uri string) string {
	return fmt.Sprintf(`<Printer %s>
Info %s (Madoguchi test)
DeviceURI %s
State Idle
StateTime 0
Accepting Yes
Shared No
JobSheets none none
ErrorPolicy retry-job
OpPolicy default
</Printer>
`, name, name, uri)
}

// Admin runs a CUPS command-line tool (cupsdisable, cupsenable, lpstat …)
// against the private server, as root over its socket.
func (s *Server) Admin(t testing.TB, tool string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool, append([]string{"-h", s.Socket}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	return string(out)
}

// OutputDirs are where cups-pdf writes a job of the server's user: Debian's
// /etc/cups/cups-pdf.conf says ${HOME}/PDF; its built-in default is
// /var/spool/cups-pdf/${USER}; anonymous jobs go to ANONYMOUS.
func (s *Server) OutputDirs() []string {
	var dirs []string
	if u, err := user.Lookup(s.User); err == nil {
		dirs = append(dirs, filepath.Join(u.HomeDir, "PDF"))
	}
	return append(dirs, filepath.Join("/var/spool/cups-pdf", s.User), "/var/spool/cups-pdf/ANONYMOUS")
}

// WaitPDF waits for cups-pdf's output of job id, whose job name contains
// token (cups-pdf mangles names but keeps a lower-case alphanumeric run),
// and returns its path. The file is removed at cleanup.
func (s *Server) WaitPDF(t testing.TB, id int, token string, timeout time.Duration) string {
	t.Helper()
	suffix := fmt.Sprintf("-job_%d.pdf", id)
	deadline := time.Now().Add(timeout)
	for {
		for _, d := range s.OutputDirs() {
			names, _ := filepath.Glob(filepath.Join(d, "*"+suffix))
			for _, n := range names {
				if !strings.Contains(strings.ToLower(filepath.Base(n)), strings.ToLower(token)) {
					continue
				}
				// cups-pdf writes through Ghostscript: wait for the end.
				if data, err := os.ReadFile(n); err == nil && bytes.Contains(data, []byte("%%EOF")) {
					t.Cleanup(func() { os.Remove(n) })
					return n
				}
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.Dir, "log/error_log"))
			t.Fatalf("no cups-pdf output for job %d (%s) in %v within %v\n%s", id, token, s.OutputDirs(), timeout, tail(log, 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log returns the end of cupsd's error log, for a failing test's message.
func (s *Server) Log() string {
	log, _ := os.ReadFile(filepath.Join(s.Dir, "log/error_log"))
	return string(tail(log, 4000))
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// noPaperBackend is a CUPS backend for a printer out of paper: it reports
// media-empty-error and never finishes.
const noPaperBackend = `#!/bin/sh
if [ $# -eq 0 ]; then echo 'direct nopaper "Madoguchi" "Out of paper (test)"'; exit 0; fi
cat > /dev/null
echo "STATE: +media-empty-error" >&2
echo "WARNING: Out of paper" >&2
exec sleep 600
`

// cupsdConf is CUPS's default policy (as Debian ships it) on a private
// port and socket: anyone may submit, only a job's owner or root may
// cancel it, only root administers.
const cupsdConf = `LogLevel info
Listen 127.0.0.1:%d
Listen %s
WebInterface No
Browsing No
DefaultAuthType Basic
JobRetryInterval 5
<Location />
  Order allow,deny
  Allow localhost
</Location>
<Policy default>
  JobPrivateAccess default
  JobPrivateValues default
  SubscriptionPrivateAccess default
  SubscriptionPrivateValues default
  <Limit Create-Job Print-Job Print-URI Validate-Job>
    Order deny,allow
  </Limit>
  <Limit Send-Document Send-URI Hold-Job Release-Job Restart-Job Purge-Jobs Set-Job-Attributes Create-Job-Subscription Renew-Subscription Cancel-Subscription Get-Notifications Reprocess-Job Cancel-Current-Job Suspend-Current-Job Resume-Job Cancel-My-Jobs Close-Job CUPS-Move-Job>
    Require user @OWNER @SYSTEM
    Order deny,allow
  </Limit>
  <Limit Pause-Printer Resume-Printer Enable-Printer Disable-Printer Pause-Printer-After-Current-Job Hold-New-Jobs Release-Held-New-Jobs Deactivate-Printer Activate-Printer Restart-Printer Shutdown-Printer Startup-Printer Promote-Job Schedule-Job-After Cancel-Jobs CUPS-Accept-Jobs CUPS-Reject-Jobs CUPS-Add-Modify-Printer CUPS-Delete-Printer CUPS-Add-Modify-Class CUPS-Delete-Class CUPS-Set-Default CUPS-Get-Devices>
    AuthType Default
    Require user @SYSTEM
    Order deny,allow
  </Limit>
  <Limit Cancel-Job CUPS-Authenticate-Job>
    Require user @OWNER @SYSTEM
    Order deny,allow
  </Limit>
  <Limit All>
    Order deny,allow
  </Limit>
</Policy>
`

const filesConf = `ServerRoot DIR/etc
RequestRoot DIR/spool
TempDir DIR/spool/tmp
CacheDir DIR/cache
StateDir DIR/state
ServerBin DIR/serverbin
DataDir /usr/share/cups
AccessLog DIR/log/access_log
ErrorLog DIR/log/error_log
PageLog DIR/log/page_log
`
