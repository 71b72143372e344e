package server

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
)

const (
	// maxBacktestSessions bounds the sessions of one backtest.
	maxBacktestSessions = 100
	// defaultMovedMS is how far a cue may shift before it counts as moved.
	defaultMovedMS = 1000
	// matchWindowMS is how far apart the same cue may fire under both
	// playbooks and still be one cue that moved, not one removed and one
	// added.
	matchWindowMS = 60000
)

// backtestRequest is the body of POST /v1/backtest. Sessions come from
// SessionIDs, or else from Filter, a query string in GET /v1/sessions'
// terms ("rep=ann&min_stage=discovery").
type backtestRequest struct {
	Playbook   string   `json:"playbook"`
	SessionIDs []string `json:"session_ids"`
	Filter     *string  `json:"filter"`
	MovedMS    int64    `json:"moved_ms"`
}

// backtestCue is one cue in a backtest diff.
type backtestCue struct {
	Cue      string `json:"cue"`
	Title    string `json:"title"`
	Evidence string `json:"evidence,omitempty"`
	// AtMS is when it fired (under the new playbook for added and moved
	// cues, under the stored one for removed cues); FromMS is the stored
	// time of a moved cue.
	AtMS    int64  `json:"at_ms"`
	FromMS  *int64 `json:"from_ms,omitempty"`
	Outcome string `json:"outcome,omitempty"`
}

// backtestSession is the diff of one session.
type backtestSession struct {
	ID        string        `json:"id"`
	Rep       string        `json:"rep"`
	CreatedAt string        `json:"created_at"`
	Stored    int           `json:"stored"`
	New       int           `json:"new"`
	Same      int           `json:"same"`
	Added     []backtestCue `json:"added"`
	Removed   []backtestCue `json:"removed"`
	Moved     []backtestCue `json:"moved"`
	Error     string        `json:"error,omitempty"`
}

type backtestResponse struct {
	Playbook string            `json:"playbook"`
	MovedMS  int64             `json:"moved_ms"`
	Sessions []backtestSession `json:"sessions"`
	// Truncated says the filter matched more sessions than one backtest runs.
	Truncated bool `json:"truncated,omitempty"`
}

// readLimited reads a body of at most n bytes.
func readLimited(w http.ResponseWriter, r *http.Request, n int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, n))
	if err != nil {
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return nil, err
		}
		return nil, badRequest("reading the body: %v", err)
	}
	return b, nil
}

// handleBacktest re-runs stored sessions through another playbook and
// diffs the cues it fires against the stored ones. The stored sessions
// are only read.
func (s *Server) handleBacktest(w http.ResponseWriter, r *http.Request) {
	body, err := readLimited(w, r, 2*coach.MaxPlaybookSize)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	var req backtestRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.httpError(w, r, badRequest("%v", err))
		return
	}
	if req.Playbook == "" {
		s.httpError(w, r, badRequest("playbook: the YAML source is required"))
		return
	}
	pb, bad := parsePlaybook("playbook.yaml", []byte(req.Playbook))
	if bad != nil {
		writeJSON(w, http.StatusUnprocessableEntity, bad)
		return
	}
	if req.MovedMS <= 0 {
		req.MovedMS = defaultMovedMS
	}
	ids, truncated, err := s.backtestIDs(r, req)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	resp := backtestResponse{Playbook: pb.Name, MovedMS: req.MovedMS, Sessions: []backtestSession{}, Truncated: truncated}
	for _, id := range ids {
		res, err := s.backtestSession(r.Context(), pb, id, req.MovedMS)
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, errNotEnded) {
			res = backtestSession{ID: id, Error: oneLine(err.Error())}
		} else if err != nil {
			s.httpError(w, r, err)
			return
		}
		resp.Sessions = append(resp.Sessions, res)
	}
	writeJSON(w, http.StatusOK, resp)
}

var errNotEnded = errors.New("session has not ended")

func (s *Server) backtestIDs(r *http.Request, req backtestRequest) ([]string, bool, error) {
	switch {
	case len(req.SessionIDs) > 0 && req.Filter != nil:
		return nil, false, badRequest("give session_ids or filter, not both")
	case len(req.SessionIDs) > maxBacktestSessions:
		return nil, false, badRequest("at most %d sessions per backtest", maxBacktestSessions)
	case len(req.SessionIDs) > 0:
		for _, id := range req.SessionIDs {
			if _, err := s.readable(r.Context(), principal(r), id); err != nil {
				return nil, false, fmt.Errorf("session %q: %w", id, err)
			}
		}
		return req.SessionIDs, false, nil
	case req.Filter == nil:
		return nil, false, badRequest("give session_ids or filter")
	}
	q, err := url.ParseQuery(*req.Filter)
	if err != nil {
		return nil, false, badRequest("filter: %v", err)
	}
	q.Set("status", store.StatusEnded)
	q.Set("limit", fmt.Sprint(maxBacktestSessions))
	q.Del("cursor")
	q.Del("offset")
	f, err := parseList(&http.Request{URL: &url.URL{RawQuery: q.Encode()}})
	if err != nil {
		return nil, false, err
	}
	f.Access = accessOf(principal(r))
	page, err := s.st.ListSessions(r.Context(), f)
	if err != nil {
		return nil, false, err
	}
	ids := make([]string, len(page.Sessions))
	for i, ses := range page.Sessions {
		ids[i] = ses.ID
	}
	return ids, page.NextCursor != "", nil
}

