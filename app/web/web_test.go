package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"madoguchi/app"
	"madoguchi/app/secret"
)

type codeErr string

func (c codeErr) Error() string     { return string(c) }
func (c codeErr) ErrorCode() string { return string(c) }

type fake struct{ calls []string }

type Pair struct {
	A int    `json:"a"`
	B string `json:"b"`
}

func (f *fake) Echo(p Pair) Pair           { f.calls = append(f.calls, "Echo"); p.A++; return p }
func (f *fake) Fails() (int, error)        { return 0, codeErr("error.store") }
func (f *fake) Crashes() error             { return errors.New("disk on fire at /secret/path") }
func (f *fake) Nothing()                   {}
func (f *fake) Catalog(lang string) string { return "cat-" + lang }

var assets = fstest.MapFS{
	"index.html":    {Data: []byte("<!doctype html><title>t</title>")},
	"assets/app.js": {Data: []byte("console.log(1)")},
}

func post(t *testing.T, h http.Handler, path, body string, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "http://127.0.0.1:8080"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Result(), out
}

func TestDispatch(t *testing.T) {
	f := &fake{}
	h := Handler(f, assets, Options{Loopback: true})
	for _, tc := range []struct {
		path, body string
		status     int
		want       any
		key        string
	}{
		{"/api/Echo", `[{"a":1,"b":"x"}]`, 200, map[string]any{"a": 2.0, "b": "x"}, "result"},
		{"/api/Fails", `[]`, 422, "error.store", "error"},
		{"/api/Crashes", `[]`, 500, "error.internal", "error"},
		{"/api/Nothing", ``, 200, nil, "result"},
		{"/api/Echo", `[1, 2]`, 400, "error.bad_request", "error"},
		{"/api/Echo", `[{"a":"not a number"}]`, 400, "error.bad_request", "error"},
		{"/api/Echo", `{`, 400, "error.bad_request", "error"},
		{"/api/Missing", `[]`, 404, "error.bad_request", "error"},
		{"/api/echo", `[]`, 404, "error.bad_request", "error"},
	} {
		res, out := post(t, h, tc.path, tc.body, nil)
		if res.StatusCode != tc.status || !reflect.DeepEqual(out[tc.key], tc.want) {
			t.Errorf("%s %s: %d %v, want %d %s=%v", tc.path, tc.body, res.StatusCode, out, tc.status, tc.key, tc.want)
		}
	}
	if len(f.calls) != 1 {
		t.Errorf("Echo called %d times; bad requests must not reach the method", len(f.calls))
	}
}

func TestInternalErrorsStayInside(t *testing.T) {
	h := Handler(&fake{}, assets, Options{Loopback: true})
	req := httptest.NewRequest("POST", "http://127.0.0.1/api/Crashes", strings.NewReader("[]"))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if strings.Contains(rec.Body.String(), "fire") {
		t.Fatalf("internal error text reached the browser: %s", rec.Body)
	}
}

func TestGuards(t *testing.T) {
	h := Handler(&fake{}, assets, Options{Loopback: true})
	// DNS rebinding: a foreign Host on a loopback server.
	req := httptest.NewRequest("GET", "http://evil.example/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("foreign Host: %d, want 403", rec.Code)
	}
	// A cross-site form post cannot set a JSON content type.
	req = httptest.NewRequest("POST", "http://127.0.0.1:8080/api/Nothing", strings.NewReader("[]"))
	req.Header.Set("Content-Type", "text/plain")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain POST: %d, want 415", rec.Code)
	}
	// A cross-origin fetch.
	res, _ := post(t, h, "/api/Nothing", "[]", map[string]string{"Origin": "http://evil.example"})
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: %d, want 403", res.StatusCode)
	}
	res, _ = post(t, h, "/api/Nothing", "[]", map[string]string{"Origin": "http://127.0.0.1:8080"})
	if res.StatusCode != 200 {
		t.Errorf("same Origin: %d, want 200", res.StatusCode)
	}
	for _, host := range []string{"localhost:1", "[::1]:8080", "127.0.0.1"} {
		req = httptest.NewRequest("GET", "http://"+host+"/", nil)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Errorf("Host %s: %d", host, rec.Code)
		}
	}
}

