package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/store"
)

// TestRecoverUploadWithoutInputs: an upload left analyzing whose
// converted recordings are gone fails with a reason at start, and
// temporary upload directories are removed.
func TestRecoverUploadWithoutInputs(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t, t.TempDir(), nil, nil)
	defer ts.close()
	ses, err := ts.db.CreateSession(ctx, store.NewSession{Source: store.SourceUpload})
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.db.SetUpload(ctx, store.Upload{ID: ses.ID, State: store.UploadAnalyzing, TotalMS: 5000}); err != nil {
		t.Fatal(err)
	}
	if err := ts.db.MarkLive(ctx, ses.ID, 16000); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(ts.db.Dir(), "upload-123")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(tmp, "stereo.upload"), []byte("half a file"), 0o644)

	if _, err := ts.srv.RecoverSessions(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temporary upload directory: %v", err)
	}
	u, err := ts.db.Upload(ctx, ses.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.State != store.UploadFailed || !strings.Contains(u.Error, "interrupted by a server restart") {
		t.Fatalf("upload after recovery: %+v", u)
	}
	if _, err := ts.db.GetSession(ctx, ses.ID); err == nil {
		t.Fatal("the failed upload's session is still there")
	}
}

// TestRecoverLiveSession: a session a killed server left live, with
// stored speech events and a recording whose header was never written,
// ends with a summary replayed from the events and a playable, registered
// recording.
func TestRecoverLiveSession(t *testing.T) {
	ctx := context.Background()
	ts := newTestServer(t, t.TempDir(), nil, nil)
	defer ts.close()
	id := ts.create(t)
	if err := ts.db.MarkLive(ctx, id, 16000); err != nil {
		t.Fatal(err)
	}
	evs := []coach.Event{
		{Type: coach.EventSpeech, Speaker: coach.Rep, StartMS: 200, EndMS: 2500, AtMS: 2500},
		{Type: coach.EventSpeech, Speaker: coach.Prospect, StartMS: 2800, EndMS: 3500, AtMS: 3500},
	}
	if err := ts.db.AppendEvents(ctx, id, 1, evs); err != nil {
		t.Fatal(err)
	}
	p, err := ts.db.RecordingPath(id, coach.Rep, "wav")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	w, err := audio.NewLongWAVWriter(f, 16000, 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]float32, 4*16000)) // 4 s, header never patched
	f.Close()

	if n, err := ts.srv.RecoverSessions(ctx); err != nil || n != 1 {
		t.Fatalf("recovered %d: %v", n, err)
	}
	ses, err := ts.db.GetSession(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ses.Status != store.StatusEnded || ses.Summary == nil || ses.RepShare <= 0.5 || ses.DurationMS < 4000 {
		t.Fatalf("after recovery: status %s, rep share %v, duration %d, summary %v", ses.Status, ses.RepShare, ses.DurationMS, ses.Summary != nil)
	}
	rec, err := ts.db.Recording(ctx, id, coach.Rep)
	if err != nil {
		t.Fatal(err)
	}
	samples, _, err := audio.ReadWAV16(rec.Path)
	if err != nil || len(samples) != 4*16000 {
		t.Fatalf("recording: %d samples, %v", len(samples), err)
	}
	if seq, _ := ts.db.LastSeq(ctx, id); seq != 3 {
		t.Fatalf("last seq %d, want the summary stored after the two events", seq)
	}
}
