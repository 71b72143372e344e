package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/webui"
)

var testUI = fstest.MapFS{
	"index.html":         {Data: []byte("<!doctype html><title>overlay</title>")},
	"404.html":           {Data: []byte("<!doctype html><title>lost</title>")},
	"guide.html":         {Data: []byte("<!doctype html><title>guide</title>")},
	"js/overlay.js":      {Data: []byte("export {};")},
	"css/overlay.css":    {Data: []byte("body{}")},
	"vendor/x/x.mjs":     {Data: []byte("export {};")},
	"favicon.svg":        {Data: []byte("<svg xmlns='http://www.w3.org/2000/svg'/>")},
	"js/worklet.js":      {Data: []byte("registerProcessor('x', class {});")},
	"data/manifest.json": {Data: []byte("{}")},
	"help/index.html":    {Data: []byte("<!doctype html><title>help</title>")},
	"signin.html":        {Data: []byte("<!doctype html><title>sign in</title>")},
}

// as sends the test server's administrator token: UI pages other than
// the sign-in and set-up pages are for signed-in users.
func as(ts *testServer) map[string]string {
	return map[string]string{"Authorization": "Bearer " + ts.st.Token}
}

func get(tb testing.TB, url string, hdr map[string]string) (*http.Response, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := authDo(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, string(b)
}

func TestUIRoutes(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), func(c *server.Config) { c.UI = testUI }, nil)
	for _, tc := range []struct {
		name, path string
		code       int
		ctype      string
		body       string
	}{
		{"root is the overlay", "/", 200, "text/html; charset=utf-8", "<title>overlay</title>"},
		{"index by name", "/index.html", 200, "text/html; charset=utf-8", "overlay"},
		{"module", "/js/overlay.js", 200, "text/javascript; charset=utf-8", "export"},
		{"worklet", "/js/worklet.js", 200, "text/javascript; charset=utf-8", "registerProcessor"},
		{"vendored module", "/vendor/x/x.mjs", 200, "text/javascript; charset=utf-8", "export"},
		{"stylesheet", "/css/overlay.css", 200, "text/css; charset=utf-8", "body"},
		{"svg", "/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"json", "/data/manifest.json", 200, "application/json", "{}"},
		{"page", "/guide", 200, "text/html; charset=utf-8", "guide"},
		{"page with a sub-path", "/guide/abc123", 200, "text/html; charset=utf-8", "guide"},
		{"page in a folder", "/help", 200, "text/html; charset=utf-8", "help"},
		{"unknown page", "/nowhere", 404, "text/html; charset=utf-8", "lost"},
		{"unknown file", "/js/missing.js", 404, "text/html; charset=utf-8", "lost"},
		{"directory", "/js/", 404, "text/html; charset=utf-8", "lost"},
		{"404 page by name", "/404", 404, "text/html; charset=utf-8", "lost"},
		{"escape attempt", "/../server.go", 404, "text/html; charset=utf-8", "lost"},
		{"unknown API path", "/v1/nothing", 404, "application/json", `"error"`},
		{"sign-in page", "/signin", 200, "text/html; charset=utf-8", "sign in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, ts.ts.URL+tc.path, as(ts))
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.ctype {
				t.Errorf("Content-Type %q, want %q", ct, tc.ctype)
			}
			if !strings.Contains(body, tc.body) {
				t.Errorf("body %q lacks %q", body, tc.body)
			}
			if tc.code == 200 && resp.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", resp.Header.Get("Cache-Control"))
			}
			if strings.HasPrefix(tc.ctype, "text/html") && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
				t.Errorf("page without a content security policy")
			}
		})
	}
}