// backtestSession replays one stored session's speech and final
// transcripts through pb and diffs the cues.
func (s *Server) backtestSession(ctx context.Context, pb *coach.Playbook, id string, movedMS int64) (backtestSession, error) {
	ses, err := s.st.GetSession(ctx, id)
	if err != nil {
		return backtestSession{}, err
	}
	if ses.Status != store.StatusEnded {
		return backtestSession{}, fmt.Errorf("%s: %w", id, errNotEnded)
	}
	res := backtestSession{ID: id, Rep: ses.Rep, CreatedAt: ses.CreatedAt.Format("2006-01-02T15:04:05Z07:00"),
		Added: []backtestCue{}, Removed: []backtestCue{}, Moved: []backtestCue{}}
	var stored []firedCue
	inputs, end, err := s.storedInputs(ctx, id, func(ev coach.Event) { stored = collectCue(stored, ev) })
	if err != nil {
		return backtestSession{}, err
	}
	end = max(end, ses.DurationMS)
	fresh, err := rerun(ctx, pb, inputs, end)
	if err != nil {
		return backtestSession{}, fmt.Errorf("backtest %s: %w", id, err)
	}
	res.Stored, res.New = len(stored), len(fresh)
	diffCues(&res, stored, fresh, movedMS)
	return res, nil
}

// firedCue is a cue with its outcome.
type firedCue struct {
	id, cue, title, evidence string
	at                       int64
	outcome                  string
}

// collectCue adds a cue event to cues, or sets the outcome of a cue from
// a cue_outcome event.
func collectCue(cues []firedCue, ev coach.Event) []firedCue {
	switch ev.Type {
	case coach.EventCue:
		cues = append(cues, firedCue{id: ev.ID, cue: ev.Cue, title: ev.Title, evidence: ev.Evidence, at: ev.AtMS, outcome: "open"})
	case coach.EventOutcome:
		for i := range cues {
			if cues[i].id == ev.ID {
				cues[i].outcome = "missed"
				if ev.Taken {
					cues[i].outcome = "taken"
				}
			}
		}
	}
	return cues
}

// rerun replays inputs, in media time with ticks, through a fresh call
// on pb and returns the cues it fires.
func rerun(ctx context.Context, pb *coach.Playbook, inputs []coach.Input, end int64) ([]firedCue, error) {
	var cues []firedCue
	c := stream.NewCall(stream.DefaultConfig(), nil, pb, func(ev coach.Event) error {
		cues = collectCue(cues, ev)
		return nil
	}, stream.CallOptions{})
	defer c.Close()
	if _, err := stream.ReplayInputs(ctx, inputs, int64(max(pb.Talk.IntervalMS, 1)), end, c.Step); err != nil {
		return nil, err
	}
	c.EndAtLeast(end)
	if _, err := c.Finish(ctx); err != nil {
		return nil, err
	}
	return cues, nil
}

// diffCues pairs stored and new cues of the same kind, closest first
// within matchWindowMS; a pair further apart than movedMS has moved, an
// unpaired stored cue was removed, an unpaired new one added.
func diffCues(res *backtestSession, stored, fresh []firedCue, movedMS int64) {
	type pair struct {
		i, j int
		d    int64
	}
	var pairs []pair
	for i, a := range stored {
		for j, b := range fresh {
			if d := abs(a.at - b.at); a.cue == b.cue && d <= matchWindowMS {
				pairs = append(pairs, pair{i, j, d})
			}
		}
	}
	slices.SortStableFunc(pairs, func(a, b pair) int { return cmp.Compare(a.d, b.d) })
	usedOld, usedNew := make([]bool, len(stored)), make([]bool, len(fresh))
	for _, p := range pairs {
		if usedOld[p.i] || usedNew[p.j] {
			continue
		}
		usedOld[p.i], usedNew[p.j] = true, true
		if p.d <= movedMS {
			res.Same++
			continue
		}
		from := stored[p.i].at
		c := toBacktestCue(fresh[p.j])
		c.FromMS = &from
		res.Moved = append(res.Moved, c)
	}
	for i, c := range stored {
		if !usedOld[i] {
			res.Removed = append(res.Removed, toBacktestCue(c))
		}
	}
	for j, c := range fresh {
		if !usedNew[j] {
			res.Added = append(res.Added, toBacktestCue(c))
		}
	}
	byTime := func(a, b backtestCue) int { return cmp.Compare(a.AtMS, b.AtMS) }
	slices.SortFunc(res.Moved, byTime)
}

func toBacktestCue(c firedCue) backtestCue {
	return backtestCue{Cue: c.cue, Title: c.title, Evidence: c.evidence, AtMS: c.at, Outcome: c.outcome}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
