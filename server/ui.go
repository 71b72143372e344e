package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// uiTypes are the MIME types of the UI's files. They are fixed here
// rather than taken from the host's mime.types, which differ between
// machines (an ES module served as text/plain does not run).
var uiTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".ico":         "image/x-icon",
	".woff2":       "font/woff2",
	".wasm":        "application/wasm",
	".wav":         "audio/wav",
	".txt":         "text/plain; charset=utf-8",
}

// uiCSP keeps the pages to their own origin: scripts, media and
// connections only to the server. Inline styles are allowed because
// vendored widgets (a waveform in a shadow root) inject their own.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
	"media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; worker-src 'self' blob:; object-src 'none'; " +
	"base-uri 'none'; frame-ancestors 'self'"

// ui serves the browser UI from cfg.UI:
//
//   - "/" is index.html, the rep's overlay;
//   - "/ui-config.json" tells the page what this server allows (WebRTC,
//     test hooks); it is public, so it holds no ICE servers (the
//     session's owner asks GET /v1/sessions/{id}/ice-servers);
//   - a file is served with its MIME type, an ETag and "no-cache" (names
//     carry no content hash, so browsers revalidate and always run the
//     current UI);
//   - "/NAME" and "/NAME/anything" without an extension serve NAME.html
//     (or NAME/index.html) when the UI has it, so a page needs no route
//     (/sessions and /sessions/{id} have their own handlers);
//   - anything else is 404.html with status 404 (JSON under /v1/).
func (s *Server) ui() http.Handler {
	ui := s.cfg.UI
	_, hooks := ui.(testHooksFS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "/ui-config.json" {
			w.Header().Set("Cache-Control", "no-store")
			writeJSON(w, http.StatusOK, map[string]any{
				"webrtc":     s.cfg.WebRTC != nil,
				"test_hooks": hooks,
				"sso":        s.oidc != nil,
			})
			return
		}
		if strings.HasPrefix(p, "/v1/") || p == "/v1" {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found"})
			return
		}
		name, ok := uiFile(ui, p)
		if !ok {
			serveUIFile(w, r, ui, "404.html", http.StatusNotFound)
			return
		}
		if strings.HasSuffix(name, ".html") && !publicPages[name] && !s.pageAllowed(w, r) {
			return
		}
		serveUIFile(w, r, ui, name, http.StatusOK)
	})
}

// uiFile maps a URL path to the UI file that answers it.
func uiFile(ui fs.FS, urlPath string) (string, bool) {
	clean := strings.TrimPrefix(path.Clean("/"+urlPath), "/")
	if clean == "" {
		return "index.html", true
	}
	if strings.HasSuffix(urlPath, "/") || path.Ext(clean) == "" {
		// A page: "/sessions/abc" is sessions.html, "/help/" help.html.
		first, _, _ := strings.Cut(clean, "/")
		if first == "index" || first == "404" {
			return "", false
		}
		for _, name := range []string{first + ".html", first + "/index.html"} {
			if isUIFile(ui, name) {
				return name, true
			}
		}
		return "", false
	}
	if !fs.ValidPath(clean) || !isUIFile(ui, clean) {
		return "", false
	}
	return clean, true
}

func isUIFile(ui fs.FS, name string) bool {
	st, err := fs.Stat(ui, name)
	return err == nil && st.Mode().IsRegular()
}

// serveUIFile writes one UI file with status code. A 200 honours
// If-None-Match and Range; a missing 404.html becomes a plain text 404.
func serveUIFile(w http.ResponseWriter, r *http.Request, ui fs.FS, name string, code int) {
	b, err := fs.ReadFile(ui, name)
	if err != nil {
		if code == http.StatusNotFound || errors.Is(err, fs.ErrNotExist) {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		http.Error(w, "cannot read "+name, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	ct, ok := uiTypes[path.Ext(name)]
	if !ok {
		ct = http.DetectContentType(b)
	}
	h.Set("Content-Type", ct)
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.HasSuffix(name, ".html") {
		h.Set("Content-Security-Policy", uiCSP)
		h.Set("Referrer-Policy", "same-origin")
	}
	if code != http.StatusOK {
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		if r.Method != http.MethodHead {
			w.Write(b)
		}
		return
	}
	sum := sha256.Sum256(b)
	h.Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	h.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
