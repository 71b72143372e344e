package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/blob"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/seal"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/server/servertest"
)

// blobStores returns a fresh recording store of each engine: a shared
// directory, and S3 spoken by gofakes3 on loopback.
func blobStores() map[string]func(testing.TB) blob.Store {
	return map[string]func(testing.TB) blob.Store{
		"dir": func(tb testing.TB) blob.Store {
			d, err := blob.NewDir(filepath.Join(tb.TempDir(), "shared"))
			if err != nil {
				tb.Fatal(err)
			}
			return d
		},
		"s3": func(tb testing.TB) blob.Store {
			be := s3mem.New()
			if err := be.CreateBucket("rec"); err != nil {
				tb.Fatal(err)
			}
			ts := httptest.NewServer(gofakes3.New(be).Server())
			tb.Cleanup(ts.Close)
			u, _ := url.Parse(ts.URL)
			st, err := blob.NewS3(blob.S3Config{Endpoint: u.Host, Bucket: "rec", Region: "us-east-1",
				PathStyle: true, Insecure: true, AccessKey: "k", SecretKey: "secret"})
			if err != nil {
				tb.Fatal(err)
			}
			return st
		},
	}
}

func blobKeys(tb testing.TB, st blob.Store, prefix string) []string {
	tb.Helper()
	l, err := st.List(context.Background(), prefix)
	if err != nil {
		tb.Fatal(err)
	}
	var ks []string
	for _, i := range l {
		ks = append(ks, i.Key)
	}
	return ks
}

func readObject(tb testing.TB, st blob.Store, key string) []byte {
	tb.Helper()
	o, err := st.Open(context.Background(), key)
	if err != nil {
		tb.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestRecordingsInBlobStore: with Config.Recordings, a streamed call's
// audio reaches the store in segments while the call runs; at its end
// the sealed recordings replace the segments and the local files, /audio
// serves them (with Range) from the store, and erasure deletes them.
func TestRecordingsInBlobStore(t *testing.T) {
	for name, mk := range blobStores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			objs := mk(t)
			kr := seal.NewKeyring(newRecordingKey(t))
			srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) {
				c.RecordingKeys, c.Recordings, c.SegmentInterval, c.NodeID = kr, objs, time.Second, "node-a"
			}})
			ses, err := srv.Client.CreateSession(ctx, client.CreateRequest{Rep: "Dee", Consent: true, ConsentText: "told"})
			if err != nil {
				t.Fatal(err)
			}
			wavs := t.TempDir()
			rep, prospect := toneWAV(t, wavs, "rep.wav", 220, 4), toneWAV(t, wavs, "prospect.wav", 330, 4)
			segPrefix := "recordings/" + ses.ID + "/rep/seg-"
			var during []string
			opts := client.StreamOptions{OnSent: func(ms int64, _ time.Time) {
				if ms != 3000 {
					return
				}
				// The call is still running: its first segments are stored.
				deadline := time.Now().Add(20 * time.Second)
				for len(during) < 2 && time.Now().Before(deadline) {
					during = blobKeys(t, objs, segPrefix)
					time.Sleep(10 * time.Millisecond) // polling the store, as another node would
				}
			}}
			if err := srv.Client.Stream(ctx, ses.ID, rep, prospect, opts, nil); err != nil {
				t.Fatal(err)
			}
			waitEnded(t, srv.DB, ses.ID)
			if len(during) < 2 || !strings.HasPrefix(strings.TrimPrefix(during[0], segPrefix), "000000000000-node_a.pcm") {
				t.Fatalf("segments during the call: %v", during)
			}
			want := []string{"recordings/" + ses.ID + "/prospect.wav.enc", "recordings/" + ses.ID + "/rep.wav.enc"}
			if got := blobKeys(t, objs, "recordings/"+ses.ID+"/"); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("objects after the call: %v, want %v", got, want)
			}
			noPlainRecordings(t, srv.Dir)
			if local := keysUnder(t, filepath.Join(srv.Dir, "audio", ses.ID)); len(local) != 0 {
				t.Fatalf("local recording files left: %v", local)
			}
			sealed := readObject(t, objs, want[1])
			r, err := seal.NewReader(bytes.NewReader(sealed), int64(len(sealed)), kr)
			if err != nil {
				t.Fatal(err)
			}
			plain, _ := io.ReadAll(r)
			if string(plain[:4]) != "RIFF" || len(plain) < 4*16000*2 {
				t.Fatalf("published recording: %d bytes", len(plain))
			}
			checkServed(t, srv, ses.ID, coach.Rep, plain)

			req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v1/sessions/"+ses.ID, nil)
			resp, err := srv.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("erase: %d", resp.StatusCode)
			}
			if got := blobKeys(t, objs, "recordings/"+ses.ID+"/"); len(got) != 0 {
				t.Fatalf("objects after erasure: %v", got)
			}
		})
	}
}

