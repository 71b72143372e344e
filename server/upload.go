package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
)

// maxUploadBytes bounds the body of POST /v1/uploads: an hour of 48 kHz
// stereo 24-bit audio with room to spare.
const maxUploadBytes = 1 << 30

// uploadBatch is how many events an upload's analysis stores at once.
const uploadBatch = 512

// uploadProgressEvery is how much media time passes between progress
// updates of an upload.
const uploadProgressEvery = 10 * 60 * 1000 / 100 // 1% of a 10-minute call

// handleUpload takes a recording made elsewhere (multipart: a file field
// "stereo", or "rep" and "prospect"; optional text fields "rep_name" and
// "title"), checks and converts it while the request lasts, so that a bad
// file is a 4xx and nothing is stored, then answers 202 {"id":..} and
// analyzes it on a goroutine the server owns. GET /v1/uploads/{id} shows
// the progress.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	rs, err := s.replayStore()
	if err != nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": err.Error()})
		return
	}
	release, err := s.admitUpload(w, r)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	handedOver := false
	defer func() {
		if !handedOver {
			release()
		}
	}()
	tmp, err := os.MkdirTemp(filepath.Join(rs.Dir()), "upload-")
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	defer os.RemoveAll(tmp)
	in, conv, totalMS, err := s.receiveAndConvert(w, r, tmp)
	if err != nil {
		s.httpError(w, r, err)
		return
	}

	ses, err := s.createUploaded(r, in)
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	fail := func(err error) {
		// Nothing half-stored: the session, its events and files go.
		if derr := rs.DeleteSession(context.WithoutCancel(r.Context()), ses.ID); derr != nil {
			s.log.Error("delete failed upload", "session", ses.ID, "err", derr)
		}
		s.httpError(w, r, err)
	}
	var paths [2]string
	for i, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		p, err := s.st.RecordingPath(ses.ID, sp, "wav")
		if err == nil {
			err = os.Rename(conv[i], p)
		}
		if err == nil {
			err = s.st.AddRecording(r.Context(), ses.ID, sp, p, "audio/wav")
		}
		if err != nil {
			fail(err)
			return
		}
		paths[i] = p
	}
	if err := rs.SetUpload(r.Context(), store.Upload{ID: ses.ID, State: store.UploadAnalyzing, TotalMS: totalMS}); err != nil {
		fail(err)
		return
	}
	if s.cfg.Jobs != nil {
		// The queue bounds the analyses; the slot bounded the receiving.
		if err := s.enqueueUpload(r.Context(), ses.ID, paths, totalMS); err != nil {
			fail(err)
			return
		}
	} else if err := s.spawn(func() {
		defer release()
		s.analyzeUpload(s.base, rs, ses.ID, paths, totalMS)
	}); err != nil {
		fail(err)
		return
	} else {
		handedOver = true
	}
	w.Header().Set("Location", "/v1/sessions/"+ses.ID)
	writeJSON(w, http.StatusAccepted, map[string]any{"id": ses.ID, "state": store.UploadAnalyzing, "total_ms": totalMS})
}

// createUploaded stores the session of an upload, owned by the uploader,
// with the consent they confirmed.
func (s *Server) createUploaded(r *http.Request, in uploadInput) (store.Session, error) {
	p := principal(r)
	if in.repName == "" {
		in.repName = displayName(p)
	}
	n := store.NewSession{Rep: in.repName, Title: in.title, Source: store.SourceUpload, Backend: s.cfg.Backend,
		SampleRate: stream.Rate, Owner: p.UserID, Team: firstTeam(p), Consent: in.consent, ConsentText: in.consentText}
	if err := s.consentRecord(r.Context(), p, &n); err != nil {
		return store.Session{}, err
	}
	return s.st.CreateSession(r.Context(), n)
}

// admitUpload applies the upload rate and concurrency limits and gives
// the request the time a large recording takes to send; release frees
// the concurrency slot.
func (s *Server) admitUpload(w http.ResponseWriter, r *http.Request) (release func(), err error) {
	if s.uploadLim != nil && !s.uploadLim.Allow(principal(r).UserID) {
		return nil, fmt.Errorf("%w: too many uploads; try again later", ErrRateLimited)
	}
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.UploadReadTimeout))
	return s.uploadSlot()
}

