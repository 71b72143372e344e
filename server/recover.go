package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
)

// errInterrupted is the reason an upload that cannot resume fails with.
var errInterrupted = errors.New("interrupted by a server restart; upload again")

// recoverSession ends a session a previous process left live: its
// recordings are repaired and registered, and its stored speech and final
// transcripts are replayed through the coach for the summary.
func (s *Server) recoverSession(ctx context.Context, ses store.Session) error {
	endMS := s.recoverRecordings(ctx, ses.ID)
	inputs, end, err := s.storedInputs(ctx, ses.ID, nil)
	if err != nil {
		return err
	}
	var sum *coach.Summary
	c := stream.NewCall(stream.DefaultConfig(), nil, s.pb, func(ev coach.Event) error {
		if ev.Type == coach.EventSummary {
			sum = ev.Summary
		}
		return nil
	}, stream.CallOptions{})
	defer c.Close()
	end = max(end, endMS)
	if _, err := stream.ReplayInputs(ctx, inputs, int64(max(s.pb.Talk.IntervalMS, 1)), end, c.Step); err != nil {
		return fmt.Errorf("replay session %s: %w", ses.ID, err)
	}
	c.EndAtLeast(end)
	if _, err := c.Finish(ctx); err != nil {
		return fmt.Errorf("replay session %s: %w", ses.ID, err)
	}
	if sum != nil {
		seq, err := s.st.LastSeq(ctx, ses.ID)
		if err != nil {
			return err
		}
		if err := s.st.AppendEvents(ctx, ses.ID, seq+1, []coach.Event{{Type: coach.EventSummary, AtMS: end, Summary: sum}}); err != nil {
			return err
		}
	}
	if err := s.st.EndSession(ctx, ses.ID, sum); err != nil && !errors.Is(err, store.ErrEnded) {
		return fmt.Errorf("end session %s: %w", ses.ID, err)
	}
	return nil
}

// recoverRecordings repairs the session's WAV recordings (a crash leaves
// their header sizes behind the data) and registers those that are not
// (with recording keys, seals and registers them all);
// it returns the length of the longest in ms. Failures are logged: a
// recording that cannot be repaired does not keep the session from ending.
func (s *Server) recoverRecordings(ctx context.Context, id string) int64 {
	endMS := s.recoverSegments(ctx, id)
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		for _, kind := range []struct{ ext, contentType string }{{"wav", "audio/wav"}, {"ogg", "audio/ogg"}} {
			p, err := s.st.RecordingPath(id, sp, kind.ext)
			if err != nil {
				s.log.Error("recover recording", "session", id, "err", err)
				continue
			}
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if kind.ext == "wav" {
				fm, n, err := audio.RepairWAV(p)
				if err != nil {
					s.log.Error("repair recording", "session", id, "path", p, "err", err)
					continue
				}
				endMS = max(endMS, n*1000/int64(fm.SampleRate))
			}
			if _, err := s.st.Recording(ctx, id, sp); err == nil && s.cfg.RecordingKeys == nil {
				continue
			}
			if err := s.finalizeRecording(ctx, id, sp, p, kind.contentType, true); err != nil {
				s.log.Error("register recording", "session", id, "path", p, "err", err)
			}
		}
	}
	return endMS
}

// storedInputs reads a session's stored events and returns the coach
// inputs they came from (speech starts and ends, final transcripts) and
// the media time of the last; each event also goes to onEvent, if set.
func (s *Server) storedInputs(ctx context.Context, id string, onEvent func(coach.Event)) ([]coach.Input, int64, error) {
	var (
		inputs []coach.Input
		end    int64
	)
	err := s.st.ReadEvents(ctx, id, 0, func(_ int64, data []byte) error {
		var ev coach.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			return fmt.Errorf("event: %w", err)
		}
		end = max(end, ev.AtMS)
		switch ev.Type {
		case coach.EventSpeech:
			inputs = append(inputs,
				coach.Input{Kind: coach.SpeechStart, AtMS: ev.StartMS, Speaker: ev.Speaker, StartMS: ev.StartMS},
				coach.Input{Kind: coach.SpeechEnd, AtMS: ev.AtMS, Speaker: ev.Speaker, StartMS: ev.StartMS, EndMS: ev.EndMS})
		case coach.EventTranscript:
			if ev.Final {
				inputs = append(inputs, coach.Input{Kind: coach.Final, AtMS: ev.AtMS, Speaker: ev.Speaker,
					StartMS: ev.StartMS, EndMS: ev.EndMS, Text: ev.Text})
			}
		}
		if onEvent != nil {
			onEvent(ev)
		}
		return nil
	})
	return inputs, end, err
}

