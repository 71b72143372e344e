package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
	"github.com/cuecard/cuecard/seal"
	"github.com/cuecard/cuecard/synth"
)

// The crash tests run the real program in its own process, kill it with
// SIGKILL in the middle of a call or an upload, start it again on the same
// data directory and check what survived.

// buildCuecard builds the cuecard binary into a temporary directory.
func buildCuecard(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cuecard")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveProc is `cuecard serve` running in its own process.
type serveProc struct {
	cmd    *exec.Cmd
	url    string
	token  string // an administrator's API token
	stderr *bytes.Buffer
	done   chan error
}

// startServeProc starts `cuecard serve` on a free port with data directory
// dir and waits until it listens. It is killed, if still running, when the
// test ends.
func startServeProc(t *testing.T, bin, dir string, args ...string) *serveProc {
	t.Helper()
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--webrtc-udp-port", "-1"}, args...)
	p := &serveProc{cmd: exec.Command(bin, args...), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	where := []string{"--data", dir}
	if i := slices.Index(args, "--database"); i >= 0 {
		where = append(where, args[i:i+2]...)
	}
	code, tok, errs := runCmd(t, append(append([]string{"token", "create"}, where...), "--email", "admin@example.com", "--role", "admin")...)
	if code != 0 {
		t.Fatalf("token create: %s", errs)
	}
	p.token = strings.TrimSpace(tok)
	p.cmd.Stderr = &syncWriter{w: p.stderr}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "serving on "); ok {
				urls <- strings.TrimSuffix(strings.Fields(rest)[0], "/")
			}
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() { p.kill(t) })
	select {
	case p.url = <-urls:
		procTokens.Store(p.url, p.token)
	case err := <-p.done:
		p.done <- err
		t.Fatalf("serve exited: %v\n%s", err, p.stderr)
	case <-time.After(2 * time.Minute):
		t.Fatalf("serve did not start\n%s", p.stderr)
	}
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *serveProc) kill(tb testing.TB) {
	tb.Helper()
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// apiRequest builds a request to the server's API; every request of these
// tests goes through it (the place for credentials).
func apiRequest(tb testing.TB, method, url string, body io.Reader) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		tb.Fatal(err)
	}
	procTokens.Range(func(k, v any) bool {
		if strings.HasPrefix(url, k.(string)) {
			req.Header.Set("Authorization", "Bearer "+v.(string))
			return false
		}
		return true
	})
	return req
}

// procTokens maps each server process's URL to its administrator's token.
var procTokens sync.Map

// getJSON GETs url and decodes its JSON answer into v.
func getJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	resp, err := http.DefaultClient.Do(apiRequest(tb, "GET", url, nil))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
}

// synthCall speaks the demo call's utterances that end before untilMS.
func synthCall(t *testing.T, untilMS int64) *synth.Result {
	t.Helper()
	calltest.RequireTool(t, "flite", "sox", "soxi")
	utts, err := synth.ReadFile("../../examples/demo-call.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var keep []synth.Utterance
	for _, u := range utts {
		if u.EndMS <= untilMS {
			keep = append(keep, u)
		}
	}
	return calltest.SynthCall(t, keep, synth.DefaultOptions())
}

// soxDurationMS is the length of a sound file as sox reads it.
func soxDurationMS(tb testing.TB, path string) int64 {
	tb.Helper()
	out, err := exec.Command("soxi", "-D", path).CombinedOutput()
	if err != nil {
		tb.Fatalf("soxi %s: %v: %s", path, err, out)
	}
	s, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		tb.Fatal(err)
	}
	return int64(s * 1000)
}

type sessionView struct {
	Status  string         `json:"status"`
	Summary *coach.Summary `json:"summary"`
}

