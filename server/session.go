package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
)

// source is one audio connection feeding a session (a WebSocket or a
// WebRTC peer). A session takes audio from one source at a time.
type source struct {
	kind string // "websocket" or "webrtc"
	rate int    // sample rate of its PCM
	// kick is closed when a newer source replaced this one.
	kick     chan struct{}
	kickOnce sync.Once
	// recorded: the source records its own audio (WebRTC keeps Ogg Opus).
	recorded bool
}

func newSource(kind string, rate int) *source {
	return &source{kind: kind, rate: rate, kick: make(chan struct{})}
}

func (s *source) replaced() { s.kickOnce.Do(func() { close(s.kick) }) }

type itemKind uint8

const (
	itemAudio itemKind = iota
	itemStop
	itemDetach
	itemAttach
)

// item is what a source sends its session, in order.
type item struct {
	kind  itemKind
	src   *source
	sp    coach.Speaker
	pcm   []float32 // at src.rate
	at    time.Time
	reply chan error // itemAttach
}

// liveSession runs one call: audio in, coach, events out to the hub and
// the store. Its run goroutine owns everything but the hub; sources talk
// to it through in (attach, audio, stop, detach), in order, so audio
// queued by a source before another attaches is still heard.
type liveSession struct {
	id    string
	owner string // user id of the rep
	srv   *Server
	hub   *hub
	in    chan item
	done  chan struct{}

	// endReason is set before hub.close and read after a subscriber's
	// channel is closed, which orders the two.
	endReason string
	shutdown  bool
	// killed: the server stopped as in a crash (a test hook); sockets are
	// dropped without a close frame. Ordered like endReason.
	killed bool

	// Owned by run.
	src *source
	// srcRecorded: the last source records its own audio (WebRTC's Ogg).
	srcRecorded bool
	everAudio   bool
	lastAudio   time.Time
	detachedAt  time.Time
	call        *stream.Call
	rec         [2]*recorder
	segs        *segmenter // nil without Config.Recordings
	seq         int64
	pending     []coach.Event
	batches     chan batch
	persistWG   sync.WaitGroup
	wall        []wallMark
	jsonBuf     []byte
	failed      error
	review      Reviewer      // nil without an Advisor
	finals      []coach.Event // final transcripts, for the notes
	// Cluster mode: priming is set while the coach is rebuilt from stored
	// inputs (nothing is emitted), moved is the status event a resumed
	// session starts with, pubSeq numbers the events published.
	priming bool
	moved   *coach.Event
	pubSeq  int64
}

type batch struct {
	first int64
	evs   []coach.Event
}

// wallMark notes when the pipeline had processed audio up to mediaMS.
type wallMark struct {
	mediaMS int64
	at      time.Time
}