// TestUIPagesNeedSignIn: an anonymous visitor of a page is sent to the
// sign-in page, which comes back to the page afterwards; the sign-in page
// and the page's files are served to anyone.
func TestUIPagesNeedSignIn(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), func(c *server.Config) { c.UI = testUI }, nil)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for path, want := range map[string]string{"/": "/signin?next=%2F", "/guide/abc?x=1": "/signin?next=%2Fguide%2Fabc%3Fx%3D1"} {
		resp, err := noFollow.Get(ts.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s: %d to %q, want 303 to %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	if resp, body := get(t, ts.ts.URL+"/signin", nil); resp.StatusCode != 200 || !strings.Contains(body, "sign in") {
		t.Errorf("sign-in page: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, ts.ts.URL+"/js/overlay.js", nil); resp.StatusCode != 200 {
		t.Errorf("a module of the UI: %d", resp.StatusCode)
	}
}

func TestUIRevalidates(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), func(c *server.Config) { c.UI = testUI }, nil)
	resp, _ := get(t, ts.ts.URL+"/js/overlay.js", nil)
	etag := resp.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	resp, body := get(t, ts.ts.URL+"/js/overlay.js", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Fatalf("revalidation: %d %q, want 304", resp.StatusCode, body)
	}
}

func TestUIConfigTestHooks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hooks bool
	}{
		{"normal server", false},
		{"test hooks on", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, t.TempDir(), func(c *server.Config) {
				c.UI = server.WithUITestHooks(testUI)
				if !tc.hooks {
					c.UI = testUI
				}
			}, nil)
			resp, body := get(t, ts.ts.URL+"/ui-config.json", nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var cfg struct {
				TestHooks bool `json:"test_hooks"`
				WebRTC    bool `json:"webrtc"`
			}
			if err := json.Unmarshal([]byte(body), &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.TestHooks != tc.hooks || cfg.WebRTC {
				t.Fatalf("config %+v, want test_hooks=%v webrtc=false", cfg, tc.hooks)
			}
			// The hooks do not change what the files are.
			if _, body := get(t, ts.ts.URL+"/", as(ts)); !strings.Contains(body, "overlay") {
				t.Fatalf("index %q", body)
			}
		})
	}
}

// TestEmbeddedUI checks that the embedded overlay is whole: the page, its
// modules and styles are served with the right types.
func TestEmbeddedUI(t *testing.T) {
	ts := newTestServer(t, t.TempDir(), func(c *server.Config) { c.UI = webui.FS("") }, nil)
	_, index := get(t, ts.ts.URL+"/", as(ts))
	for _, ref := range []string{"/css/overlay.css", "/js/overlay.js"} {
		if !strings.Contains(index, ref) {
			t.Errorf("index.html does not load %s", ref)
		}
	}
	for path, ctype := range map[string]string{
		"/js/overlay.js":   "text/javascript; charset=utf-8",
		"/js/capture.js":   "text/javascript; charset=utf-8",
		"/js/transport.js": "text/javascript; charset=utf-8",
		"/js/popout.js":    "text/javascript; charset=utf-8",
		"/js/worklet.js":   "text/javascript; charset=utf-8",
		"/css/overlay.css": "text/css; charset=utf-8",
		"/favicon.svg":     "image/svg+xml",
		"/no/such/page":    "text/html; charset=utf-8",
	} {
		resp, _ := get(t, ts.ts.URL+path, nil)
		if path != "/no/such/page" && resp.StatusCode != 200 {
			t.Errorf("%s: status %d", path, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != ctype {
			t.Errorf("%s: Content-Type %q, want %q", path, ct, ctype)
		}
	}
	// The account pages, each with its module; the sign-in and set-up
	// pages load for anyone.
	for page, module := range map[string]string{"/signin": "/account/signin.js", "/setup": "/account/setup.js",
		"/admin": "/account/admin.js", "/account": "/account/account.js"} {
		resp, body := get(t, ts.ts.URL+page, as(ts))
		if resp.StatusCode != 200 || !strings.Contains(body, `src="`+module+`"`) {
			t.Errorf("%s: status %d, loads %s: %v", page, resp.StatusCode, module, strings.Contains(body, module))
		}
		if resp, _ := get(t, ts.ts.URL+module, nil); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
			t.Errorf("%s: status %d, %s", module, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}
