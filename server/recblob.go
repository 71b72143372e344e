package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/blob"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/seal"
	"github.com/cuecard/cuecard/store"
	"github.com/cuecard/cuecard/stream"
)

// Recordings in a blob store (Config.Recordings), readable from any node:
//
//	recordings/<session>/<speaker>/seg-<startms>-<node>.pcm  while the call runs
//	recordings/<session>/<speaker>.wav[.enc], <speaker>.ogg[.enc]  once final
//
// A segment is raw 16-bit little-endian mono PCM at stream.Rate from
// <startms> (media time, zero-padded to 12 digits so that keys sort in
// time order) recorded by <node>. Segments of two nodes (a call taken
// over after its first node died) concatenate in time order
// (assembleSegments). The final object replaces the segments and the
// node's local file, so erasure on any node reaches it.

// segmentExt ends a segment's key.
const segmentExt = ".pcm"

// recordingKey is the blob key of the final recording whose local file
// is path (its base name: rep.wav, rep.wav.enc, prospect.ogg, ...).
func recordingKey(id, path string) string {
	return "recordings/" + id + "/" + filepath.Base(path)
}

// segmentPrefix starts the keys of one side's segments.
func segmentPrefix(id string, sp coach.Speaker) string {
	return "recordings/" + id + "/" + sp.String() + "/seg-"
}

// segmentKey names the segment of side sp starting at startMS, recorded
// by node.
func segmentKey(id string, sp coach.Speaker, startMS int64, node string) string {
	return fmt.Sprintf("%s%012d-%s%s", segmentPrefix(id, sp), startMS, node, segmentExt)
}

// segmentInfo is a parsed segment key.
type segmentInfo struct {
	key     string
	startMS int64
	node    string
}

// parseSegmentKey parses what segmentKey makes; ok is false for any other
// key under the prefix.
func parseSegmentKey(prefix, key string) (segmentInfo, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return segmentInfo{}, false
	}
	rest, ok = strings.CutSuffix(rest, segmentExt)
	if !ok {
		return segmentInfo{}, false
	}
	ms, node, ok := strings.Cut(rest, "-")
	if !ok || len(ms) != 12 || node == "" {
		return segmentInfo{}, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return segmentInfo{}, false
	}
	return segmentInfo{key: key, startMS: n, node: node}, true
}

// listSegments returns side sp's segments in time order (ties by key).
func listSegments(ctx context.Context, st blob.Store, id string, sp coach.Speaker) ([]segmentInfo, error) {
	prefix := segmentPrefix(id, sp)
	infos, err := st.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var segs []segmentInfo
	for _, in := range infos {
		if s, ok := parseSegmentKey(prefix, in.Key); ok {
			segs = append(segs, s)
		}
	}
	sort.SliceStable(segs, func(i, j int) bool { return segs[i].startMS < segs[j].startMS })
	return segs, nil
}

// nodeName makes a node id safe for a key: letters, digits, '.', '_'
// ('-' separates the key's fields).
func nodeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "node"
	}
	return b.String()
}

// assembleSegments writes side sp's segments, in time order, as one
// 16 kHz WAV to w: a gap between segments (audio a dead node never
// uploaded) becomes silence, and a segment that starts before the
// previous one ended gives up its overlapping start. It returns the
// samples written; no segment is an error wrapping blob.ErrNotFound.
func assembleSegments(ctx context.Context, st blob.Store, id string, sp coach.Speaker, w io.WriteSeeker) (int64, error) {
	segs, err := listSegments(ctx, st, id, sp)
	if err != nil {
		return 0, fmt.Errorf("assemble recording: %w", err)
	}
	if len(segs) == 0 {
		return 0, fmt.Errorf("assemble recording %s of %s: %w", sp, id, blob.ErrNotFound)
	}
	bw := bufio.NewWriterSize(w, 64*1024)
	ww, err := audio.NewLongWAVWriter(bufSeeker{bw, w}, stream.Rate, 1)
	if err != nil {
		return 0, err
	}
	var pos int64 // samples written
	for _, sg := range segs {
		start := sg.startMS * stream.Rate / 1000
		if start > pos {
			if err := writeSilence(ww, start-pos); err != nil {
				return 0, err
			}
			pos = start
		}
		n, err := copySegment(ctx, st, sg.key, ww, pos-start)
		if err != nil {
			return 0, err
		}
		pos += n
	}
	if err := ww.Close(); err != nil {
		return 0, err
	}
	return pos, bw.Flush()
}

