package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
)

// maxJSONBody bounds a JSON request body.
const maxJSONBody = 64 << 10

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	rt := router{s: s, mux: mux}
	const read, strm, adm = auth.ScopeRead, auth.ScopeStream, auth.ScopeAdmin
	rt.handleFunc("GET /healthz", Public, "", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	if s.cfg.MetricsAddr == "" {
		rt.handle("GET /metrics", Admin, adm, s.metrics.handler())
	}
	s.accountRoutes(rt)
	s.callDataRoutes(rt)
	s.retentionRoutes(rt)
	s.telephonyRoutes(rt)
	rt.handleFunc("POST /v1/sessions", SignedIn, strm, s.handleCreate)
	rt.handleFunc("GET /v1/sessions", SignedIn, read, s.handleList)
	rt.handleFunc("GET /v1/sessions/{id}", SessionRead, read, s.handleGet)
	rt.handleFunc("GET /v1/sessions/{id}/stream", SessionStream, strm, s.handleStream)
	rt.handleFunc("GET /v1/sessions/{id}/events", SessionRead, read, s.handleEvents)
	rt.handleFunc("GET /v1/sessions/{id}/audio", SessionRead, read, s.handleAudio)
	rt.handleFunc("GET /v1/sessions/{id}/comments", SessionRead, read, s.handleComments)
	rt.handleFunc("POST /v1/sessions/{id}/comments", SessionRead, read, s.handleAddComment)
	rt.handleFunc("PATCH /v1/sessions/{id}/comments/{cid}", SessionRead, read, s.handleUpdateComment)
	rt.handleFunc("DELETE /v1/sessions/{id}/comments/{cid}", SessionRead, read, s.handleDeleteComment)
	rt.handleFunc("GET /v1/playbook", SignedIn, read, s.handlePlaybook)
	rt.handleFunc("GET /v1/playbook/source", SignedIn, read, s.handlePlaybookSource)
	rt.handleFunc("POST /v1/playbook/check", SignedIn, read, s.handlePlaybookCheck)
	rt.handleFunc("GET /v1/sessions/{id}/replay", SessionRead, read, s.handleReplay)
	rt.handleFunc("GET /v1/sessions/{id}/transcript", SessionRead, read, s.handleTranscript)
	rt.handleFunc("GET /v1/reps", SignedIn, read, s.handleReps)
	rt.handleFunc("POST /v1/uploads", SignedIn, strm, s.handleUpload)
	rt.handleFunc("GET /v1/uploads/{id}", SignedIn, read, s.handleUploadProgress)
	rt.handleFunc("POST /v1/backtest", SignedIn, read, s.handleBacktest)
	if s.cfg.WebRTC != nil {
		rt.handleFunc("POST /v1/sessions/{id}/webrtc", SessionStream, strm, s.handleWebRTC)
		rt.handleFunc("GET /v1/sessions/{id}/ice-servers", SessionStream, strm, s.handleICEServers)
		s.whipRoutes(rt)
	}
	if s.cfg.UI != nil {
		rt.handleFunc("GET /sessions", Public, "", s.handleLibraryPage)
		rt.handleFunc("GET /sessions/{id}", Public, "", s.handleReplayPage)
		rt.handle("GET /", Public, "", s.ui())
	}
	return s.protect(mux)
}