// TestKilledDuringCall kills the server 12 s into a live call: after a
// restart the session has ended with a summary, its events are stored and
// both recordings play to within a second of what was sent. With a
// recording key, the restart also seals them: no plain file is left.
func TestKilledDuringCall(t *testing.T) {
	call := synthCall(t, 30000)
	bin := buildCuecard(t)
	keyFile, key := writeKeyFile(t, t.TempDir(), "recording.key", false)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"plain", []string{"--asr", "none"}},
		{"sealed", []string{"--asr", "none", "--recording-key-file", keyFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var kr *seal.Keyring
			if tc.name == "sealed" {
				kr = seal.NewKeyring(key)
			}
			killDuringCall(t, bin, call, tc.args, kr)
		})
	}
}

// killDuringCall is TestKilledDuringCall with the server's arguments and
// the keyring it seals with (nil: none).
func killDuringCall(t *testing.T, bin string, call *synth.Result, args []string, kr *seal.Keyring) {
	data := filepath.Join(t.TempDir(), "data")
	srv := startServeProc(t, bin, data, args...)
	cl := &client.Client{BaseURL: srv.url, Token: srv.token}
	ses, err := cl.CreateSession(context.Background(), client.CreateRequest{Rep: "Ana", Consent: true, ConsentText: "recorded for coaching"})
	if err != nil {
		t.Fatal(err)
	}
	const killAtMS = 12000
	var (
		sentMS    int64
		mu        sync.Mutex
		lastSeen  int64 // media time of the last event the client had
		nReceived int
	)
	err = cl.Stream(context.Background(), ses.ID, call.Rep, call.Prospect, client.StreamOptions{Speed: 1,
		OnSent: func(ms int64, _ time.Time) {
			if ms >= killAtMS && sentMS == 0 {
				sentMS = ms
				srv.kill(t)
			}
		}}, func(ev coach.Event) {
		mu.Lock()
		lastSeen, nReceived = max(lastSeen, ev.AtMS), nReceived+1
		mu.Unlock()
	})
	if err == nil || sentMS == 0 {
		t.Fatalf("the stream ended (%v) without the server being killed", err)
	}

	srv = startServeProc(t, bin, data, args...)
	var got sessionView
	getJSON(t, srv.url+"/v1/sessions/"+ses.ID, &got)
	if got.Status != "ended" || got.Summary == nil || got.Summary.Metrics.RepShare <= 0 {
		t.Fatalf("after the restart: status %s, summary %+v", got.Status, got.Summary)
	}
	counts, lastStored := storedEvents(t, srv.url, ses.ID)
	if counts[coach.EventSpeech] == 0 || counts[coach.EventTalk] == 0 || counts[coach.EventSummary] != 1 {
		t.Fatalf("stored events: %v", counts)
	}
	mu.Lock()
	t.Logf("events: the client had %d up to %d ms; stored up to %d ms", nReceived, lastSeen, lastStored)
	if lastStored < lastSeen-1000 {
		t.Errorf("events stored up to %d ms, the client had them up to %d ms", lastStored, lastSeen)
	}
	mu.Unlock()
	for _, sp := range []string{"rep", "prospect"} {
		p := recordedWAV(t, filepath.Join(data, "audio", ses.ID, sp+".wav"), kr)
		d := soxDurationMS(t, p)
		t.Logf("%s: %d ms sent, %d ms recorded: %d ms lost", sp, sentMS, d, sentMS-d)
		if d < sentMS-1000 || d > sentMS+100 {
			t.Errorf("%s recording: %d ms, sent %d ms", sp, d, sentMS)
		}
		checkAudioRange(t, srv.url, ses.ID, sp)
	}
	if d := got.Summary.Metrics.DurationMS; d < sentMS-1000 {
		t.Errorf("summary duration %d ms, sent %d ms", d, sentMS)
	}
}