// copySegment writes the segment at key to ww, skipping its first skip
// samples, and returns how many it wrote.
func copySegment(ctx context.Context, st blob.Store, key string, ww *audio.WAVWriter, skip int64) (int64, error) {
	o, err := st.Open(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("assemble recording: %w", err)
	}
	defer o.Close()
	if skip > 0 {
		if _, err := o.Seek(skip*2, io.SeekStart); err != nil {
			return 0, fmt.Errorf("assemble recording: %w", err)
		}
	}
	br := bufio.NewReaderSize(o, 32*1024)
	buf := make([]byte, 8192)
	pcm := make([]float32, 4096)
	var n int64
	for {
		k, err := io.ReadFull(br, buf)
		k -= k % 2
		for i := 0; i < k/2; i++ {
			pcm[i] = float32(int16(binary.LittleEndian.Uint16(buf[2*i:]))) / 32768
		}
		if werr := ww.Write(pcm[:k/2]); werr != nil {
			return n, werr
		}
		n += int64(k / 2)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("assemble recording: %s: %w", key, err)
		}
	}
}

func writeSilence(ww *audio.WAVWriter, n int64) error {
	zero := make([]float32, 4096)
	for n > 0 {
		k := min(n, int64(len(zero)))
		if err := ww.Write(zero[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// bufSeeker writes through a buffer and flushes it before seeking, so
// the WAV writer can patch its header.
type bufSeeker struct {
	bw *bufio.Writer
	ws io.WriteSeeker
}

func (b bufSeeker) Write(p []byte) (int, error) { return b.bw.Write(p) }
func (b bufSeeker) Seek(off int64, whence int) (int64, error) {
	if err := b.bw.Flush(); err != nil {
		return 0, err
	}
	return b.ws.Seek(off, whence)
}

// mergeSegments makes the local WAV at path (side sp of session id)
// whole from the blob store's segments when this node's file is not the
// whole call: it is missing (recovery on another node), or some segment
// came from another node (a call taken over). Otherwise, and without
// segments, it leaves path alone.
func (s *Server) mergeSegments(ctx context.Context, id string, sp coach.Speaker, path string) error {
	segs, err := listSegments(ctx, s.cfg.Recordings, id, sp)
	if err != nil || len(segs) == 0 {
		return err
	}
	_, statErr := os.Stat(path)
	foreign := false
	for _, sg := range segs {
		foreign = foreign || sg.node != nodeName(s.cfg.NodeID)
	}
	if statErr == nil && !foreign {
		return nil
	}
	tmp := path + ".assemble"
	f, err := openPrivate(tmp, os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("assemble recording: %w", err)
	}
	_, err = assembleSegments(ctx, s.cfg.Recordings, id, sp, f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return seal.SyncDir(filepath.Dir(path))
}

// publishRecording uploads side sp's registered final recording (sealed
// or not) to the blob store, then removes its segments and the local
// file: from then on the object is the recording, for every node. A
// recording already published (no local file) is left alone.
func (s *Server) publishRecording(ctx context.Context, id string, sp coach.Speaker) error {
	rec, err := s.st.Recording(ctx, id, sp)
	if err != nil {
		return err
	}
	f, err := os.Open(rec.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("publish recording: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("publish recording: %w", err)
	}
	key := recordingKey(id, rec.Path)
	if err := s.cfg.Recordings.Put(ctx, key, f, st.Size()); err != nil {
		return fmt.Errorf("publish recording: %w", err)
	}
	// An earlier plain upload of a recording now sealed (or the reverse).
	other := strings.TrimSuffix(key, sealedExt)
	if other == key {
		other = key + sealedExt
	}
	if err := s.cfg.Recordings.Delete(ctx, other); err != nil {
		return fmt.Errorf("publish recording: %w", err)
	}
	if err := s.deleteObjects(ctx, segmentPrefix(id, sp)); err != nil {
		return fmt.Errorf("publish recording: %w", err)
	}
	if err := os.Remove(rec.Path); err != nil {
		return fmt.Errorf("publish recording: %w", err)
	}
	return seal.SyncDir(filepath.Dir(rec.Path))
}

// deleteObjects deletes every object whose key starts with prefix.
func (s *Server) deleteObjects(ctx context.Context, prefix string) error {
	infos, err := s.cfg.Recordings.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, in := range infos {
		if err := s.cfg.Recordings.Delete(ctx, in.Key); err != nil {
			return err
		}
	}
	return nil
}

// deleteRecordingObjects deletes session id's recordings and segments
// from the blob store (erasure, retention, a failed upload). Without a
// blob store it does nothing. A failure is logged and returned.
func (s *Server) deleteRecordingObjects(ctx context.Context, id string) error {
	if s.cfg.Recordings == nil || !validSessionID(id) {
		return nil
	}
	err := s.deleteObjects(ctx, "recordings/"+id+"/")
	if err != nil {
		s.log.Error("delete recording objects", "session", id, "err", err)
	}
	return err
}

// recoverSegments turns the segments of session id whose node died into
// final recordings (assembled, sealed, registered, published) and
// returns the longest one's length in ms. A side this node still has a
// file of, with only its own segments, is left to the local recovery.
// Without a blob store it does nothing.
func (s *Server) recoverSegments(ctx context.Context, id string) int64 {
	if s.cfg.Recordings == nil {
		return 0
	}
	var endMS int64
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		segs, err := listSegments(ctx, s.cfg.Recordings, id, sp)
		if err != nil || len(segs) == 0 {
			continue
		}
		p, err := s.st.RecordingPath(id, sp, "wav")
		if err != nil {
			continue
		}
		if err := s.mergeSegments(ctx, id, sp, p); err != nil {
			s.log.Error("assemble recording", "session", id, "speaker", sp.String(), "err", err)
			continue
		}
		fm, n, err := audio.RepairWAV(p)
		if err != nil {
			continue
		}
		endMS = max(endMS, n*1000/int64(fm.SampleRate))
		if err := s.finalizeRecording(ctx, id, sp, p, "audio/wav", true); err != nil {
			s.log.Error("register recording", "session", id, "speaker", sp.String(), "err", err)
		}
	}
	return endMS
}

// openRecordingObject opens the published object of rec, or returns an
// error wrapping blob.ErrNotFound (no blob store, or not published yet).
func (s *Server) openRecordingObject(ctx context.Context, rec store.Recording) (blob.Object, error) {
	if s.cfg.Recordings == nil {
		return nil, blob.ErrNotFound
	}
	return s.cfg.Recordings.Open(ctx, recordingKey(rec.SessionID, rec.Path))
}

// openSegments assembles rec's uploaded segments (a call live on another
// node, or not yet recovered) into an unlinked private temporary WAV, or
// returns nil when there are none. The caller closes the file.
func (s *Server) openSegments(ctx context.Context, rec store.Recording) *os.File {
	if s.cfg.Recordings == nil || rec.ContentType != "audio/wav" || strings.HasSuffix(rec.Path, sealedExt) {
		return nil
	}
	f, err := os.CreateTemp("", "cuecard-segments-*.wav")
	if err != nil {
		s.log.Error("assemble recording", "session", rec.SessionID, "err", err)
		return nil
	}
	os.Remove(f.Name())
	if _, err := assembleSegments(ctx, s.cfg.Recordings, rec.SessionID, rec.Speaker, f); err != nil {
		if !errors.Is(err, blob.ErrNotFound) {
			s.log.Error("assemble recording", "session", rec.SessionID, "err", err)
		}
		f.Close()
		return nil
	}
	return f
}

// newSegmenterFor returns the segmenter of a live session, or nil
// without a blob store.
func (s *Server) newSegmenterFor(id string, log *slog.Logger) *segmenter {
	if s.cfg.Recordings == nil {
		return nil
	}
	return newSegmenter(s.cfg.Recordings, id, s.cfg.NodeID, s.cfg.SegmentInterval, log)
}
