package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/seal"
	"github.com/cuecard/cuecard/store"
)

// sealedExt ends the name of a sealed recording: NAME.enc holds NAME.
const sealedExt = ".enc"

// finalizeRecording registers the finished recording at path. With
// recording keys it first seals it into path.enc (synced before the
// plain file goes), registers that and removes the plain file, so a
// crash at any point leaves the plain recording or the sealed one
// registered, and recovery seals again. With final false (a recording
// that may still grow) it is registered unsealed. A path already sealed
// (gone) is not registered again.
//
// Sealing holds sealMu, an exception to "no I/O under a lock": it is
// rare (once per side and call) and the lock keeps a WebRTC peer and its
// session's end from sealing one file twice at once.
//
// With Config.Recordings a final recording is then published to the blob
// store (see publishRecording), after its segments from other nodes, if
// any, were merged into the local WAV (see mergeSegments).
func (s *Server) finalizeRecording(ctx context.Context, id string, sp coach.Speaker, path, contentType string, final bool) error {
	if !final || s.cfg.Recordings == nil {
		return s.sealRecording(ctx, id, sp, path, contentType, final)
	}
	if contentType == "audio/wav" {
		if err := s.mergeSegments(ctx, id, sp, path); err != nil {
			s.log.Error("merge recording segments", "session", id, "speaker", sp.String(), "err", err)
		}
	}
	if err := s.sealRecording(ctx, id, sp, path, contentType, final); err != nil {
		return err
	}
	return s.publishRecording(ctx, id, sp)
}

// sealRecording is finalizeRecording without the blob store.
func (s *Server) sealRecording(ctx context.Context, id string, sp coach.Speaker, path, contentType string, final bool) error {
	if s.cfg.RecordingKeys == nil {
		return s.st.AddRecording(ctx, id, sp, path, contentType)
	}
	s.sealMu.Lock()
	defer s.sealMu.Unlock()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if !final {
		return s.st.AddRecording(ctx, id, sp, path, contentType)
	}
	enc, err := sealFile(path, s.cfg.RecordingKeys.Current())
	if err != nil {
		return err
	}
	if err := s.st.AddRecording(ctx, id, sp, enc, contentType); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove sealed recording's plain file: %w", err)
	}
	return seal.SyncDir(filepath.Dir(path))
}

// sealFile seals the file at path with k into path.enc and returns that
// path.
func sealFile(path string, k *seal.Key) (string, error) {
	enc := path + sealedExt
	if err := seal.EncryptFile(path, enc, k, store.FileMode); err != nil {
		return "", fmt.Errorf("seal recording: %w", err)
	}
	return enc, nil
}

// serveSealed serves the sealed recording rec, decrypted chunk by chunk
// so that Range requests work. A missing key or a damaged file is a 500
// naming the key or the damage, logged, never undecryptable bytes.
func (s *Server) serveSealed(w http.ResponseWriter, r *http.Request, rec store.Recording, f io.ReaderAt, size int64, mod time.Time) {
	sr, err := seal.NewReader(f, size, s.cfg.RecordingKeys)
	var ke *seal.KeyError
	switch {
	case errors.As(err, &ke):
		s.log.Error("recording key missing: start the server with the key of this id (--recording-old-key-file)",
			"session", rec.SessionID, "speaker", rec.Speaker.String(), "key_id", ke.ID, "path", rec.Path)
		writeJSON(w, http.StatusInternalServerError, map[string]string{
			"error": "recording key " + ke.ID + " is not configured on the server", "key_id": ke.ID})
		return
	case err != nil:
		s.log.Error("open sealed recording", "session", rec.SessionID, "path", rec.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "the recording cannot be decrypted: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", rec.ContentType)
	http.ServeContent(w, r, strings.TrimSuffix(filepath.Base(rec.Path), sealedExt), mod, sr)
}
