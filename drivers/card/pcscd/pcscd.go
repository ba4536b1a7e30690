// Package pcscd starts a private pcscd with a vsmartcard-vpcd reader, so
// that tests of the PC/SC stack and `madoguchi selftest` never touch (or
// depend on) the machine's own pcscd. Package cardtest wraps it for tests.
//
// # How the daemon is made private
//
// pcsc-lite 1.9.9 (Debian 12) reads PCSCLITE_CSOCK_NAME only in the
// client library: libpcsclite connects to $PCSCLITE_CSOCK_NAME (default
// /run/pcscd/pcscd.comm), but pcscd ignores the variable and always binds
// /run/pcscd/pcscd.comm, refusing to start while another pcscd owns it.
// pcscd does, however, accept its listening socket from systemd-style
// socket activation (LISTEN_FDS=1, LISTEN_PID, socket on fd 3) when built
// with libsystemd, as Debian's is; it then skips the "another pcscd is
// running" check and never touches pcscd.comm. Start therefore binds
// a Unix socket in a private directory itself, hands it to pcscd as fd 3
// (through /bin/sh so that LISTEN_PID can be the daemon's own pid), and
// points this process's libpcsclite at it with PCSCLITE_CSOCK_NAME. The
// reader comes from a private reader.conf.d directory (pcscd -c) with a
// vpcd entry on free TCP ports.
//
// # Limits
//
//   - libpcsclite reads PCSCLITE_CSOCK_NAME once per process, on its first
//     call, and caches it. Start sets the variable (os.Setenv, not
//     t.Setenv, which would be pointless and forbids parallel tests)
//     before its own first PC/SC call, so call it before anything in the
//     test binary uses PC/SC. The socket path is fixed for the life of the
//     process, so only one private pcscd runs per test process at a time:
//     a second Start waits until the first one's test has finished
//     (and fails after a while, which catches nested use). Different test
//     binaries (go test runs packages in parallel) each have their own.
//   - pcscd still writes and, on exit, deletes /run/pcscd/pcscd.pid, and
//     exits if it cannot create /run/pcscd. Start therefore runs it
//     in a private mount namespace (root, not in a confined container)
//     with a tmpfs on /run/pcscd. Where that is not allowed it falls back
//     to the shared /run/pcscd (which must then exist or be creatable):
//     on a developer machine whose own pcscd is not socket-activated the
//     private daemon then clobbers that daemon's pid file, which only
//     matters to "pcscd --hotplug".
//   - The private pcscd also scans USB readers (libccid, if installed). A
//     reader the system pcscd holds fails to start there; that is harmless.
//   - vpcd listens on all interfaces (see package vpcd): test machines
//     only.
//
// If pcscd, the vpcd driver or /bin/sh is missing, Start returns an error
// matching ErrUnavailable. Set MADOGUCHI_PCSCD_DEBUG=1 to run pcscd with
// --debug --apdu; Daemon.Output returns its output.
package pcscd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ebfe/scard"
)

// Paths and names of Debian's packages.
const (
	// VPCDDriver is the vsmartcard-vpcd IFD handler.
	VPCDDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
	// FriendlyName is the FRIENDLYNAME of the private vpcd entry. It starts
	// like Debian's "Virtual PCD" but is distinct, so that a test which
	// reaches the system pcscd by mistake cannot find its reader.
	FriendlyName = "Virtual PCD Madoguchi"
	// debugEnv set to a non-empty value runs pcscd with --debug --apdu.
	debugEnv = "MADOGUCHI_PCSCD_DEBUG"
	// socketEnv is read by libpcsclite (client side only).
	socketEnv = "PCSCLITE_CSOCK_NAME"
)

// Timeouts.
const (
	readyTimeout = 10 * time.Second // pcscd up and the reader listed
	stopTimeout  = 5 * time.Second  // SIGTERM to exit (usually 1–1.5 s)
	turnTimeout  = 2 * time.Minute  // waiting for another test's pcscd
	startTries   = 3                // fresh ports after a failed start
)

// Daemon is a running private pcscd with one vpcd reader.
type Daemon struct {
	// ReaderName is the PC/SC name of the vpcd reader whose card
	// connects to VPCDAddr, e.g. "Virtual PCD Madoguchi 00 00".
	ReaderName string
	// VPCDAddr is where a vpcd.Client must connect to insert a card
	// ("127.0.0.1:port").
	VPCDAddr string
	// Socket is the pcscd socket, also in PCSCLITE_CSOCK_NAME.
	Socket string

	pcscd   string // path of the binary
	confDir string
	port    int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	out  *syncBuffer   // pcscd's output, all runs
}