// receiveAndConvert receives an upload into dir and converts it to one
// 16-bit mono WAV per side; this reads every sample, so a truncated or
// corrupt file fails here, before anything is stored. It returns the
// converted files and the call's length.
func (s *Server) receiveAndConvert(w http.ResponseWriter, r *http.Request, dir string) (uploadInput, [2]string, int64, error) {
	maxBytes := s.cfg.Limits.MaxUploadBytes
	if maxBytes <= 0 {
		maxBytes = maxUploadBytes
	}
	conv := [2]string{filepath.Join(dir, "rep.wav"), filepath.Join(dir, "prospect.wav")}
	in, err := receiveUpload(w, r, dir, maxBytes)
	if err != nil {
		return in, conv, 0, err
	}
	var totalMS int64
	if in.stereo != "" {
		totalMS, err = splitWAV(in.stereo, conv, "stereo")
	} else {
		var a, b int64
		if a, err = splitWAV(in.rep, [2]string{conv[0]}, "rep"); err == nil {
			b, err = splitWAV(in.prospect, [2]string{conv[1]}, "prospect")
		}
		totalMS = max(a, b)
	}
	if l := s.cfg.Limits.MaxUploadLength; err == nil && l > 0 && totalMS > l.Milliseconds() {
		err = fmt.Errorf("%w: the recording is %s long, more than the %s allowed", errTooLarge, time.Duration(totalMS)*time.Millisecond, l)
	}
	return in, conv, totalMS, err
}

type uploadInput struct {
	stereo, rep, prospect string // temporary files
	repName, title        string
	// consent is the uploader's confirmation that the people on the call
	// were told (the field "consent": true, on or yes), consentText what.
	consent     bool
	consentText string
}

// receiveUpload streams the multipart body's files into dir.
func receiveUpload(w http.ResponseWriter, r *http.Request, dir string, maxBytes int64) (uploadInput, error) {
	var in uploadInput
	r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return in, badRequest("want a multipart/form-data body with a file field stereo, or rep and prospect")
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var me *http.MaxBytesError
			if errors.As(err, &me) {
				return in, err
			}
			return in, badRequest("multipart body: %v", err)
		}
		name := part.FormName()
		switch name {
		case "stereo", "rep", "prospect":
			if part.FileName() == "" && name == "rep" {
				// A plain field "rep" is the rep's name, not a file.
				if in.repName, err = readField(part); err != nil {
					return in, err
				}
				continue
			}
			p := filepath.Join(dir, name+".upload")
			if err := saveFile(part, p); err != nil {
				return in, err
			}
			switch name {
			case "stereo":
				in.stereo = p
			case "rep":
				in.rep = p
			default:
				in.prospect = p
			}
		case "rep_name":
			if in.repName, err = readField(part); err != nil {
				return in, err
			}
		case "title":
			if in.title, err = readField(part); err != nil {
				return in, err
			}
		case "consent":
			v, err := readField(part)
			if err != nil {
				return in, err
			}
			in.consent = v == "true" || v == "on" || v == "yes"
		case "consent_text":
			if in.consentText, err = readField(part); err != nil {
				return in, err
			}
		default:
			part.Close()
			return in, badRequest("unknown field %q: want stereo, or rep and prospect (files), rep_name, title, consent, consent_text", name)
		}
		part.Close()
	}
	switch {
	case in.stereo != "" && (in.rep != "" || in.prospect != ""):
		return in, badRequest("send either stereo, or rep and prospect, not both")
	case in.stereo == "" && (in.rep == "") != (in.prospect == ""):
		return in, badRequest("rep and prospect go together")
	case in.stereo == "" && in.rep == "":
		return in, badRequest("no recording: send a file field stereo, or rep and prospect")
	case !in.consent:
		return in, fmt.Errorf("%w (upload: the field consent=true and consent_text)", ErrNoConsent)
	}
	return in, nil
}