// httpError writes {"error": "..."} with the status that fits err.
func (s *Server) httpError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	msg := err.Error()
	var me *http.MaxBytesError
	switch {
	case errors.Is(err, store.ErrNotFound):
		code, msg = http.StatusNotFound, "not found"
	case errors.Is(err, store.ErrInvalid), errors.Is(err, store.ErrBadCursor), errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	case errors.As(err, &me):
		code, msg = http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", me.Limit)
	case errors.Is(err, ErrSessionEnded), errors.Is(err, store.ErrEnded), errors.Is(err, ErrSessionBusy):
		code = http.StatusConflict
	case errors.Is(err, ErrShuttingDown), errors.Is(err, ErrOwnedElsewhere), errors.Is(err, ErrClusterUnavailable):
		code = http.StatusServiceUnavailable
	case errors.Is(err, ErrUnauthenticated):
		code = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Bearer realm="cuecard"`)
	case errors.Is(err, ErrForbidden):
		code = http.StatusForbidden
	case errors.Is(err, ErrRateLimited):
		code = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "10")
	case errors.Is(err, errHostNotAllowed):
		code = http.StatusMisdirectedRequest
	case errors.Is(err, errNotJSON):
		code = http.StatusUnsupportedMediaType
	case errors.Is(err, errTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrLimit):
		code = http.StatusTooManyRequests
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrHeld), errors.Is(err, ErrLive), errors.Is(err, ErrNoConsent):
		code = http.StatusConflict
	case errors.Is(err, auth.ErrWeakPassword):
		code = http.StatusBadRequest
	}
	if code == http.StatusInternalServerError {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	writeJSON(w, code, map[string]string{"error": oneLine(msg)})
}

var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errBadRequest}, args...)...)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// writeJSONLine writes v as one line of JSONL.
func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// errNotJSON is a JSON endpoint's request of another content type.
var errNotJSON = errors.New("Content-Type must be application/json")

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// readJSON decodes a bounded JSON body into v, rejecting unknown fields.
// The body must be declared application/json: a browser cannot send that
// across origins without asking first.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("%w (got %q)", errNotJSON, r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return badRequest("empty body")
		}
		return badRequest("%v", err)
	}
	return nil
}

// createRequest is the body of POST /v1/sessions (all fields optional).
type createRequest struct {
	Rep         string `json:"rep"`
	Title       string `json:"title"`
	Consent     bool   `json:"consent"`
	ConsentText string `json:"consent_text"`
	SampleRate  int    `json:"sample_rate"`
	Team        string `json:"team"`
}

// created is the answer to POST /v1/sessions: the session and the token
// that streams it (for a client that should not hold the rep's own
// credentials, such as a dialer).
type created struct {
	store.Session
	IngestToken string `json:"ingest_token,omitempty"`
}

// handleCreate starts a session owned by the caller, in the team the
// request names (one the caller belongs to) or the caller's first.
func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if r.ContentLength != 0 || viaCookie(r) {
		if err := readJSON(w, r, &req); err != nil {
			s.httpError(w, r, err)
			return
		}
	}
	p := principal(r)
	if s.createLim != nil && !s.createLim.Allow(p.UserID) {
		s.httpError(w, r, fmt.Errorf("%w: too many new sessions; try again later", ErrRateLimited))
		return
	}
	team, err := s.sessionTeam(r.Context(), p, req.Team)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	n := store.NewSession{Rep: displayName(p), Title: req.Title, Source: store.SourceLive, Consent: req.Consent,
		ConsentText: req.ConsentText, SampleRate: req.SampleRate, Team: team, Owner: p.UserID, Backend: s.cfg.Backend}
	if req.Rep != "" && req.Rep != n.Rep {
		// An administrator may label a call with another name (imports,
		// demos); it still belongs to them.
		if !p.IsAdmin() {
			s.httpError(w, r, badRequest("rep: a session belongs to the signed-in rep (%q)", n.Rep))
			return
		}
		n.Rep = req.Rep
	}
	if err := s.consentRecord(r.Context(), p, &n); err != nil {
		s.httpError(w, r, err)
		return
	}
	ses, err := s.st.CreateSession(r.Context(), n)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	it, err := s.ingestToken(r.Context(), ses.ID)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/sessions/"+ses.ID)
	writeJSON(w, http.StatusCreated, created{Session: ses, IngestToken: it})
}

// displayName is how a user is named on their sessions.
func displayName(p *auth.Principal) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Email
}

// sessionTeam resolves the team a new session of p belongs to: the one
// named (by id or name), which p must be a member of (any, for an
// administrator), or else p's first team as a rep, or first team at all.
func (s *Server) sessionTeam(ctx context.Context, p *auth.Principal, name string) (string, error) {
	if name == "" {
		return firstTeam(p), nil
	}
	t, err := s.teamNamed(ctx, name, false)
	if errors.Is(err, store.ErrNotFound) {
		return "", badRequest("team %q does not exist", name)
	}
	if err != nil {
		return "", err
	}
	if _, member := p.Teams[t.ID]; !member && !p.IsAdmin() {
		return "", fmt.Errorf("%w: not a member of team %q", ErrForbidden, name)
	}
	return t.ID, nil
}

func firstTeam(p *auth.Principal) string {
	ids := slices.Sorted(maps.Keys(p.Teams))
	for _, id := range ids {
		if p.Teams[id] == auth.RoleRep {
			return id
		}
	}
	if len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// accessOf restricts listings to what p may see; nil for an
// administrator.
func accessOf(p *auth.Principal) *store.Access {
	if p.Role == auth.RoleAdmin {
		return nil
	}
	a := &store.Access{Owner: p.UserID}
	for id, role := range p.Teams {
		if role == auth.RoleCoach {
			a.Teams = append(a.Teams, id)
		}
	}
	slices.Sort(a.Teams)
	return a
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	ses, err := s.st.GetSession(r.Context(), r.PathValue("id"))
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "session.view", ses.ID, nil)
	writeJSON(w, http.StatusOK, ses)
}

// parseList reads the list filters from the query string.
func parseList(r *http.Request) (store.ListFilter, error) {
	q := r.URL.Query()
	f := store.ListFilter{Rep: q.Get("rep"), Stage: q.Get("stage"), MinStage: q.Get("min_stage"),
		Source: q.Get("source"), Status: q.Get("status"), Cursor: q.Get("cursor"), Team: q.Get("team")}
	parseTime := func(name string) (time.Time, error) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, nil
		}
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return time.Time{}, badRequest("%s: want a date (2006-01-02) or RFC 3339 time", name)
		}
		return t, nil
	}
	var err error
	if f.From, err = parseTime("from"); err != nil {
		return f, err
	}
	if f.To, err = parseTime("to"); err != nil {
		return f, err
	}
	if v := q.Get("min_uptake"); v != "" {
		if f.MinUptake, err = strconv.ParseFloat(v, 64); err != nil || f.MinUptake < 0 || f.MinUptake > 1 {
			return f, badRequest("min_uptake: want a number from 0 to 1")
		}
	}
	for name, dst := range map[string]*int{"limit": &f.Limit, "offset": &f.Offset} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return f, badRequest("%s: want a whole number", name)
			}
			*dst = n
		}
	}
	switch q.Get("sort") {
	case "", "date":
		f.Sort = store.SortDate
	case "duration":
		f.Sort = store.SortDuration
	case "rep_share":
		f.Sort = store.SortRepShare
	case "uptake":
		f.Sort = store.SortUptake
	default:
		return f, badRequest("sort: want date, duration, rep_share or uptake")
	}
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		f.Asc = true
	default:
		return f, badRequest("order: want asc or desc")
	}
	return f, nil
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	f, err := parseList(r)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	f.Access = accessOf(principal(r))
	page, err := s.st.ListSessions(r.Context(), f)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	if page.Sessions == nil {
		page.Sessions = []store.Session{}
	}
	writeJSON(w, http.StatusOK, page)
}

// handleEvents serves the stored events as JSONL, or upgrades to a live
// viewer socket.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	if websocket.IsWebSocketUpgrade(r) {
		s.handleViewer(w, r)
		return
	}
	id := r.PathValue("id")
	if _, err := s.st.GetSession(r.Context(), id); err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "events.export", id, nil)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `inline; filename="`+id+`.events.jsonl"`)
	err := s.st.ReadEvents(r.Context(), id, 0, func(_ int64, data []byte) error {
		if _, err := w.Write(data); err != nil {
			return err
		}
		_, err := w.Write([]byte{'\n'})
		return err
	})
	if err != nil {
		s.log.Warn("read events", "session", id, "err", err)
	}
}

// handleAudio serves one side's recording with Range support.
func (s *Server) handleAudio(w http.ResponseWriter, r *http.Request) {
	sp, ok := coach.ParseSpeaker(r.URL.Query().Get("speaker"))
	if !ok {
		s.httpError(w, r, badRequest("speaker: want rep or prospect"))
		return
	}
	rec, err := s.st.Recording(r.Context(), r.PathValue("id"), sp)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	if o, err := s.openRecordingObject(r.Context(), rec); err == nil {
		defer o.Close()
		s.serveRecording(w, r, rec, o, o.Info().Size, o.Info().ModTime)
		return
	}
	f, err := os.Open(rec.Path)
	if err != nil {
		// A call live on another node: what its segments hold so far.
		if f = s.openSegments(r.Context(), rec); f == nil {
			s.httpError(w, r, fmt.Errorf("%w: recording file missing", store.ErrNotFound))
			return
		}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.serveRecording(w, r, rec, f, st.Size(), st.ModTime())
}

// serveRecording serves rec's bytes from f (a local file or a blob
// store's object), decrypting a sealed one, with Range support.
func (s *Server) serveRecording(w http.ResponseWriter, r *http.Request, rec store.Recording, f io.ReadSeeker, size int64, mod time.Time) {
	if r.Header.Get("Range") == "" || strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") {
		s.audit(r, "recording.download", rec.SessionID, map[string]any{"speaker": string(rec.Speaker)})
	}
	if strings.HasSuffix(rec.Path, sealedExt) {
		ra, ok := f.(io.ReaderAt)
		if !ok {
			s.httpError(w, r, errors.New("recording cannot be read at an offset"))
			return
		}
		s.serveSealed(w, r, rec, ra, size, mod)
		return
	}
	w.Header().Set("Content-Type", rec.ContentType)
	http.ServeContent(w, r, filepath.Base(rec.Path), mod, f)
}

func (s *Server) handleComments(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.st.GetSession(r.Context(), id); err != nil {
		s.httpError(w, r, err)
		return
	}
	cs, err := s.st.Comments(r.Context(), id)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	if cs == nil {
		cs = []store.Comment{}
	}
	writeJSON(w, http.StatusOK, cs)
}

type commentRequest struct {
	AtMS *int64  `json:"at_ms"`
	Text *string `json:"text"`
	// Author is refused unless it is the signed-in user's own name: a
	// comment's author is who wrote it.
	Author string `json:"author"`
}

func (s *Server) handleAddComment(w http.ResponseWriter, r *http.Request) {
	var req commentRequest
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	if req.AtMS == nil || req.Text == nil {
		s.httpError(w, r, badRequest("at_ms and text are required"))
		return
	}
	p := principal(r)
	if req.Author != "" && req.Author != displayName(p) {
		s.httpError(w, r, badRequest("author: comments are signed by the signed-in user"))
		return
	}
	c, err := s.st.AddComment(r.Context(), r.PathValue("id"), *req.AtMS, *req.Text, displayName(p), p.UserID)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) handleUpdateComment(w http.ResponseWriter, r *http.Request) {
	var req commentRequest
	if err := readJSON(w, r, &req); err != nil {
		s.httpError(w, r, err)
		return
	}
	if req.Author != "" {
		s.httpError(w, r, badRequest("author cannot be changed"))
		return
	}
	if err := s.mayEditComment(r); err != nil {
		s.httpError(w, r, err)
		return
	}
	c, err := s.st.UpdateComment(r.Context(), r.PathValue("id"), r.PathValue("cid"), store.CommentPatch{AtMS: req.AtMS, Text: req.Text})
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// mayEditComment fails unless the caller wrote the comment or is an
// administrator.
func (s *Server) mayEditComment(r *http.Request) error {
	cs, err := s.st.Comments(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.ID == r.PathValue("cid") {
			if !principal(r).CanEditComment(c.AuthorID) {
				return fmt.Errorf("%w: only its author or an administrator changes a comment", ErrForbidden)
			}
			return nil
		}
	}
	return fmt.Errorf("comment %q: %w", r.PathValue("cid"), store.ErrNotFound)
}

func (s *Server) handleDeleteComment(w http.ResponseWriter, r *http.Request) {
	if err := s.mayEditComment(r); err != nil {
		s.httpError(w, r, err)
		return
	}
	if err := s.st.DeleteComment(r.Context(), r.PathValue("id"), r.PathValue("cid")); err != nil {
		s.httpError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handlePlaybook describes the playbook in use (stages, cues, talk limits)
// for the UI.
func (s *Server) handlePlaybook(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name": s.pb.Name, "stages": s.pb.Stages, "cues": s.pb.Cues, "talk": s.pb.Talk, "backend": s.cfg.Backend,
	})
}
