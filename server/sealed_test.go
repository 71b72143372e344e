package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/seal"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
	"github.com/cuecard/cuecard/store"
)

func newRecordingKey(tb testing.TB) *seal.Key {
	tb.Helper()
	raw := make([]byte, seal.KeySize)
	if _, err := rand.Read(raw); err != nil {
		tb.Fatal(err)
	}
	k, err := seal.NewKey(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func startSealed(tb testing.TB, dir string, kr *seal.Keyring) *servertest.Server {
	tb.Helper()
	return servertest.Start(tb, servertest.Options{Dir: dir, Edit: func(c *server.Config) { c.RecordingKeys = kr }})
}

// toneWAV writes seconds of a tone at hz to a 16 kHz mono WAV file.
func toneWAV(tb testing.TB, dir, name string, hz float64, seconds int) string {
	tb.Helper()
	pcm := make([]float32, seconds*16000)
	for i := range pcm {
		pcm[i] = float32(0.3 * math.Sin(2*math.Pi*hz*float64(i)/16000))
	}
	p := filepath.Join(dir, name)
	if err := audio.WriteWAVFile(p, 16000, 1, pcm); err != nil {
		tb.Fatal(err)
	}
	return p
}

// noPlainRecordings fails if a file under dir is a WAV or an Ogg file.
func noPlainRecordings(tb testing.TB, dir string) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		head := make([]byte, 4)
		n, _ := io.ReadFull(f, head)
		if s := string(head[:n]); s == "RIFF" || s == "RF64" || s == "OggS" {
			tb.Errorf("plain recording left on disk: %s", p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// unseal decrypts the sealed recording at path.
func unseal(tb testing.TB, path string, kr *seal.Keyring) []byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		tb.Fatal(err)
	}
	r, err := seal.NewReader(f, st.Size(), kr)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// getAudio fetches a recording, with a Range header unless rng is "".
func getAudio(tb testing.TB, srv *servertest.Server, id string, sp coach.Speaker, rng string) (int, []byte) {
	tb.Helper()
	req, err := http.NewRequest("GET", fmt.Sprintf("%s/v1/sessions/%s/audio?speaker=%s", srv.URL, id, sp), nil)
	if err != nil {
		tb.Fatal(err)
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := srv.HTTP.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, b
}

func waitEnded(tb testing.TB, db *store.DB, id string) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ses, err := db.GetSession(context.Background(), id)
		if err != nil {
			tb.Fatal(err)
		}
		if ses.Status == store.StatusEnded {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("session %s still %s", id, ses.Status)
		}
		time.Sleep(20 * time.Millisecond) // polling the store, as a viewer would
	}
}

// checkServed checks that /audio serves the sealed recording's plaintext,
// whole and in ranges.
func checkServed(tb testing.TB, srv *servertest.Server, id string, sp coach.Speaker, plain []byte) {
	tb.Helper()
	if code, b := getAudio(tb, srv, id, sp, ""); code != http.StatusOK || !bytes.Equal(b, plain) {
		tb.Fatalf("whole recording: %d, %d bytes (want %d)", code, len(b), len(plain))
	}
	n := len(plain)
	if n < 80000 {
		tb.Fatalf("recording of %d bytes is too short for the ranges", n)
	}
	for _, r := range [][2]int{{0, 43}, {100, 70099}, {seal.ChunkSize - 10, seal.ChunkSize + 10}, {n - 5, n - 1}} {
		code, b := getAudio(tb, srv, id, sp, fmt.Sprintf("bytes=%d-%d", r[0], r[1]))
		if code != http.StatusPartialContent || !bytes.Equal(b, plain[r[0]:r[1]+1]) {
			tb.Fatalf("range %v: %d, %d bytes", r, code, len(b))
		}
	}
}

// TestSealedStreamedCall: with a recording key, a streamed call ends with
// only sealed recordings on disk, served like the plain ones; a restart
// with only a new key answers a clear 500 naming the old key, one with
// both keys serves it again, and one with only the old key refuses what
// the new key sealed.
func TestSealedStreamedCall(t *testing.T) {
	ctx := context.Background()
	dir, wavs := t.TempDir(), t.TempDir()
	k1 := newRecordingKey(t)
	srv := startSealed(t, dir, seal.NewKeyring(k1))
	ses, err := srv.Client.CreateSession(ctx, client.CreateRequest{Rep: "Dee", Consent: true, ConsentText: "told"})
	if err != nil {
		t.Fatal(err)
	}
	rep, prospect := toneWAV(t, wavs, "rep.wav", 220, 3), toneWAV(t, wavs, "prospect.wav", 330, 3)
	if err := srv.Client.Stream(ctx, ses.ID, rep, prospect, client.StreamOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, srv.DB, ses.ID)
	noPlainRecordings(t, dir)
	rec, err := srv.DB.Recording(ctx, ses.ID, coach.Rep)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(rec.Path, "rep.wav.enc") {
		t.Fatalf("registered %s, want the sealed file", rec.Path)
	}
	checkPrivate(t, rec.Path)
	plain := unseal(t, rec.Path, seal.NewKeyring(k1))
	if string(plain[:4]) != "RIFF" || len(plain) < 3*16000*2 {
		t.Fatalf("sealed recording holds %d bytes starting %q", len(plain), plain[:4])
	}
	checkServed(t, srv, ses.ID, coach.Rep, plain)

	srv.Close()
	k2 := newRecordingKey(t)
	srv = startSealed(t, dir, seal.NewKeyring(k2))
	checkMissingKey(t, srv, ses.ID, k1)
	srv.Close()
	srv = startSealed(t, dir, seal.NewKeyring(k2, k1))
	checkServed(t, srv, ses.ID, coach.Rep, plain)

	// A call made now is sealed with the new key: the old key alone
	// refuses it, and still opens the first.
	ses2, err := srv.Client.CreateSession(ctx, client.CreateRequest{Rep: "Dee", Consent: true, ConsentText: "told"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Client.Stream(ctx, ses2.ID, rep, prospect, client.StreamOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, srv.DB, ses2.ID)
	srv.Close()
	srv = startSealed(t, dir, seal.NewKeyring(k1))
	checkMissingKey(t, srv, ses2.ID, k2)
	checkServed(t, srv, ses.ID, coach.Rep, plain)
}

// checkMissingKey checks that a recording sealed with k, which srv lacks,
// answers 500 naming k.
func checkMissingKey(tb testing.TB, srv *servertest.Server, id string, k *seal.Key) {
	tb.Helper()
	code, b := getAudio(tb, srv, id, coach.Rep, "bytes=0-99")
	var e map[string]string
	if code != http.StatusInternalServerError || json.Unmarshal(b, &e) != nil || e["key_id"] != k.ID() ||
		!strings.Contains(e["error"], k.ID()) {
		tb.Fatalf("with key %s missing: %d %s", k.ID(), code, b)
	}
}

// TestSealedUpload: an analyzed upload keeps only sealed recordings.
func TestSealedUpload(t *testing.T) {
	ctx := context.Background()
	k := newRecordingKey(t)
	srv := startSealed(t, "", seal.NewKeyring(k))
	wavs := t.TempDir()
	files := map[string]string{"rep": toneWAV(t, wavs, "rep.wav", 220, 4), "prospect": toneWAV(t, wavs, "prospect.wav", 330, 4)}
	code, out := upload(t, srv.URL, files, nil)
	if code != http.StatusAccepted {
		t.Fatalf("%d %v", code, out)
	}
	id := out["id"].(string)
	if u := waitUpload(t, srv.URL, id); u.State != store.UploadDone {
		t.Fatalf("upload %+v", u)
	}
	// Sealing follows the analysis: wait for it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec, err := srv.DB.Recording(ctx, id, coach.Prospect)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(rec.Path, ".enc") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload recording not sealed: %s", rec.Path)
		}
		time.Sleep(20 * time.Millisecond) // polling the store
	}
	rec, err := srv.DB.Recording(ctx, id, coach.Rep)
	if err != nil || !strings.HasSuffix(rec.Path, ".enc") {
		t.Fatalf("rep recording %s: %v", rec.Path, err)
	}
	noPlainRecordings(t, srv.Dir)
	plain := unseal(t, rec.Path, seal.NewKeyring(k))
	checkServed(t, srv, id, coach.Rep, plain)
}

// TestSealedRecovery: a recording a killed server left in the clear is
// repaired and sealed at start.
func TestSealedRecovery(t *testing.T) {
	ctx := context.Background()
	k := newRecordingKey(t)
	srv := startSealed(t, "", seal.NewKeyring(k))
	ses, err := srv.DB.CreateSession(ctx, store.NewSession{Rep: "Dee"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.DB.MarkLive(ctx, ses.ID, 16000); err != nil {
		t.Fatal(err)
	}
	p, err := srv.DB.RecordingPath(ses.ID, coach.Rep, "wav")
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
	w.Write(make([]float32, 2*16000)) // header never patched
	f.Close()
	if err := srv.DB.AddRecording(ctx, ses.ID, coach.Rep, p, "audio/wav"); err != nil {
		t.Fatal(err)
	}
	if n, err := srv.Srv.RecoverSessions(ctx); err != nil || n != 1 {
		t.Fatalf("recovered %d: %v", n, err)
	}
	noPlainRecordings(t, srv.Dir)
	rec, err := srv.DB.Recording(ctx, ses.ID, coach.Rep)
	if err != nil || rec.Path != p+".enc" {
		t.Fatalf("recording %s: %v", rec.Path, err)
	}
	plain := unseal(t, rec.Path, seal.NewKeyring(k))
	tmp := filepath.Join(t.TempDir(), "rep.wav")
	if err := os.WriteFile(tmp, plain, 0o600); err != nil {
		t.Fatal(err)
	}
	if samples, _, err := audio.ReadWAV16(tmp); err != nil || len(samples) != 2*16000 {
		t.Fatalf("repaired recording: %d samples, %v", len(samples), err)
	}
}

// TestSealedWebRTCCall: a WebRTC call's Ogg recordings are sealed when
// the session ends and served decrypted.
func TestSealedWebRTCCall(t *testing.T) {
	needCall(t)
	k := newRecordingKey(t)
	kr := seal.NewKeyring(k)
	ts, _ := newRTCServerWith(t, func(c *server.Config) { c.RecordingKeys = kr })
	id := rtcSession(t, ts)
	c := newRTCClient(t, coach.Prospect, coach.Rep)
	c.connect(t, ts, id)
	c.sendPackets(t, 8, opusCall(t))
	if err := c.dc.SendText(`{"type":"stop"}`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.summary:
	case <-time.After(30 * time.Second):
		t.Fatal("no summary 30 s after stop")
	}
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		var rec store.Recording
		waitFor(t, func() bool {
			var err error
			rec, err = ts.db.Recording(context.Background(), id, sp)
			return err == nil && strings.HasSuffix(rec.Path, ".ogg.enc")
		}, sp.String()+"'s sealed recording")
		plain := unseal(t, rec.Path, kr)
		if b := waitRecording(t, ts, id, sp); !bytes.Equal(b, plain) || string(b[:4]) != "OggS" {
			t.Fatalf("%s: served %d bytes, sealed %d", sp, len(b), len(plain))
		}
	}
	noPlainRecordings(t, ts.dir)
}

// TestSealedUploadRecovery: a restart between sealing an analyzed
// upload's recordings and marking it done finishes the sealing and marks
// it done, not analyzed again.
func TestSealedUploadRecovery(t *testing.T) {
	ctx := context.Background()
	k := newRecordingKey(t)
	srv := startSealed(t, "", seal.NewKeyring(k))
	ses, err := srv.DB.CreateSession(ctx, store.NewSession{Source: store.SourceUpload})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.DB.SetUpload(ctx, store.Upload{ID: ses.ID, State: store.UploadAnalyzing, TotalMS: 2000}); err != nil {
		t.Fatal(err)
	}
	for _, sp := range []coach.Speaker{coach.Rep, coach.Prospect} {
		p, err := srv.DB.RecordingPath(ses.ID, sp, "wav")
		if err != nil {
			t.Fatal(err)
		}
		if err := audio.WriteWAVFile(p, 16000, 1, make([]float32, 2*16000)); err != nil {
			t.Fatal(err)
		}
		if sp == coach.Rep { // sealed before the restart
			var buf bytes.Buffer
			plain, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := seal.Encrypt(&buf, bytes.NewReader(plain), k); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p+".enc", buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Remove(p)
			p += ".enc"
		}
		if err := srv.DB.AddRecording(ctx, ses.ID, sp, p, "audio/wav"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Srv.RecoverSessions(ctx); err != nil {
		t.Fatal(err)
	}
	if u, err := srv.DB.Upload(ctx, ses.ID); err != nil || u.State != store.UploadDone {
		t.Fatalf("upload after recovery: %+v, %v", u, err)
	}
	noPlainRecordings(t, srv.Dir)
	rec, err := srv.DB.Recording(ctx, ses.ID, coach.Prospect)
	if err != nil || !strings.HasSuffix(rec.Path, ".enc") {
		t.Fatalf("prospect recording %s: %v", rec.Path, err)
	}
}