// attachSource attaches src to session id, starting the session if it is
// not running. It fails with store.ErrNotFound, ErrSessionEnded or
// ErrShuttingDown.
func (s *Server) attachSource(ctx context.Context, id string, src *source) (*liveSession, error) {
	for {
		ls, err := s.liveSession(ctx, id, -1)
		if err != nil {
			return nil, err
		}
		reply := make(chan error, 1)
		select {
		case ls.in <- item{kind: itemAttach, src: src, reply: reply}:
			select {
			case err := <-reply:
				return ls, err
			case <-ls.done:
				return nil, ErrSessionEnded
			}
		case <-ls.done:
			// It ended between lookup and attach; it may have been a
			// session that timed out: look again.
			if ses, err := s.st.GetSession(ctx, id); err == nil && ses.Status == store.StatusEnded {
				return nil, ErrSessionEnded
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// liveSession returns the running session id, starting it if needed. In
// a cluster, a session taken over from a dead node resumes at media time
// atMS when the client gives it (else -1).
func (s *Server) liveSession(ctx context.Context, id string, atMS int64) (*liveSession, error) {
	s.mu.Lock()
	if ls := s.live[id]; ls != nil {
		s.mu.Unlock()
		return ls, nil
	}
	s.mu.Unlock()
	ses, err := s.st.GetSession(ctx, id)
	if err != nil {
		return nil, err
	}
	if ses.Status == store.StatusEnded {
		return nil, ErrSessionEnded
	}
	if err := s.checkLiveLimits(ses.Owner); err != nil {
		return nil, err
	}
	seq, err := s.st.LastSeq(ctx, id)
	if err != nil {
		return nil, err
	}
	var rp *resumePoint
	if s.cfg.Cluster != nil {
		if rp, err = s.claimSession(ctx, id, seq, atMS); err != nil {
			return nil, err
		}
	}
	ls := &liveSession{
		id: id, owner: ses.Owner, srv: s, in: make(chan item, s.cfg.InputBuffer),
		done: make(chan struct{}), seq: seq, pubSeq: seq, batches: make(chan batch, 64),
	}
	ls.hub = newHub(func() { s.metrics.evictions.Inc() })
	// Made here, not in run, so that metrics may read the pipeline's
	// waiting count while the session runs.
	ls.call = stream.NewCall(s.cfg.Pipeline, s.tr, s.pb, ls.onEvent, stream.CallOptions{Record: ls.record})
	if rp != nil {
		if err := ls.resume(ctx, rp); err != nil {
			ls.call.Close()
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	other := s.live[id]
	switch {
	case s.stopping:
		err = ErrShuttingDown
	case other == nil:
		err = s.checkLiveLimitsLocked(ses.Owner)
	}
	if err != nil || other != nil {
		ls.call.Close()
		return other, err
	}
	if err := s.spawnLocked(func() { ls.run(s.base) }); err != nil {
		ls.call.Close()
		return nil, err
	}
	s.live[id] = ls
	close(s.started)
	s.started = make(chan struct{})
	s.metrics.sessions.Inc()
	return ls, nil
}

// send queues an audio item. A source streaming in real time never waits:
// when the session has fallen behind, the oldest queued frame is dropped.
// A source sending faster than real time (a recorded call played in) is
// held back instead, so nothing it sends is lost. Stop and detach are
// never dropped.
func (ls *liveSession) send(it item) error {
	return ls.sendPaced(it, false)
}

func (ls *liveSession) sendPaced(it item, ahead bool) error {
	if it.kind != itemAudio || ahead {
		select {
		case ls.in <- it:
			return nil
		case <-ls.done:
			return ErrSessionEnded
		}
	}
	for range 2 {
		select {
		case ls.in <- it:
			return nil
		case <-ls.done:
			return ErrSessionEnded
		default:
		}
		select {
		case old := <-ls.in:
			if old.kind != itemAudio {
				// Keep control items: put it back and drop this frame.
				ls.in <- old
				ls.srv.metrics.framesDrop.Inc()
				return nil
			}
			ls.srv.metrics.framesDrop.Inc()
		default:
		}
	}
	ls.srv.metrics.framesDrop.Inc()
	return nil
}

func (ls *liveSession) run(ctx context.Context) {
	s := ls.srv
	log := s.log.With("session", ls.id)
	defer func() {
		// Refuse attaches that raced with the end.
		for {
			select {
			case it := <-ls.in:
				if it.kind == itemAttach {
					it.reply <- ErrSessionEnded
				}
			default:
				return
			}
		}
	}()
	defer func() {
		s.mu.Lock()
		delete(s.live, ls.id)
		s.mu.Unlock()
		s.metrics.sessions.Dec()
		close(ls.done)
	}()
	var reviews <-chan coach.Event
	var labels <-chan coach.Input
	if s.cfg.Advisor != nil {
		ls.review = s.cfg.Advisor.Review()
		reviews, labels = ls.review.Updates(), ls.review.Labels()
	}
	ls.persistWG.Add(1)
	go ls.persist(log)
	ls.announceMove(log)

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	lastPersist, lastSync := time.Now(), time.Now()
	started := time.Now()
	reason := "stopped"
loop:
	for {
		select {
		case <-ctx.Done():
			if s.killed.Load() {
				ls.die()
				return
			}
			reason, ls.shutdown = "server shutting down", true
			ls.drain(ctx, log)
			break loop
		case it := <-ls.in:
			if stop := ls.handle(ctx, log, it); stop != "" {
				reason = stop
				break loop
			}
		case up := <-reviews:
			ls.onAdvice(log, up, coach.Input{})
		case in := <-labels:
			ls.onAdvice(log, coach.Event{}, in)
		case now := <-tick.C:
			if now.Sub(lastPersist) >= s.cfg.PersistInterval {
				ls.flushPending(false)
				lastPersist = now
			}
			if now.Sub(lastSync) >= recordingSync {
				ls.syncRecordings(log)
				lastSync = now
			}
			ls.padLagging(now)
			if !ls.stillOwned(log) {
				ls.die()
				return
			}
			if stop := ls.timeUp(now, started); stop != "" {
				reason = stop
				break loop
			}
		}
	}
	ls.finish(log, reason)
}

// timeUp returns why the session must end at now, if it must: no audio
// for too long, or its client gone past the reconnect window. (The
// longest session allowed is checked as audio arrives.)
func (ls *liveSession) timeUp(now, started time.Time) string {
	cfg := ls.srv.cfg
	idleSince := ls.lastAudio
	if !ls.everAudio {
		idleSince = started
	}
	switch {
	case now.Sub(idleSince) >= cfg.InactivityTimeout:
		return "no audio for " + cfg.InactivityTimeout.String()
	case ls.src == nil && !ls.detachedAt.IsZero() && now.Sub(ls.detachedAt) >= cfg.ReconnectWindow:
		return "audio client gone"
	}
	return ""
}

// onAdvice takes the language model's advice, stamped with the call's
// media time now: a cue_update (up) goes out as it is; a second reading of
// a final utterance (labels) goes to the coach, which may add the cue its
// model missed or withdraw one.
func (ls *liveSession) onAdvice(log *slog.Logger, up coach.Event, labels coach.Input) {
	var err error
	if up.Type != "" {
		up.AtMS = ls.call.Now()
		err = ls.onEvent(up)
	} else {
		labels.AtMS = ls.call.Now()
		err = ls.call.Step(labels)
	}
	if err != nil {
		log.Error("language model advice", "err", err)
	}
}

// handle processes one item from a source; it returns why the session
// must end, or "".
func (ls *liveSession) handle(ctx context.Context, log *slog.Logger, it item) string {
	if it.kind == itemAttach {
		if ls.src != nil {
			ls.src.replaced()
		}
		ls.src, ls.detachedAt, ls.srcRecorded = it.src, time.Time{}, it.src.recorded
		if err := ls.srv.st.MarkLive(context.WithoutCancel(ctx), ls.id, it.src.rate); err != nil {
			log.Warn("mark live", "err", err)
		}
		it.reply <- nil
		return ""
	}
	if it.src != ls.src {
		return "" // from a source that was replaced
	}
	switch it.kind {
	case itemStop:
		return "stopped"
	case itemDetach:
		ls.src, ls.detachedAt = nil, time.Now()
		return ""
	default:
	}
	if err := ls.onAudio(it); err != nil {
		log.Error("audio", "err", err)
		return "internal error: " + err.Error()
	}
	if l := ls.srv.cfg.Limits.MaxSessionLength; l > 0 && ls.call.Now() >= l.Milliseconds() {
		return "maximum session length (" + l.String() + ") reached"
	}
	return ""
}

// drain processes the audio already queued when the server stops, within
// the flush timeout, so a graceful shutdown loses nothing it received.
func (ls *liveSession) drain(ctx context.Context, log *slog.Logger) {
	deadline := time.Now().Add(ls.srv.cfg.FlushTimeout / 2)
	for time.Now().Before(deadline) {
		select {
		case it := <-ls.in:
			if it.kind == itemAttach {
				it.reply <- ErrShuttingDown
				continue
			}
			if ls.handle(ctx, log, it) != "" {
				return
			}
		default:
			return
		}
	}
}

// onAudio feeds one frame to the call.
func (ls *liveSession) onAudio(it item) error {
	ls.srv.metrics.framesIn.Inc()
	ls.everAudio, ls.lastAudio = true, it.at
	if err := ls.call.Write(it.sp, it.src.rate, it.pcm); err != nil {
		return err
	}
	ls.mark(it.at)
	return ls.failed
}

// record writes one side's audio to its recording, unless the source
// records its own. A side that starts late is padded to its position.
func (ls *liveSession) record(sp coach.Speaker, pcm []float32) error {
	if ls.srcRecorded {
		return nil
	}
	if ls.segs == nil && ls.srv.cfg.Recordings != nil {
		ls.segs = ls.srv.newSegmenterFor(ls.id, ls.srv.log.With("session", ls.id))
	}
	if ls.segs != nil {
		ls.segs.write(sp, ls.call.Written(sp), pcm)
	}
	i := int(sp) - 1
	if ls.rec[i] == nil {
		r, err := newRecorder(ls.srv.st, ls.id, sp)
		if err != nil {
			return err
		}
		if err := r.write(make([]float32, ls.call.Written(sp))); err != nil {
			return err
		}
		ls.rec[i] = r
		// Registered now, not at the end, so that a crash leaves a
		// playable recording (see syncRecordings, RecoverSessions).
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := ls.srv.st.AddRecording(ctx, ls.id, sp, r.path, "audio/wav"); err != nil {
			return err
		}
	}
	return ls.rec[i].write(pcm)
}

// padLagging feeds silence to a side that has sent nothing for a while,
// so the other side's audio is processed (see stream.Call.PadLagging).
func (ls *liveSession) padLagging(now time.Time) {
	if !ls.everAudio {
		return
	}
	padded, err := ls.call.PadLagging()
	if err != nil {
		ls.failed = err
		return
	}
	if padded {
		ls.mark(now)
	}
}

// mark remembers when the pipeline reached its current media time.
func (ls *liveSession) mark(at time.Time) {
	m := ls.call.MediaMS()
	if n := len(ls.wall); n > 0 && ls.wall[n-1].mediaMS == m {
		return
	}
	if len(ls.wall) >= 1000 {
		ls.wall = append(ls.wall[:0], ls.wall[500:]...)
	}
	ls.wall = append(ls.wall, wallMark{m, at})
}

// wallAt returns when the audio at media time ms reached the pipeline.
func (ls *liveSession) wallAt(ms int64) (time.Time, bool) {
	for _, w := range ls.wall {
		if w.mediaMS >= ms {
			return w.at, true
		}
	}
	return time.Time{}, false
}

// onEvent publishes one event and queues it for the store.
func (ls *liveSession) onEvent(ev coach.Event) error {
	if ls.priming {
		return nil
	}
	var err error
	ls.jsonBuf, err = ev.AppendJSON(ls.jsonBuf[:0])
	if err != nil {
		return err
	}
	msg := append([]byte(nil), ls.jsonBuf...)
	keep := ev.Type != coach.EventTalk && (ev.Type != coach.EventTranscript || ev.Final)
	ls.hub.publish(msg, keep, ev.Type == coach.EventTalk)
	if cl := ls.srv.cfg.Cluster; cl != nil {
		ls.pubSeq++
		cl.Publish(ls.id, ls.pubSeq, msg)
	}
	ls.srv.metrics.events.Inc()
	if ev.Type == coach.EventCue && ev.Speaker != coach.NoSpeaker {
		if at, ok := ls.wallAt(ev.EndMS); ok {
			ls.srv.metrics.cueLatency.Observe(time.Since(at).Seconds())
		}
	}
	ls.pending = append(ls.pending, ev)
	if ls.review != nil {
		if ev.Type != coach.EventCueUpdate {
			ls.review.Observe(ev)
		}
		if ev.Type == coach.EventTranscript && ev.Final {
			ls.finals = append(ls.finals, ev)
		}
	}
	return nil
}

// flushPending hands the events produced since the last call to the
// persist goroutine without waiting: while it is busy they stay pending,
// up to PersistBacklog, beyond which the oldest are dropped and counted.
// At the end of the session (final) it waits instead.
func (ls *liveSession) flushPending(final bool) {
	if len(ls.pending) == 0 {
		return
	}
	if over := len(ls.pending) - ls.srv.cfg.PersistBacklog; over > 0 && !final {
		ls.pending = append(ls.pending[:0], ls.pending[over:]...)
		ls.srv.metrics.persistDrop.Add(float64(over))
	}
	b := batch{first: ls.seq + 1, evs: ls.pending}
	if final {
		ls.batches <- b
	} else {
		select {
		case ls.batches <- b:
		default:
			return // the store is behind: keep them for the next tick
		}
	}
	ls.seq += int64(len(ls.pending))
	ls.pending = nil
}

// persist writes event batches in order; it owns no other state.
func (ls *liveSession) persist(log *slog.Logger) {
	defer ls.persistWG.Done()
	for b := range ls.batches {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := ls.srv.st.AppendEvents(ctx, ls.id, b.first, b.evs)
		cancel()
		if err != nil {
			log.Error("persist events", "err", err, "first", b.first, "n", len(b.evs))
		}
	}
}

// finish ends the call: last transcripts, summary, recordings, store.
func (ls *liveSession) finish(log *slog.Logger, reason string) {
	s := ls.srv
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.FlushTimeout)
	defer cancel()
	sum, err := ls.call.Finish(ctx)
	if err != nil {
		log.Error("finish call", "err", err)
	}
	if ls.review != nil {
		ls.review.Close()
		if sum != nil && len(ls.finals) > 0 {
			if notes, err := s.cfg.Advisor.Notes(ctx, ls.finals, sum); err != nil {
				log.Warn("post-call notes", "err", err)
			} else if err := s.st.SetNotes(ctx, ls.id, notes); err != nil {
				log.Error("store notes", "err", err)
			}
		}
	}
	ls.flushPending(true)
	close(ls.batches)
	ls.persistWG.Wait()
	if ls.segs != nil {
		ls.segs.close()
	}
	for i, r := range ls.rec {
		if r == nil {
			continue
		}
		if err := r.close(); err != nil {
			log.Error("close recording", "err", err)
			continue
		}
		if err := s.finalizeRecording(ctx, ls.id, coach.Speaker(i+1), r.path, "audio/wav", true); err != nil {
			log.Error("register recording", "err", err)
		}
	}
	if ls.src == nil {
		ls.sealDetached(ctx, log)
	}
	if err := s.st.EndSession(ctx, ls.id, sum); err != nil {
		log.Error("end session", "err", err)
	}
	if s.cfg.Cluster != nil {
		if err := s.cfg.Cluster.Release(ctx, ls.id); err != nil {
			log.Warn("release session", "err", err)
		}
	}
	ls.endReason = reason
	ls.hub.close()
	log.Info("session ended", "reason", reason, "media_ms", ls.call.MediaMS())
}

// die stops the session as a crash of the server would: nothing is
// finished, ended or released, and its sockets are dropped (a test hook,
// see Server.killed).
func (ls *liveSession) die() {
	if ls.review != nil {
		ls.review.Close()
	}
	close(ls.batches)
	ls.persistWG.Wait()
	for _, r := range ls.rec {
		if r != nil {
			r.f.Close()
		}
	}
	ls.call.Close()
	ls.killed = true
	ls.hub.close()
}

// sealDetached seals the Ogg recordings of a WebRTC peer that left
// before the end (one still attached seals its own when it sees the
// session end, see peer.register).
func (ls *liveSession) sealDetached(ctx context.Context, log *slog.Logger) {
	s := ls.srv
	if s.cfg.RecordingKeys == nil {
		return
	}
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		rec, err := s.st.Recording(ctx, ls.id, sp)
		if err != nil || rec.ContentType != "audio/ogg" || strings.HasSuffix(rec.Path, sealedExt) {
			continue
		}
		if err := s.finalizeRecording(ctx, ls.id, sp, rec.Path, rec.ContentType, true); err != nil {
			log.Error("seal recording", "speaker", sp.String(), "err", err)
		}
	}
}

// recordingSync is how often a live session writes its recordings'
// buffered audio and header sizes to the file: what a crash may lose.
const recordingSync = 500 * time.Millisecond

// syncRecordings makes the recordings on disk current (a crash loses at
// most recordingSync of audio). A failure is logged; the call goes on.
func (ls *liveSession) syncRecordings(log *slog.Logger) {
	for _, r := range ls.rec {
		if r == nil {
			continue
		}
		if err := r.w.Sync(); err != nil {
			log.Error("sync recording", "path", r.path, "err", err)
		}
	}
}

// recorder writes one side's 16 kHz audio to a WAV file (RF64 once it
// outgrows 32-bit sizes, after about 37 hours).
type recorder struct {
	path string
	f    *os.File
	bw   *bufio.Writer
	w    *audio.WAVWriter
}

// openPrivate opens the file at path with flag, creating it if needed, and
// gives it store.FileMode whatever the umask or an older file's mode: a
// recording or an upload is a call, for the server's user alone.
func openPrivate(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, flag|os.O_CREATE, store.FileMode)
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(store.FileMode); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func newRecorder(st SessionStore, id string, sp coach.Speaker) (*recorder, error) {
	path, err := st.RecordingPath(id, sp, "wav")
	if err != nil {
		return nil, err
	}
	// A session that resumes after a restart starts a fresh file.
	f, err := openPrivate(path, os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	r := &recorder{path: path, f: f}
	r.bw = bufio.NewWriterSize(f, 64*1024)
	r.w, err = audio.NewLongWAVWriter(seekWriter{r}, stream.Rate, 1)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: %w", err)
	}
	return r, nil
}

func (r *recorder) write(pcm []float32) error { return r.w.Write(pcm) }

func (r *recorder) close() error {
	err := r.w.Close()
	if ferr := r.bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// seekWriter lets the WAV writer patch its header through the buffer.
type seekWriter struct{ r *recorder }

func (s seekWriter) Write(p []byte) (int, error) { return s.r.bw.Write(p) }
func (s seekWriter) Seek(off int64, whence int) (int64, error) {
	if err := s.r.bw.Flush(); err != nil {
		return 0, err
	}
	return s.r.f.Seek(off, whence)
}

var _ io.WriteSeeker = seekWriter{}
