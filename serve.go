package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"madoguchi/app/config"
	"madoguchi/app/secret"
	"madoguchi/app/web"
	"madoguchi/frontend"
)

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	var c common
	c.register(fs)
	addr := fs.String("addr", "", "listen address (default from config: 127.0.0.1:8080)")
	certFile := fs.String("tls-cert", "", "TLS certificate (PEM); required beyond loopback")
	keyFile := fs.String("tls-key", "", "TLS private key (PEM); required beyond loopback")
	if err := parse(fs, args); err != nil {
		return err
	}
	e, err := setup(ctx, c, nil)
	if err != nil {
		return err
	}
	defer e.Close()
	if *addr == "" {
		*addr = e.cfg.Serve.Addr
	}
	if *certFile == "" {
		*certFile = e.cfg.Serve.TLSCert
	}
	if *keyFile == "" {
		*keyFile = e.cfg.Serve.TLSKey
	}
	loopback, err := isLoopbackAddr(*addr)
	if err != nil {
		return fmt.Errorf("%w: --addr: %v", errUsage, err)
	}
	opts := web.Options{Loopback: loopback, Log: e.log}
	var tlsConf *tls.Config
	if !loopback {
		if *certFile == "" || *keyFile == "" {
			return fmt.Errorf("%w: listening on %s (beyond loopback) requires --tls-cert and --tls-key; see docs/SERVE.md", errUsage, *addr)
		}
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		code, file, err := accessCode(e.cfg.Serve.AccessCodeFile)
		if err != nil {
			return err
		}
		opts.Auth = web.NewAuth(code)
		fmt.Fprintf(stdout, "access code: in %s\n", file)
	}

	handler := web.Handler(e.app("browser", faceHooks{}), frontend.Dist(), opts)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConf}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	mode := string(e.mode)
	if mode == "" {
		mode = "choose"
	}
	fmt.Fprintf(stdout, "madoguchi %s serving on %s://%s/ (mode %s, data %s)\n", version, scheme, ln.Addr(), mode, e.dataDir)
	e.log.Info("serve", "addr", ln.Addr().String(), "tls", tlsConf != nil, "mode", mode)

	errc := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}

// isLoopbackAddr reports whether addr's host is a loopback address or
// "localhost". An empty host (":8080") means every interface: not loopback.
func isLoopbackAddr(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// accessCode reads the access code from path (default: access-code in the
// config dir), creating it with a random code when missing. The file must
// be readable by its owner only.
func accessCode(path string) (secret.Value, string, error) {
	if path == "" {
		d, err := config.Dir()
		if err != nil {
			return secret.Value{}, "", err
		}
		path = filepath.Join(d, "access-code")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return secret.Value{}, "", err
		}
		data = []byte(base32.StdEncoding.EncodeToString(b))
		clear(b)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return secret.Value{}, "", err
		}
		if err := os.WriteFile(path, append(data, '\n'), 0o600); err != nil {
			return secret.Value{}, "", fmt.Errorf("write access code: %w", err)
		}
	} else if err != nil {
		return secret.Value{}, "", fmt.Errorf("read access code: %w", err)
	}
	defer clear(data)
	st, err := os.Stat(path)
	if err != nil {
		return secret.Value{}, "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return secret.Value{}, "", fmt.Errorf("access code file %s is readable by others (mode %v); chmod 600 it", path, st.Mode().Perm())
	}
	code := strings.TrimSpace(string(data))
	if len(code) < 12 {
		return secret.Value{}, "", fmt.Errorf("access code in %s is shorter than 12 characters", path)
	}
	return secret.NewPassword(code), path, nil
}
