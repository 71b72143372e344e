package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
)

// maxJSONBody bounds a JSON request body.
const maxJSONBody = 64 << 10

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("POST /v1/sessions", s.handleCreate)
	mux.HandleFunc("GET /v1/sessions", s.handleList)
	mux.HandleFunc("GET /v1/sessions/{id}", s.handleGet)
	mux.HandleFunc("GET /v1/sessions/{id}/stream", s.handleStream)
	mux.HandleFunc("GET /v1/sessions/{id}/events", s.handleEvents)
	mux.HandleFunc("GET /v1/sessions/{id}/audio", s.handleAudio)
	mux.HandleFunc("GET /v1/sessions/{id}/comments", s.handleComments)
	mux.HandleFunc("POST /v1/sessions/{id}/comments", s.handleAddComment)
	mux.HandleFunc("PATCH /v1/sessions/{id}/comments/{cid}", s.handleUpdateComment)
	mux.HandleFunc("DELETE /v1/sessions/{id}/comments/{cid}", s.handleDeleteComment)
	mux.HandleFunc("GET /v1/playbook", s.handlePlaybook)
	mux.HandleFunc("GET /v1/playbook/source", s.handlePlaybookSource)
	mux.HandleFunc("POST /v1/playbook/check", s.handlePlaybookCheck)
	mux.HandleFunc("GET /v1/sessions/{id}/replay", s.handleReplay)
	mux.HandleFunc("GET /v1/sessions/{id}/transcript", s.handleTranscript)
	mux.HandleFunc("GET /v1/reps", s.handleReps)
	mux.HandleFunc("POST /v1/uploads", s.handleUpload)
	mux.HandleFunc("GET /v1/uploads/{id}", s.handleUploadProgress)
	mux.HandleFunc("POST /v1/backtest", s.handleBacktest)
	if s.cfg.WebRTC != nil {
		mux.HandleFunc("POST /v1/sessions/{id}/webrtc", s.handleWebRTC)
	}
	if s.cfg.UI != nil {
		mux.HandleFunc("GET /sessions", s.handleLibraryPage)
		mux.HandleFunc("GET /sessions/{id}", s.handleReplayPage)
		mux.Handle("GET /", s.ui())
	}
	return mux
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
	case errors.Is(err, ErrShuttingDown):
		code = http.StatusServiceUnavailable
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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// readJSON decodes a bounded JSON body into v, rejecting unknown fields.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return badRequest("content type %q: want application/json", ct)
		}
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

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if r.ContentLength != 0 {
		if err := readJSON(w, r, &req); err != nil {
			s.httpError(w, r, err)
			return
		}
	}
	n := store.NewSession{Rep: req.Rep, Title: req.Title, Source: store.SourceLive, Consent: req.Consent,
		ConsentText: req.ConsentText, SampleRate: req.SampleRate, Team: req.Team, Backend: s.cfg.Backend}
	if req.Consent {
		n.ConsentAt = time.Now()
	}
	ses, err := s.st.CreateSession(r.Context(), n)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/sessions/"+ses.ID)
	writeJSON(w, http.StatusCreated, ses)
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request) {
	ses, err := s.st.GetSession(r.Context(), r.PathValue("id"))
	if err != nil {
		s.httpError(w, r, err)
		return
	}
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
	f, err := os.Open(rec.Path)
	if err != nil {
		s.httpError(w, r, fmt.Errorf("%w: recording file missing", store.ErrNotFound))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", rec.ContentType)
	http.ServeContent(w, r, filepath.Base(rec.Path), st.ModTime(), f)
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
	AtMS   *int64  `json:"at_ms"`
	Text   *string `json:"text"`
	Author string  `json:"author"`
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
	c, err := s.st.AddComment(r.Context(), r.PathValue("id"), *req.AtMS, *req.Text, req.Author, "")
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
	c, err := s.st.UpdateComment(r.Context(), r.PathValue("id"), r.PathValue("cid"), store.CommentPatch{AtMS: req.AtMS, Text: req.Text})
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) handleDeleteComment(w http.ResponseWriter, r *http.Request) {
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