// process-wide state: the socket path libpcsclite has cached, and the
// single slot for a running private pcscd.
var (
	sockOnce sync.Once
	sockPath string
	sockErr  error
	sockOwn  bool // the directory of sockPath is ours to create and remove
	turn     = make(chan struct{}, 1)
)

// ErrUnavailable: pcscd, the vpcd driver or /bin/sh is missing, or pcscd
// cannot run privately here.
var ErrUnavailable = errors.New("pcscd: a private pcscd cannot run here")

// Start starts a private pcscd with a vpcd reader, its configuration in
// confDir (which must exist). The reader is listed by the time it
// returns; no card is in it until a vpcd.Client connects to VPCDAddr.
// Release stops it; only one runs per process at a time (a second Start
// waits for the first one's Release, see the package comment).
func Start(confDir string) (*Daemon, error) {
	pcscd, err := Prerequisites()
	if err != nil {
		return nil, err
	}
	sock, err := socketPath()
	if err != nil {
		return nil, err
	}
	select {
	case turn <- struct{}{}:
	case <-time.After(turnTimeout):
		return nil, fmt.Errorf("pcscd: another private pcscd is still running in this process after %v; "+
			"libpcsclite reads %s once per process, so private daemons cannot nest or overlap", turnTimeout, socketEnv)
	}
	e := &Daemon{Socket: sock, pcscd: pcscd, confDir: confDir, out: &syncBuffer{}}
	for try := 1; ; try++ {
		err := e.startFresh()
		if err == nil {
			return e, nil
		}
		e.Stop()
		if errors.Is(err, errNoRunDir) {
			e.Release()
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		var fatal *startError
		if errors.As(err, &fatal) || try == startTries {
			out := e.out.String()
			e.Release()
			return nil, fmt.Errorf("pcscd: starting (try %d): %w\npcscd output:\n%s", try, err, out)
		}
		fmt.Fprintf(e.out, "pcscd: starting (try %d): %v; retrying on other ports\n", try, err)
	}
}

// Release stops pcscd, removes the private socket directory and lets
// another Start in this process go ahead. Call it once.
func (e *Daemon) Release() {
	e.Stop()
	if sockOwn {
		_ = os.Remove(filepath.Dir(e.Socket))
	}
	<-turn
}

// Output is pcscd's output so far (all runs).
func (e *Daemon) Output() string { return e.out.String() }

// Stop stops pcscd now (SIGTERM, then SIGKILL after 5 s) and removes its
// socket, so that PC/SC calls fail as with a dead service. It is safe to
// call more than once; cleanup calls it too.
func (e *Daemon) Stop() {
	e.mu.Lock()
	cmd, done := e.cmd, e.done
	e.cmd = nil
	e.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-done
	}
	_ = os.Remove(e.Socket)
}

// Restart starts pcscd again after Stop, with the same socket, reader and
// port, as after a service restart.
func (e *Daemon) Restart() error {
	e.Stop()
	if err := e.start(); err != nil {
		e.Stop()
		return fmt.Errorf("pcscd: restarting: %w\npcscd output:\n%s", err, e.out.String())
	}
	return nil
}

// startFresh picks free ports, writes the reader configuration and
// starts pcscd.
func (e *Daemon) startFresh() error {
	port, err := freePortPair()
	if err != nil {
		return &startError{err}
	}
	e.port = port
	e.VPCDAddr = fmt.Sprintf("127.0.0.1:%d", port)
	conf := fmt.Sprintf("FRIENDLYNAME \"%s\"\nDEVICENAME /dev/null:0x%X\nLIBPATH %s\nCHANNELID 0x%X\n",
		FriendlyName, port, VPCDDriver, port)
	if err := os.WriteFile(filepath.Join(e.confDir, "vpcd"), []byte(conf), 0o644); err != nil {
		return &startError{err}
	}
	return e.start()
}

