// Package web is the browser face of Madoguchi: it serves the built
// frontend and exposes the same bound methods the Wails window gets, as
// POST /api/<Method> with a JSON array of arguments. The frontend's api.ts
// calls the Wails bindings inside the window and this endpoint in a
// browser, so nothing is written twice.
//
// Security: on loopback the server accepts only requests whose Host is a
// loopback name (no DNS rebinding) and API calls with a JSON content type
// and, when present, a same-origin Origin (no cross-site requests). Beyond
// loopback it also requires TLS and a login with the access code; see
// docs/SERVE.md.
package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path"
	"reflect"
	"strings"
)

// Options configure Handler.
type Options struct {
	// Auth, if set, requires a login for every API call.
	Auth *Auth
	// Loopback restricts the Host header to loopback names.
	Loopback bool
	Log      *slog.Logger
}

// coder is an error that carries a user-facing message key.
type coder interface{ ErrorCode() string }

// Handler serves assets and dispatches API calls to bound's methods.
func Handler(bound any, assets fs.FS, o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &server{bound: reflect.ValueOf(bound), assets: assets, o: o}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/{method}", s.api)
	if o.Auth != nil {
		mux.HandleFunc("POST /login", o.Auth.login)
	}
	mux.HandleFunc("GET /", s.static)
	return s.guard(mux)
}

type server struct {
	bound  reflect.Value
	assets fs.FS
	o      Options
}

// guard applies the host, origin and header rules to every request.
func (s *server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		if s.o.Loopback && !loopbackHost(r.Host) {
			http.Error(w, "forbidden host", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				writeErr(w, http.StatusUnsupportedMediaType, "error.bad_request")
				return
			}
			if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r) {
				writeErr(w, http.StatusForbidden, "error.bad_request")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func sameOrigin(origin string, r *http.Request) bool {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+r.Host
}

// static serves the built frontend; unknown paths get index.html.
func (s *server) static(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
	if p == "" {
		p = "index.html"
	}
	if st, err := fs.Stat(s.assets, p); err != nil || st.IsDir() {
		p = "index.html"
	}
	if p == "index.html" {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeFileFS(w, r, s.assets, p)
}

var errorType = reflect.TypeFor[error]()

// publicMethods may be called before login: the login form needs its
// messages in the browser's language. They return no terminal data.
var publicMethods = map[string]bool{"Catalog": true}

// api calls one bound method. Arguments arrive as a JSON array; the answer
// is {"result": ...} or {"error": "<message key>"}.
func (s *server) api(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if s.o.Auth != nil && !publicMethods[r.PathValue("method")] && !s.o.Auth.valid(r) {
		writeErr(w, http.StatusUnauthorized, "error.login_required")
		return
	}
	name := r.PathValue("method")
	m := s.bound.MethodByName(name)
	if !m.IsValid() {
		writeErr(w, http.StatusNotFound, "error.bad_request")
		return
	}
	args, err := decodeArgs(io.LimitReader(r.Body, 1<<20), m.Type())
	if err != nil {
		s.o.Log.Warn("api: bad arguments", "method", name, "err", err)
		writeErr(w, http.StatusBadRequest, "error.bad_request")
		return
	}
	out := m.Call(args)
	var result any
	for _, v := range out {
		if v.Type() == errorType {
			if !v.IsNil() {
				s.fail(w, name, v.Interface().(error))
				return
			}
			continue
		}
		result = v.Interface()
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(map[string]any{"result": result}); err != nil {
		s.o.Log.Error("api: encode", "method", name, "err", err)
	}
}

func (s *server) fail(w http.ResponseWriter, method string, err error) {
	var c coder
	if errors.As(err, &c) {
		writeErr(w, http.StatusUnprocessableEntity, c.ErrorCode())
		return
	}
	s.o.Log.Error("api: call failed", "method", method, "err", err)
	writeErr(w, http.StatusInternalServerError, "error.internal")
}

func decodeArgs(body io.Reader, t reflect.Type) ([]reflect.Value, error) {
	var raw []json.RawMessage
	dec := json.NewDecoder(body)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("arguments: %w", err)
	}
	if len(raw) != t.NumIn() {
		return nil, fmt.Errorf("got %d arguments, want %d", len(raw), t.NumIn())
	}
	args := make([]reflect.Value, len(raw))
	for i, r := range raw {
		p := reflect.New(t.In(i))
		if err := json.Unmarshal(r, p.Interface()); err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
		args[i] = p.Elem()
	}
	return args, nil
}

func writeErr(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}
