package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
)

// replayStore is what the coaches' pages need of persistence beyond
// SessionStore: deleting a failed upload, a place for temporary files,
// upload progress and the rep names. *store.DB has all of it; a store
// without it serves no uploads and no rep list.
type replayStore interface {
	DeleteSession(ctx context.Context, id string) error
	Dir() string
	SetUpload(ctx context.Context, u store.Upload) error
	Upload(ctx context.Context, id string) (store.Upload, error)
	Reps(ctx context.Context, a *store.Access) ([]string, error)
	Uploads(ctx context.Context, state string) ([]store.Upload, error)
	DeleteEvents(ctx context.Context, id string) error
}

// errNoReplayStore answers requests that need replayStore when the store
// lacks it.
var errNoReplayStore = errors.New("the store does not support this")

func (s *Server) replayStore() (replayStore, error) {
	rs, ok := s.st.(replayStore)
	if !ok {
		return nil, errNoReplayStore
	}
	return rs, nil
}

// maxTalkPoints bounds the talk series of GET /v1/sessions/{id}/replay.
const maxTalkPoints = 720

// replayResponse is GET /v1/sessions/{id}/replay: everything the replay
// page shows, in one request.
type replayResponse struct {
	Session store.Session `json:"session"`
	// Events are the stored events without talk events and partial
	// transcripts, in order, as stored.
	Events []json.RawMessage `json:"events"`
	// Talk is the talk series downsampled to at most maxTalkPoints points
	// of [at_ms, rep_share, window_rep_share, rep_ms, prospect_ms].
	Talk     [][5]float64     `json:"talk"`
	Comments []store.Comment  `json:"comments"`
	Audio    map[string]bool  `json:"audio"`
	Playbook playbookOverview `json:"playbook"`
	Upload   *store.Upload    `json:"upload,omitempty"`
	// Notes are the language model's post-call notes, if any.
	Notes json.RawMessage `json:"notes,omitempty"`
}

type playbookOverview struct {
	Name   string           `json:"name"`
	Stages []string         `json:"stages"`
	Cues   []coach.CueInfo  `json:"cues"`
	Talk   coach.TalkConfig `json:"talk"`
}

var (
	talkPrefix   = []byte(`{"type":"talk",`)
	transPrefix  = []byte(`{"type":"transcript",`)
	partialField = []byte(`"final":false`)
)