// start runs pcscd on e's configuration and waits for the reader.
func (e *Daemon) start() error {
	if sockOwn {
		if err := os.Mkdir(filepath.Dir(e.Socket), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return &startError{err}
		}
	}
	_ = os.Remove(e.Socket)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: e.Socket, Net: "unix"})
	if err != nil {
		return &startError{fmt.Errorf("binding %s: %w", e.Socket, err)}
	}
	ln.SetUnlinkOnClose(false) // pcscd keeps using it
	f, err := ln.File()
	_ = ln.Close()
	if err != nil {
		return &startError{err}
	}
	// Only pcscd may hold the socket once it runs: a copy kept here would
	// queue clients of a dead pcscd for ever instead of refusing them.
	defer f.Close()
	if err := os.Chmod(e.Socket, 0o666); err != nil {
		return &startError{err}
	}

	fmt.Fprintf(e.out, "--- %s %s (vpcd port %d)\n", time.Now().Format(time.TimeOnly), e.pcscd, e.port)
	cmd := e.command(f, true)
	err = cmd.Start()
	if err != nil { // no mount namespace (not root, or a confined container)
		fmt.Fprintf(e.out, "pcscd: no mount namespace (%v), sharing /run/pcscd\n", err)
		cmd = e.command(f, false)
		err = cmd.Start()
	}
	_ = f.Close()
	if err != nil {
		return &startError{fmt.Errorf("running pcscd: %w", err)}
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	e.mu.Lock()
	e.cmd, e.done = cmd, done
	e.mu.Unlock()

	name, err := e.waitForReader(done)
	if err != nil {
		return err
	}
	e.ReaderName = name
	return nil
}

// launcher is the /bin/sh script that starts pcscd. In a private mount
// namespace it first mounts a tmpfs on /run/pcscd, so that the pid file
// pcscd insists on writing stays private; then it execs pcscd with
// LISTEN_PID set to its own pid, which exec keeps.
const launcher = `if [ "$MADOGUCHI_PRIVATE_RUN" = 1 ]; then
	mkdir -p /run/pcscd && mount -t tmpfs -o mode=0755,size=64k madoguchi-pcscd /run/pcscd ||
		echo "pcscd: ` + sharedRunMsg + `" >&2
fi
unset MADOGUCHI_PRIVATE_RUN
LISTEN_PID=$$
export LISTEN_PID
exec "$0" "$@"`

// sharedRunMsg is logged when pcscd writes to the system's /run/pcscd.
const sharedRunMsg = "no private /run/pcscd"

// command builds the pcscd command with sock as its activation socket,
// in a private mount namespace when isolate is set.
func (e *Daemon) command(sock *os.File, isolate bool) *exec.Cmd {
	args := []string{"-c", launcher, e.pcscd, "--foreground", "-c", e.confDir}
	if os.Getenv(debugEnv) != "" {
		args = append(args, "--debug", "--apdu")
	}
	cmd := exec.Command("/bin/sh", args...)
	cmd.Env = append(withoutListenVars(os.Environ()), "LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{sock} // fd 3 = SD_LISTEN_FDS_START
	cmd.Stdout = e.out
	cmd.Stderr = e.out
	// Pdeathsig: pcscd does not outlive a killed test binary.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if isolate {
		cmd.Env = append(cmd.Env, "MADOGUCHI_PRIVATE_RUN=1")
		// os/exec also makes the namespace's mounts private, so the
		// tmpfs never shows outside.
		cmd.SysProcAttr.Unshareflags = syscall.CLONE_NEWNS
	}
	return cmd
}