func TestStatic(t *testing.T) {
	h := Handler(&fake{}, assets, Options{Loopback: true})
	for path, want := range map[string]string{"/": "<!doctype", "/assets/app.js": "console", "/kiosk/deep/link": "<!doctype", "/etc/passwd": "<!doctype"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1"+path, nil))
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != 200 || !strings.HasPrefix(string(body), want) {
			t.Errorf("GET %s: %d %.20q", path, rec.Code, body)
		}
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s: security headers missing", path)
		}
	}
}

func TestAuth(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	a := NewAuth(secret.NewPassword("ABCDEFGHIJKLMNOP"))
	a.Now = func() time.Time { return now }
	h := Handler(&fake{}, assets, Options{Auth: a})

	res, out := post(t, h, "/api/Nothing", "[]", nil)
	if res.StatusCode != 401 || out["error"] != "error.login_required" {
		t.Fatalf("no session: %d %v", res.StatusCode, out)
	}
	// The catalogue is public so the login form can speak.
	if res, out := post(t, h, "/api/Catalog", `["en"]`, nil); res.StatusCode != 200 || out["result"] != "cat-en" {
		t.Fatalf("public Catalog: %d %v", res.StatusCode, out)
	}
	if res, _ := post(t, h, "/login", `{"code":"wrong"}`, nil); res.StatusCode != 401 || len(res.Cookies()) != 0 {
		t.Fatalf("wrong code: %d", res.StatusCode)
	}
	res, _ = post(t, h, "/login", `{"code":"ABCDEFGHIJKLMNOP"}`, nil)
	if res.StatusCode != 200 || len(res.Cookies()) != 1 {
		t.Fatalf("login: %d %v", res.StatusCode, res.Cookies())
	}
	c := res.Cookies()[0]
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie flags: %+v", c)
	}
	withCookie := map[string]string{"Cookie": c.Name + "=" + c.Value}
	if res, _ := post(t, h, "/api/Nothing", "[]", withCookie); res.StatusCode != 200 {
		t.Fatalf("with session: %d", res.StatusCode)
	}
	now = now.Add(16 * time.Minute)
	if res, _ := post(t, h, "/api/Nothing", "[]", withCookie); res.StatusCode != 401 {
		t.Fatalf("idle session still valid: %d", res.StatusCode)
	}
	// Lockout after repeated failures, even for the right code.
	for i := 0; i < maxFailures; i++ {
		post(t, h, "/login", `{"code":"nope"}`, nil)
	}
	if res, _ := post(t, h, "/login", `{"code":"ABCDEFGHIJKLMNOP"}`, nil); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: %d, want 429", maxFailures, res.StatusCode)
	}
	now = now.Add(lockout + time.Second)
	if res, _ := post(t, h, "/login", `{"code":"ABCDEFGHIJKLMNOP"}`, nil); res.StatusCode != 200 {
		t.Fatalf("after lockout: %d", res.StatusCode)
	}
}

// TestAPIContract keeps frontend/src/api.ts and app.App in step: every
// exported method of App has exactly one entry in api.ts and vice versa.
func TestAPIContract(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "frontend", "src", "api.ts"))
	if err != nil {
		t.Fatal(err)
	}
	var ts []string
	for _, m := range regexp.MustCompile(`call<[^>]*>\('([A-Za-z]+)'`).FindAllStringSubmatch(string(src), -1) {
		ts = append(ts, m[1])
	}
	var goMethods []string
	typ := reflect.TypeFor[*app.App]()
	for i := 0; i < typ.NumMethod(); i++ {
		goMethods = append(goMethods, typ.Method(i).Name)
	}
	sort.Strings(ts)
	sort.Strings(goMethods)
	if !reflect.DeepEqual(ts, goMethods) {
		t.Fatalf("api.ts calls %v; app.App has %v", ts, goMethods)
	}
}
