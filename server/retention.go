package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/store"
)

// RetentionStore is what the retention job needs of the store.
type RetentionStore interface {
	RetentionDue(ctx context.Context, now time.Time) ([]store.RetentionItem, error)
	Purge(ctx context.Context, id, what string) error
}

// settingRetentionRun holds when the retention job last ran (Unix ms), so
// that a restart neither skips a due run nor runs it again at once.
const settingRetentionRun = "retention_last_run"

// RetentionReport is what one retention pass removed, or would remove
// (DryRun).
type RetentionReport struct {
	At      time.Time             `json:"at"`
	DryRun  bool                  `json:"dry_run"`
	Items   []store.RetentionItem `json:"items"`
	Removed int                   `json:"removed"`
	Errors  []string              `json:"errors,omitempty"`
}

func (s *Server) retentionRoutes(rt router) {
	rt.handleFunc("GET /v1/retention", Admin, auth.ScopeAdmin, s.handleRetentionReport)
	rt.handleFunc("POST /v1/retention/run", Admin, auth.ScopeAdmin, s.handleRetentionRun)
}

// now is the server's clock (Config.Now, for tests).
func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// RunRetention applies every team's retention policy once: recordings
// and transcripts past their team's periods are removed, sessions on
// legal hold are left alone. With dryRun it only reports what it would
// remove. Each removal is in the audit log.
func (s *Server) RunRetention(ctx context.Context, dryRun bool) (RetentionReport, error) {
	rep := RetentionReport{At: s.now(), DryRun: dryRun, Items: []store.RetentionItem{}}
	if s.ret == nil {
		return rep, errors.New("the store keeps no retention policies")
	}
	items, err := s.ret.RetentionDue(ctx, rep.At)
	if err != nil {
		return rep, err
	}
	rep.Items = append(rep.Items, items...)
	if dryRun {
		return rep, nil
	}
	for _, it := range items {
		if err := s.ret.Purge(ctx, it.SessionID, it.What); err != nil {
			if !errors.Is(err, store.ErrHeld) && !errors.Is(err, store.ErrNotFound) {
				rep.Errors = append(rep.Errors, it.SessionID+": "+err.Error())
			}
			continue
		}
		if it.What == store.PurgeRecordings {
			if err := s.deleteRecordingObjects(ctx, it.SessionID); err != nil {
				rep.Errors = append(rep.Errors, it.SessionID+": "+err.Error())
			}
		}
		rep.Removed++
		s.appendAudit(ctx, store.AuditEntry{Actor: "retention", Action: "retention." + it.What, Target: it.SessionID,
			Detail: jsonDetail(map[string]any{"team": it.Team, "keep_days": it.KeepDays})})
	}
	if s.acc != nil {
		if err := s.acc.SetSetting(ctx, settingRetentionRun, strconv.FormatInt(rep.At.UnixMilli(), 10)); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// retentionLoop runs retention every RetentionEvery, the first time when
// the stored last run is that old (at once if there is none), so that a
// restart neither skips a due pass nor repeats one. It returns when ctx is
// done.
func (s *Server) retentionLoop(ctx context.Context) {
	every := s.cfg.RetentionEvery
	wait := time.Duration(0)
	if last, ok := s.lastRetention(ctx); ok {
		wait = max(0, every-s.now().Sub(last))
	}
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if rep, err := s.RunRetention(ctx, false); err != nil {
			s.log.Error("retention", "err", err)
		} else if rep.Removed > 0 || len(rep.Errors) > 0 {
			s.log.Info("retention", "removed", rep.Removed, "errors", len(rep.Errors))
		}
		wait = every
	}
}

func (s *Server) lastRetention(ctx context.Context) (time.Time, bool) {
	if s.acc == nil {
		return time.Time{}, false
	}
	v, ok, err := s.acc.Setting(ctx, settingRetentionRun)
	if err != nil || !ok {
		return time.Time{}, false
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// handleRetentionReport is the dry run: what retention would remove now.
func (s *Server) handleRetentionReport(w http.ResponseWriter, r *http.Request) {
	rep, err := s.RunRetention(r.Context(), true)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

// handleRetentionRun applies retention now.
func (s *Server) handleRetentionRun(w http.ResponseWriter, r *http.Request) {
	rep, err := s.RunRetention(r.Context(), false)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	s.audit(r, "retention.run", "", map[string]any{"removed": rep.Removed})
	writeJSON(w, http.StatusOK, rep)
}