// recordedWAV returns the path of the plain recording p, or, with kr,
// checks that only its sealed copy is on disk and returns a decrypted one.
func recordedWAV(t *testing.T, p string, kr *seal.Keyring) string {
	t.Helper()
	if kr == nil {
		return p
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("plain recording left after the restart: %v", err)
	}
	b, err := openSealed(p+".enc", kr)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), filepath.Base(p))
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// storedEvents counts the stored events of a session by type and returns
// the media time of the last before the summary.
func storedEvents(t *testing.T, url, id string) (map[string]int, int64) {
	t.Helper()
	resp, err := http.DefaultClient.Do(apiRequest(t, "GET", url+"/v1/sessions/"+id+"/events", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	counts := map[string]int{}
	var last int64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Type string
			AtMS int64 `json:"at_ms"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		counts[ev.Type]++
		if ev.Type != coach.EventSummary {
			last = max(last, ev.AtMS)
		}
	}
	return counts, last
}

// checkAudioRange asks for the first bytes of one side's recording.
func checkAudioRange(t *testing.T, url, id, sp string) {
	t.Helper()
	req := apiRequest(t, "GET", url+"/v1/sessions/"+id+"/audio?speaker="+sp, nil)
	req.Header.Set("Range", "bytes=0-99")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || len(b) != 100 || string(b[:4]) != "RIFF" {
		t.Fatalf("audio of %s with Range: %d, %d bytes %q", sp, resp.StatusCode, len(b), b[:min(len(b), 4)])
	}
}

// TestKilledDuringUpload kills the server while one upload is analyzed
// and another is still being received: after a restart the first
// finishes (or fails with a reason) and the second's files are gone.
func TestKilledDuringUpload(t *testing.T) {
	calltest.RequireModel(t)
	call := synthCall(t, 60000)
	bin := buildCuecard(t)
	data := filepath.Join(t.TempDir(), "data")
	srv := startServeProc(t, bin, data)

	body, ctype := multipartFile(t, "stereo", call.Stereo)
	req := apiRequest(t, "POST", srv.url+"/v1/uploads", bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var up struct{ ID, State string }
	json.NewDecoder(resp.Body).Decode(&up)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("upload: %d", resp.StatusCode)
	}

	// A second upload whose body stops halfway: its file is being received.
	pr, pw := io.Pipe()
	req = apiRequest(t, "POST", srv.url+"/v1/uploads", pr)
	req.Header.Set("Content-Type", ctype)
	stalled := make(chan struct{})
	go func() {
		defer close(stalled)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	pw.Write(body[:len(body)/2])
	waitFor(t, "a temporary upload directory", func() bool {
		m, _ := filepath.Glob(filepath.Join(data, "upload-*", "stereo.upload"))
		return len(m) > 0
	})
	var state struct {
		State string `json:"state"`
		Error string `json:"error"`
	}
	getJSON(t, srv.url+"/v1/uploads/"+up.ID, &state)
	srv.kill(t)
	pw.Close()
	<-stalled
	t.Logf("killed with the upload %s", state.State)

	srv = startServeProc(t, bin, data)
	if m, _ := filepath.Glob(filepath.Join(data, "upload-*")); len(m) > 0 {
		t.Fatalf("temporary upload files left: %v", m)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.stderr)
		}
	})
	waitFor(t, "the upload to finish", func() bool {
		getJSON(t, srv.url+"/v1/uploads/"+up.ID, &state)
		return state.State != "analyzing"
	})
	t.Logf("after the restart the upload is %s", state.State)
	switch state.State {
	case "done":
		var got sessionView
		getJSON(t, srv.url+"/v1/sessions/"+up.ID, &got)
		if got.Status != "ended" || got.Summary == nil || got.Summary.Metrics.RepShare <= 0 {
			t.Fatalf("uploaded session: %+v", got)
		}
	case "failed":
		if state.Error == "" {
			t.Fatal("the upload failed without a reason")
		}
	default:
		t.Fatalf("upload state %q", state.State)
	}
}

// multipartFile returns a multipart body with the file at path as field.
func multipartFile(tb testing.TB, field, path string) ([]byte, string) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("consent", "true")
	mw.WriteField("consent_text", "the callers were told this call is recorded")
	fw, err := mw.CreateFormFile(field, filepath.Base(path))
	if err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	fw.Write(b)
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}

// waitFor polls cond until it holds, failing the test after three
// minutes (an upload's analysis with speech recognition is slow on a
// small machine).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(3 * time.Minute)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}