// keysUnder lists the files under dir (none when it is gone).
func keysUnder(tb testing.TB, dir string) []string {
	tb.Helper()
	d, err := blob.NewDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return blobKeys(tb, d, "")
}

// pcmSegment is n samples of value v as a stored segment.
func pcmSegment(n int, v float32) []byte {
	b := make([]byte, 0, 2*n)
	for range n {
		b = binary.LittleEndian.AppendUint16(b, uint16(audio.FloatToInt16(v)))
	}
	return b
}

// TestRecordingFromSegments: a call whose node died leaves only its
// segments (two nodes', the second having taken the call over); the node
// that recovers it assembles them in time order (a gap is silence, an
// overlap keeps the earlier audio), publishes the recording and deletes
// the segments.
func TestRecordingFromSegments(t *testing.T) {
	ctx := context.Background()
	objs := blobStores()["dir"](t)
	srv := servertest.Start(t, servertest.Options{Edit: func(c *server.Config) {
		c.Recordings, c.NodeID = objs, "node-c"
	}})
	ses, err := srv.Client.CreateSession(ctx, client.CreateRequest{Rep: "Dee", Consent: true, ConsentText: "told"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.DB.MarkLive(ctx, ses.ID, 16000); err != nil {
		t.Fatal(err)
	}
	pre := "recordings/" + ses.ID + "/rep/seg-"
	half := append(pcmSegment(8000, 0.125), pcmSegment(8000, -0.25)...)
	for key, data := range map[string][]byte{
		pre + "000000000000-node_a.pcm":                                  pcmSegment(16000, 0.25),
		pre + "000000002000-node_a.pcm":                                  pcmSegment(16000, 0.5),
		pre + "000000002500-node_b.pcm":                                  half,
		"recordings/" + ses.ID + "/prospect/seg-000000000000-node_a.pcm": pcmSegment(4000, 0.75),
	} {
		if err := objs.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	// Before recovery (the call still live elsewhere), /audio serves what
	// the segments hold.
	p, err := srv.DB.RecordingPath(ses.ID, coach.Rep, "wav")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.DB.AddRecording(ctx, ses.ID, coach.Rep, p, "audio/wav"); err != nil {
		t.Fatal(err)
	}
	if code, wav := getAudio(t, srv, ses.ID, coach.Rep, ""); code != http.StatusOK || len(decodeWAV16(t, wav)) != 56000 {
		t.Fatalf("audio of the live call from its segments: %d, %d bytes", code, len(wav))
	}
	if code, part := getAudio(t, srv, ses.ID, coach.Rep, "bytes=100-199"); code != http.StatusPartialContent || len(part) != 100 {
		t.Fatalf("range of the live call: %d, %d bytes", code, len(part))
	}
	if _, err := srv.Srv.RecoverSessions(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"recordings/" + ses.ID + "/prospect.wav", "recordings/" + ses.ID + "/rep.wav"}
	if got := blobKeys(t, objs, "recordings/"+ses.ID+"/"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("objects after recovery: %v, want %v", got, want)
	}
	code, wav := getAudio(t, srv, ses.ID, coach.Rep, "")
	if code != http.StatusOK {
		t.Fatalf("audio: %d", code)
	}
	pcm := decodeWAV16(t, wav)
	if len(pcm) != 56000 {
		t.Fatalf("assembled %d samples, want 56000 (3.5 s)", len(pcm))
	}
	for _, c := range []struct {
		at   int
		want int16
	}{{0, 8192}, {15999, 8192}, {16000, 0}, {31999, 0}, {32000, 16384}, {47999, 16384}, {48000, -8192}, {55999, -8192}} {
		if pcm[c.at] != c.want {
			t.Errorf("sample %d = %d, want %d", c.at, pcm[c.at], c.want)
		}
	}
	if _, err := objs.Stat(ctx, pre+"000000000000-node_a.pcm"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("segment left after the recording was published: %v", err)
	}
}

func decodeWAV16(tb testing.TB, wav []byte) []int16 {
	tb.Helper()
	i := bytes.Index(wav, []byte("data"))
	if i < 0 {
		tb.Fatalf("no data chunk in %d bytes", len(wav))
	}
	body := wav[i+8:]
	out := make([]int16, len(body)/2)
	for k := range out {
		out[k] = int16(binary.LittleEndian.Uint16(body[2*k:]))
	}
	return out
}