// waitForReader lists readers through the private socket until the vpcd
// reader shows up, pcscd exits, or readyTimeout passes.
func (e *Daemon) waitForReader(exited <-chan struct{}) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var last error
	for {
		// libpcsclite has no timeout of its own: ask from a goroutine so
		// that a daemon that accepts but never answers cannot hang the
		// test (the call returns when cleanup kills pcscd).
		type listing struct {
			name string
			err  error
		}
		res := make(chan listing, 1)
		go func() { n, err := ListVPCD(); res <- listing{n, err} }()
		select {
		case l := <-res:
			if l.err == nil && l.name != "" {
				return l.name, nil
			}
			last = l.err
		case <-exited:
		case <-ctx.Done():
		}
		select {
		case <-exited:
			if strings.Contains(e.out.String(), "cannot create /run/pcscd") {
				return "", errNoRunDir
			}
			return "", &startError{errors.New("pcscd exited early")}
		case <-ctx.Done():
			return "", fmt.Errorf("reader %q not listed within %v (vpcd port taken, or this process used PC/SC before %s was set; last error: %v)",
				FriendlyName, readyTimeout, socketEnv, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ListVPCD returns the name of the first slot of the private vpcd reader,
// or "" if it is not listed.
func ListVPCD() (string, error) {
	sctx, err := scard.EstablishContext()
	if err != nil {
		return "", err
	}
	defer sctx.Release()
	readers, err := sctx.ListReaders()
	if err != nil {
		return "", err
	}
	for _, r := range readers {
		if strings.HasPrefix(r, FriendlyName+" ") && strings.HasSuffix(r, " 00") {
			return r, nil
		}
	}
	return "", nil
}

// socketPath returns this process's pcscd socket path, setting
// PCSCLITE_CSOCK_NAME the first time.
func socketPath() (string, error) {
	sockOnce.Do(func() {
		if p := os.Getenv(socketEnv); p != "" {
			// Someone chose the path (and libpcsclite may have cached it):
			// use it, unless a live pcscd already answers there.
			if c, err := net.Dial("unix", p); err == nil {
				_ = c.Close()
				sockErr = fmt.Errorf("%s=%s already has a live pcscd; unset it to let tests run a private one", socketEnv, p)
				return
			}
			sockPath = p
			// Its directory may be gone (a parent's private daemon left).
			if _, err := os.Stat(filepath.Dir(p)); errors.Is(err, os.ErrNotExist) {
				sockOwn = true
			}
			return
		}
		dir, err := os.MkdirTemp("", "madoguchi-pcscd-")
		if err != nil {
			sockErr = err
			return
		}
		sockPath = filepath.Join(dir, "pcscd.comm")
		if len(sockPath) > 100 { // sun_path holds 108 bytes
			_ = os.Remove(dir)
			if dir, err = os.MkdirTemp("/tmp", "madoguchi-pcscd-"); err != nil {
				sockErr = err
				return
			}
			sockPath = filepath.Join(dir, "pcscd.comm")
		}
		sockOwn = true
		sockErr = os.Setenv(socketEnv, sockPath)
	})
	return sockPath, sockErr
}

// Prerequisites returns the path of pcscd, or an error matching
// ErrUnavailable when a tool is missing.
func Prerequisites() (string, error) {
	missing := func(why string) (string, error) { return "", fmt.Errorf("%w: %s", ErrUnavailable, why) }
	pcscd, err := exec.LookPath("pcscd")
	if err != nil {
		pcscd = "/usr/sbin/pcscd"
		if _, err := os.Stat(pcscd); err != nil {
			return missing("pcscd not found (apt-get install pcscd libpcsclite-dev vsmartcard-vpcd)")
		}
	}
	if _, err := os.Stat(VPCDDriver); err != nil {
		return missing("vpcd driver " + VPCDDriver + " not found (apt-get install vsmartcard-vpcd)")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		return missing("/bin/sh not found")
	}
	out, err := exec.Command(pcscd, "--version").CombinedOutput()
	if err != nil {
		return missing(fmt.Sprintf("%s --version: %v", pcscd, err))
	}
	if !bytes.Contains(out, []byte("libsystemd")) {
		return missing(pcscd + " is built without libsystemd, so it cannot take a private socket")
	}
	return pcscd, nil
}

// freePortPair returns a port p such that p and p+1 are free on all
// interfaces: vpcd opens both, one per slot, bound to INADDR_ANY.
func freePortPair() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp4", ":0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln2, err := net.Listen("tcp4", fmt.Sprintf(":%d", p+1))
		_ = ln.Close()
		if err == nil {
			_ = ln2.Close()
			return p, nil
		}
	}
	return 0, errors.New("no two consecutive free TCP ports")
}

// withoutListenVars drops inherited socket-activation variables and the
// launcher's switch, which must never reach a launcher outside a private
// mount namespace.
func withoutListenVars(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, "LISTEN_") || strings.HasPrefix(kv, "MADOGUCHI_PRIVATE_RUN=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// errNoRunDir: pcscd could not create /run/pcscd, where it insists on
// writing its pid file even when socket-activated.
var errNoRunDir = errors.New("pcscd cannot create /run/pcscd (run as root, or install pcscd so that the directory exists)")

// startError is a failure that new ports would not fix.
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

// syncBuffer is a bytes.Buffer safe for the writer goroutines of exec and
// for readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Pid is the running pcscd's process id (0 when stopped).
func (e *Daemon) Pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		return 0
	}
	return e.cmd.Process.Pid
}