// handleReplay serves the replay page's data: the session with its
// summary, its events without talk and partials, a downsampled talk
// series, comments, and which recordings exist.
func (s *Server) handleReplay(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ses, err := s.st.GetSession(r.Context(), id)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	resp := replayResponse{Session: ses, Events: []json.RawMessage{}, Talk: [][5]float64{},
		Audio: map[string]bool{}, Playbook: s.overview()}
	if resp.Notes, err = s.st.Notes(r.Context(), id); err != nil {
		s.httpError(w, r, err)
		return
	}
	bucket := max(int64(500), ses.DurationMS/maxTalkPoints)
	next := int64(0) // the talk series takes the first talk event at or after next
	var last []byte  // the last talk event not taken, to end the chart on
	talkPoint := func(data []byte) ([5]float64, error) {
		var ev coach.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return [5]float64{}, fmt.Errorf("talk event: %w", err)
		}
		t := ev.Talk
		return [5]float64{float64(ev.AtMS), t.RepShare, t.WindowRepShare, float64(t.RepMS), float64(t.ProspectMS)}, nil
	}
	err = s.st.ReadEvents(r.Context(), id, 0, func(_ int64, data []byte) error {
		switch {
		case bytes.HasPrefix(data, talkPrefix):
			// Decode only the talk events the series keeps.
			if at, ok := talkAt(data); ok && at < next {
				last = append(last[:0], data...)
				return nil
			}
			p, err := talkPoint(data)
			if err != nil {
				return err
			}
			resp.Talk = append(resp.Talk, p)
			next = int64(p[0]) + bucket
			last = last[:0]
		case bytes.HasPrefix(data, transPrefix) && bytes.Contains(data, partialField):
		default:
			resp.Events = append(resp.Events, json.RawMessage(bytes.Clone(data)))
		}
		return nil
	})
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	if len(last) > 0 { // end the chart at the call's last value
		p, err := talkPoint(last)
		if err != nil {
			s.httpError(w, r, err)
			return
		}
		resp.Talk = append(resp.Talk, p)
	}
	if resp.Comments, err = s.st.Comments(r.Context(), id); err != nil {
		s.httpError(w, r, err)
		return
	}
	if resp.Comments == nil {
		resp.Comments = []store.Comment{}
	}
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		_, err := s.st.Recording(r.Context(), id, sp)
		resp.Audio[sp.String()] = err == nil
	}
	if ses.Source == store.SourceUpload {
		if rs, err := s.replayStore(); err == nil {
			if u, err := rs.Upload(r.Context(), id); err == nil {
				resp.Upload = &u
			}
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// talkAt reads at_ms from a stored talk event, which starts
// {"type":"talk","at_ms":N, (coach.Event.AppendJSON writes it so).
func talkAt(data []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(data, talkPrefix)
	if !ok {
		return 0, false
	}
	rest, ok = bytes.CutPrefix(rest, []byte(`"at_ms":`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	at, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return at, err == nil
}

func (s *Server) overview() playbookOverview {
	return playbookOverview{Name: s.pb.Name, Stages: s.pb.Stages, Cues: s.pb.Cues, Talk: s.pb.Talk}
}

// handleTranscript serves the final transcript as plain text, one
// utterance a line: "[m:ss] speaker: text".
func (s *Server) handleTranscript(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ses, err := s.st.GetSession(r.Context(), id)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# cuecard session %s", ses.ID)
	if ses.Rep != "" {
		fmt.Fprintf(&b, ", rep %s", ses.Rep)
	}
	fmt.Fprintf(&b, ", %s\n", ses.CreatedAt.Format("2006-01-02 15:04 MST"))
	if ses.Consent {
		fmt.Fprintf(&b, "# consent (%s, version %d, confirmed %s): %s\n", ses.ConsentPolicy, ses.ConsentVersion,
			ses.ConsentAt.Format(time.RFC3339), strings.Join(strings.Fields(ses.ConsentText), " "))
	} else {
		b.WriteString("# no consent recorded\n")
	}
	err = s.st.ReadEvents(r.Context(), id, 0, func(_ int64, data []byte) error {
		if !bytes.HasPrefix(data, transPrefix) || bytes.Contains(data, partialField) {
			return nil
		}
		var ev coach.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("transcript event: %w", err)
		}
		fmt.Fprintf(&b, "[%s] %s: %s\n", clock(ev.StartMS), ev.Speaker, strings.Join(strings.Fields(ev.Text), " "))
		return nil
	})
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "transcript.export", id, nil)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.transcript.txt"`)
	w.Write(b.Bytes())
}

// clock formats media time as m:ss (h:mm:ss from an hour).
func clock(ms int64) string {
	sec := ms / 1000
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

// handleReps lists the rep names for the library's filter.
func (s *Server) handleReps(w http.ResponseWriter, r *http.Request) {
	rs, err := s.replayStore()
	if err != nil {
		writeJSON(w, http.StatusOK, []string{})
		return
	}
	reps, err := rs.Reps(r.Context(), accessOf(principal(r)))
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, reps)
}

// handlePlaybookSource serves the YAML of the playbook in use, the
// starting point for a backtest.
func (s *Server) handlePlaybookSource(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="playbook.yaml"`)
	w.Write(s.pb.Source)
}

// playbookCheck is the answer of POST /v1/playbook/check and the error of
// a bad playbook in POST /v1/backtest.
type playbookCheck struct {
	OK    bool              `json:"ok"`
	Error string            `json:"error,omitempty"`
	File  string            `json:"file,omitempty"`
	Line  int               `json:"line,omitempty"`
	Msg   string            `json:"message,omitempty"`
	Name  string            `json:"name,omitempty"`
	Cues  []coach.CueInfo   `json:"cues,omitempty"`
	Talk  *coach.TalkConfig `json:"talk,omitempty"`
}

// parsePlaybook compiles src, turning a playbook error into its check.
func parsePlaybook(name string, src []byte) (*coach.Playbook, *playbookCheck) {
	pb, err := coach.ParsePlaybook(name, src)
	if err != nil {
		c := &playbookCheck{Error: oneLine(err.Error())}
		var pe *coach.PlaybookError
		if errors.As(err, &pe) {
			c.File, c.Line, c.Msg = pe.File, pe.Line, pe.Msg
		}
		return nil, c
	}
	return pb, nil
}

// handlePlaybookCheck compiles the YAML body and reports the first
// problem with its line, for the playbook editor.
func (s *Server) handlePlaybookCheck(w http.ResponseWriter, r *http.Request) {
	src, err := readLimited(w, r, coach.MaxPlaybookSize)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	pb, bad := parsePlaybook("playbook.yaml", src)
	if bad != nil {
		writeJSON(w, http.StatusUnprocessableEntity, bad)
		return
	}
	writeJSON(w, http.StatusOK, playbookCheck{OK: true, Name: pb.Name, Cues: pb.Cues, Talk: &pb.Talk})
}

// handleLibraryPage and handleReplayPage serve the coaches' pages.
func (s *Server) handleLibraryPage(w http.ResponseWriter, r *http.Request) {
	s.servePage(w, r, "sessions.html")
}

func (s *Server) handleReplayPage(w http.ResponseWriter, r *http.Request) {
	s.servePage(w, r, "replay.html")
}

// servePage writes one of the coaches' pages with a fresh CSP nonce: the
// waveform library puts a <style> in its shadow root and passes the nonce
// (read from <meta name="csp-nonce">) to it, so styles stay 'self' plus
// that one element.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request, name string) {
	if !s.pageAllowed(w, r) {
		return
	}
	b, err := fs.ReadFile(s.cfg.UI, name)
	if err != nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	var raw [16]byte
	rand.Read(raw[:])
	nonce := base64.RawStdEncoding.EncodeToString(raw[:])
	b = bytes.ReplaceAll(b, []byte("{{csp-nonce}}"), []byte(nonce))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", strings.Replace(uiCSP, "style-src 'self'", "style-src 'self' 'nonce-"+nonce+"'", 1))
	w.Write(b)
}