// recoverUploads resumes the analyses a previous process left running:
// an upload whose converted recordings are still in its session's audio
// directory starts over from them; one without fails with
// errInterrupted; one whose recordings were being sealed had finished
// and is marked done. Temporary upload files (upload-* under the data
// directory) are removed. It returns how many it resumed.
func (s *Server) recoverUploads(ctx context.Context) (int, error) {
	rs, err := s.replayStore()
	if err != nil {
		return 0, nil // a store without uploads has none to resume
	}
	tmps, err := filepath.Glob(filepath.Join(rs.Dir(), "upload-*"))
	if err != nil {
		return 0, err
	}
	for _, t := range tmps {
		if err := os.RemoveAll(t); err != nil {
			return 0, fmt.Errorf("remove temporary upload files: %w", err)
		}
	}
	if s.cfg.Jobs != nil && s.cfg.Jobs.Durable() {
		return 0, nil // their jobs are in the queue, for any node
	}
	us, err := rs.Uploads(ctx, store.UploadAnalyzing)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, u := range us {
		if s.uploadSealed(ctx, u.ID) {
			if err := s.completeUpload(ctx, rs, u.ID, u.TotalMS); err != nil {
				s.log.Error("complete upload", "session", u.ID, "err", err)
			}
			continue
		}
		paths, ok := s.uploadInputs(ctx, u.ID)
		if ok {
			if err := rs.DeleteEvents(ctx, u.ID); err != nil {
				s.log.Error("restart upload", "session", u.ID, "err", err)
				ok = false
			}
		}
		if ok {
			id, total := u.ID, u.TotalMS
			if s.cfg.Jobs != nil {
				err = s.enqueueUpload(ctx, id, paths, total)
			} else {
				err = s.spawn(func() { s.analyzeUpload(s.base, rs, id, paths, total) })
			}
			if err != nil {
				return n, err
			}
			n++
			continue
		}
		s.failUpload(ctx, rs, u.ID, u.TotalMS, errInterrupted.Error())
	}
	return n, nil
}

// uploadSealed reports whether a recording of upload id is sealed: its
// analysis finished and a restart came before it was marked done.
func (s *Server) uploadSealed(ctx context.Context, id string) bool {
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		if r, err := s.st.Recording(ctx, id, sp); err == nil && strings.HasSuffix(r.Path, sealedExt) {
			return true
		}
	}
	return false
}

// uploadInputs returns the converted recordings of upload id, if both
// are still there.
func (s *Server) uploadInputs(ctx context.Context, id string) ([2]string, bool) {
	var paths [2]string
	for i, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		r, err := s.st.Recording(ctx, id, sp)
		if err != nil {
			return paths, false
		}
		if _, err := os.Stat(r.Path); err != nil {
			return paths, false
		}
		paths[i] = r.Path
	}
	return paths, true
}

// failUpload deletes the upload's session and records why it failed.
func (s *Server) failUpload(ctx context.Context, rs replayStore, id string, totalMS int64, msg string) {
	// Failed first: an upload still analyzing whose session is gone would
	// answer 404 to the uploader polling it in between.
	if err := rs.SetUpload(ctx, store.Upload{ID: id, State: store.UploadFailed, TotalMS: totalMS, Error: msg}); err != nil {
		s.log.Error("upload state", "session", id, "err", err)
	}
	if err := rs.DeleteSession(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("delete failed upload", "session", id, "err", err)
	}
}