func readField(p *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(p, 1024))
	if err != nil {
		return "", badRequest("multipart body: %v", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func saveFile(src io.Reader, path string) error {
	f, err := openPrivate(path, os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var me *http.MaxBytesError
	if err != nil && !errors.As(err, &me) {
		return badRequest("upload interrupted: %v", err)
	}
	return err
}

// splitWAV decodes the WAV file at src (named field in errors) and writes
// 16-bit mono WAV at the file's own rate: with two outputs the left and
// right channels, with one (dst[1] == "") the mixdown. It returns the
// duration in ms; a file that is not usable WAV is a bad request.
func splitWAV(src string, dst [2]string, field string) (int64, error) {
	in, err := audio.OpenWAV(src)
	if err != nil {
		return 0, badRequest("%s: %s", field, wavProblem(err, src))
	}
	defer in.Close()
	fm := in.Format()
	split := dst[1] != ""
	if split && fm.Channels != 2 {
		return 0, badRequest("stereo: want 2 channels (left rep, right prospect), file has %d", fm.Channels)
	}
	var outs []*audio.WAVWriter
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, p := range dst {
		if p == "" {
			continue
		}
		f, err := openPrivate(p, os.O_RDWR|os.O_TRUNC)
		if err != nil {
			return 0, err
		}
		files = append(files, f)
		ww, err := audio.NewWAVWriter(f, fm.SampleRate, 1)
		if err != nil {
			return 0, err
		}
		outs = append(outs, ww)
	}
	rd, err := audio.NewReader(in.WAVReader, audio.ReaderOptions{Split: split})
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	for {
		ch, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, badRequest("%s: %s", field, wavProblem(err, src))
		}
		for c, ww := range outs {
			if werr := ww.Write(ch[c]); werr != nil {
				return 0, werr
			}
		}
	}
	frames := rd.Frames()
	if frames == 0 {
		return 0, badRequest("%s: the recording has no samples", field)
	}
	for _, ww := range outs {
		if err := ww.Close(); err != nil {
			return 0, err
		}
	}
	return frames * 1000 / int64(fm.SampleRate), nil
}

// wavProblem is the decoder's error without the temporary file's path.
func wavProblem(err error, path string) string {
	msg := strings.ReplaceAll(err.Error(), path+": ", "")
	return strings.ReplaceAll(msg, path, "file")
}

// analyzeUpload runs the live pipeline over an upload's two sides, stores
// its events and summary and ends the session; on failure (or shutdown)
// it deletes the session and records why. It blocks until done.
func (s *Server) analyzeUpload(ctx context.Context, rs replayStore, id string, paths [2]string, totalMS int64) {
	err := s.runUpload(ctx, rs, id, paths, totalMS)
	if err == nil {
		return
	}
	s.log.Warn("upload analysis failed", "session", id, "err", err)
	msg := "analysis failed: " + oneLine(err.Error())
	if errors.Is(err, context.Canceled) {
		msg = "the server shut down during the analysis; upload again"
	}
	// Clean up even when ctx is cancelled by shutdown.
	s.failUpload(context.WithoutCancel(ctx), rs, id, totalMS, msg)
}

func (s *Server) runUpload(ctx context.Context, rs replayStore, id string, paths [2]string, totalMS int64) error {
	if err := s.st.MarkLive(ctx, id, stream.Rate); err != nil {
		return err
	}
	var (
		batch    []coach.Event
		seq      int64 = 1
		reported int64
		last     = time.Now()
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.st.AppendEvents(ctx, id, seq, batch); err != nil {
			return err
		}
		seq += int64(len(batch))
		batch = batch[:0]
		return nil
	}
	progress := func(in coach.Input) error {
		if in.AtMS-reported >= uploadProgressEvery || time.Since(last) > time.Second {
			reported, last = in.AtMS, time.Now()
			return rs.SetUpload(ctx, store.Upload{ID: id, State: store.UploadAnalyzing, DoneMS: min(in.AtMS, totalMS), TotalMS: totalMS})
		}
		return nil
	}
	c := stream.NewCall(s.cfg.Pipeline, s.tr, s.pb, func(ev coach.Event) error {
		batch = append(batch, ev)
		if len(batch) >= uploadBatch {
			return flush()
		}
		return nil
	}, stream.CallOptions{Input: progress})
	defer c.Close()
	if err := c.PlayFiles(ctx, paths[0], paths[1]); err != nil {
		return err
	}
	c.EndAtLeast(totalMS)
	sum, err := c.Finish(ctx)
	if err != nil {
		return err
	}
	if err := flush(); err != nil {
		return err
	}
	if sum == nil {
		return fmt.Errorf("the coach gave no summary")
	}
	if err := s.st.EndSession(ctx, id, sum); err != nil {
		return err
	}
	return s.completeUpload(ctx, rs, id, totalMS)
}

// completeUpload seals an analyzed upload's recordings (with recording
// keys) and publishes them (with a blob store), then marks it done. Sealing comes first: an upload still
// analyzing with a sealed recording had finished its analysis, and
// recovery completes it (see recoverUploads). A recording that cannot be
// sealed is logged and stays in the clear.
func (s *Server) completeUpload(ctx context.Context, rs replayStore, id string, totalMS int64) error {
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		if s.cfg.RecordingKeys == nil && s.cfg.Recordings == nil {
			break // registered when stored
		}
		p, err := s.st.RecordingPath(id, sp, "wav")
		if err == nil {
			err = s.finalizeRecording(context.WithoutCancel(ctx), id, sp, p, "audio/wav", true)
		}
		if err != nil {
			s.log.Error("seal upload recording", "session", id, "err", err)
		}
	}
	return rs.SetUpload(ctx, store.Upload{ID: id, State: store.UploadDone, DoneMS: totalMS, TotalMS: totalMS})
}

// handleUploadProgress answers the progress of an upload's analysis.
func (s *Server) handleUploadProgress(w http.ResponseWriter, r *http.Request) {
	rs, err := s.replayStore()
	if err != nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": err.Error()})
		return
	}
	u, err := rs.Upload(r.Context(), r.PathValue("id"))
	if err == nil && u.State != "failed" {
		// A failed upload's session is gone; its reason stays readable by
		// whoever holds its (unguessable) id.
		_, err = s.readable(r.Context(), principal(r), r.PathValue("id"))
	}
	if err != nil {
		s.httpError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, u)
}
