package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/server"
	"github.com/cuecard/cuecard/store"
)

const fragType = "application/trickle-ice-sdpfrag"

// whipDo sends a request with token (none when empty) and returns the
// answer with its body read.
func whipDo(t *testing.T, method, url, token, ctype, body string, hdr map[string]string) (reply, string) {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	resp, err := noRedirect.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return reply{resp.StatusCode, resp.Header}, b.String()
}

// TestWHIPOptions checks the endpoint's OPTIONS answer (RFC 9725, 4.1):
// Accept-Post names SDP, with or without credentials, as a CORS preflight
// sends none.
func TestWHIPOptions(t *testing.T) {
	ts, _ := newRTCServer(t)
	id := rtcSession(t, ts)
	for _, tok := range []string{"", ts.st.Token} {
		resp, _ := whipDo(t, http.MethodOptions, ts.ts.URL+"/v1/sessions/"+id+"/webrtc", tok, "", "", nil)
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Accept-Post") != "application/sdp" {
			t.Fatalf("OPTIONS: %d, Accept-Post %q", resp.StatusCode, resp.Header.Get("Accept-Post"))
		}
	}
}

// whipConnect posts a two-track offer as the session's owner and returns
// the client, the resource URL and its ETag.
func whipConnect(t *testing.T, ts *testServer, id string) (*rtcClient, string, string) {
	t.Helper()
	c := newRTCClient(t, coach.Rep, coach.Prospect)
	resp, answer := postOffer(t, ts, id, "application/sdp", c.offer(t))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("offer: %d %s", resp.StatusCode, answer)
	}
	loc, etag := resp.Header.Get("Location"), resp.Header.Get("ETag")
	if !strings.HasPrefix(loc, "/v1/sessions/"+id+"/webrtc/") || len(etag) < 3 || etag[0] != '"' {
		t.Fatalf("Location %q, ETag %q", loc, etag)
	}
	return c, ts.ts.URL + loc, etag
}

// TestWHIPPatchAndDelete checks the resource's PATCH preconditions and
// who may end it with DELETE.
func TestWHIPPatchAndDelete(t *testing.T) {
	ts, rtc := newRTCServer(t)
	ses, err := ts.cl.CreateSession(context.Background(), clientCreate())
	if err != nil {
		t.Fatal(err)
	}
	other, err := ts.cl.CreateSession(context.Background(), clientCreate())
	if err != nil {
		t.Fatal(err)
	}
	id, ingest := ses.ID, ses.IngestToken
	_, res, etag := whipConnect(t, ts, id)
	owner := ts.st.Token
	_, teammate := ts.st.NewUser(t, "teammate@example.com", auth.RoleRep, "")
	restart := "a=ice-ufrag:newufrag\r\na=ice-pwd:newpasswordnewpasswordxx\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
	tests := []struct {
		name, token, ctype, body string
		hdr                      map[string]string
		code                     int
	}{
		{"anonymous", "", fragType, "", nil, http.StatusUnauthorized},
		{"another user", teammate, fragType, "", nil, http.StatusNotFound},
		{"wrong content type", owner, "application/sdp", "", nil, http.StatusUnsupportedMediaType},
		{"stale ETag", owner, fragType, "a=end-of-candidates\r\n", map[string]string{"If-Match": `"stale"`}, http.StatusPreconditionFailed},
		{"restart with a stale ETag", owner, fragType, restart, map[string]string{"If-Match": `"stale"`}, http.StatusPreconditionFailed},
		{"restart without If-Match", owner, fragType, restart, nil, http.StatusPreconditionRequired},
		{"not a fragment", owner, fragType, "hello", nil, http.StatusBadRequest},
		{"bad candidate", owner, fragType, "a=mid:0\r\na=candidate:nonsense\r\n", map[string]string{"If-Match": etag}, http.StatusBadRequest},
		{"end of candidates", owner, fragType, "a=end-of-candidates\r\n", map[string]string{"If-Match": etag}, http.StatusNoContent},
		{"ingest token", ingest, fragType, "a=end-of-candidates\r\n", map[string]string{"If-Match": etag}, http.StatusNoContent},
		{"another session's ingest token", other.IngestToken, fragType, "a=end-of-candidates\r\n", nil, http.StatusNotFound},
		{"trickle without If-Match", owner, fragType,
			"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n", nil, http.StatusNoContent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := whipDo(t, http.MethodPatch, res, tt.token, tt.ctype, tt.body, tt.hdr)
			if resp.StatusCode != tt.code {
				t.Fatalf("PATCH: %d %s, want %d", resp.StatusCode, body, tt.code)
			}
		})
	}
	for _, tt := range []struct {
		name, token, url string
		code             int
	}{
		{"anonymous", "", res, http.StatusUnauthorized},
		{"another user", teammate, res, http.StatusNotFound},
		{"unknown resource", owner, ts.ts.URL + "/v1/sessions/" + id + "/webrtc/nosuch", http.StatusNotFound},
		{"another session's ingest token", other.IngestToken, res, http.StatusNotFound},
		{"the session's ingest token", ingest, res, http.StatusOK},
		{"again", owner, res, http.StatusNotFound},
	} {
		resp, body := whipDo(t, http.MethodDelete, tt.url, tt.token, "", "", nil)
		if resp.StatusCode != tt.code {
			t.Fatalf("DELETE as %s: %d %s, want %d", tt.name, resp.StatusCode, body, tt.code)
		}
	}
	whipEnded(t, ts, id, 30*time.Second)
	waitFor(t, func() bool { return rtc.Peers() == 0 }, "peer count back to 0")
}

// TestWHIPCapacityAndRedirect checks 503 with Retry-After past MaxPeers,
// and the redirect hook's 307.
func TestWHIPCapacityAndRedirect(t *testing.T) {
	ts, _ := newRTCServer(t, func(c *server.WebRTCConfig) {
		c.MaxPeers, c.RetryAfter = 1, 7*time.Second
		c.Redirect = func(r *http.Request, session string) string {
			if r.URL.Query().Get("elsewhere") != "" {
				return "https://node2.example.com/v1/sessions/" + session + "/webrtc"
			}
			return ""
		}
	})
	id := rtcSession(t, ts)
	whipConnect(t, ts, id)
	offer := newRTCClient(t, coach.Rep).offer(t)
	url := ts.ts.URL + "/v1/sessions/" + id + "/webrtc"
	resp, body := whipDo(t, http.MethodPost, url, ts.st.Token, "application/sdp", offer, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("second peer: %d %s, Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	resp, body = whipDo(t, http.MethodPost, url+"?elsewhere=1", ts.st.Token, "application/sdp", offer, nil)
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != "https://node2.example.com/v1/sessions/"+id+"/webrtc" {
		t.Fatalf("redirect: %d %s, Location %q", resp.StatusCode, body, resp.Header.Get("Location"))
	}
}

// whipEnded polls until session id has ended and returns it.
func whipEnded(t *testing.T, ts *testServer, id string, timeout time.Duration) store.Session {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		ses, err := ts.db.GetSession(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ses.Status == store.StatusEnded {
			return ses
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("session %s has not ended: %+v", id, ses)
		}
	}
}

// buildWHIPClient builds internal/whipclient, the independent WHIP client.
func buildWHIPClient(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the go command is needed to build the WHIP client")
		}
		t.Skip("the go command is not on PATH: cannot build the WHIP client")
	}
	bin := filepath.Join(t.TempDir(), "whipclient")
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/cuecard/cuecard/internal/whipclient")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the WHIP client: %v\n%s", err, out)
	}
	return bin
}

// TestWHIPClientProcess runs a WHIP client of its own process (pion, one
// stereo Opus track: left rep, right prospect) against the server: POST,
// trickled candidates, an ICE restart half-way through the call, a stale
// ETag refused, DELETE. The session must hear both sides of the call.
func TestWHIPClientProcess(t *testing.T) {
	needCall(t)
	bin := buildWHIPClient(t)
	ts, rtc := newRTCServer(t)
	id := rtcSession(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-endpoint", ts.ts.URL+"/v1/sessions/"+id+"/webrtc",
		"-token", ts.st.Token, "-rep", rep(), "-prospect", prospect(), "-speed", "4")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("whipclient: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.Bytes())
	}
	steps := map[string][]map[string]any{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("whipclient line %q: %v", sc.Text(), err)
		}
		name, _ := m["step"].(string)
		steps[name] = append(steps[name], m)
	}
	t.Logf("whipclient:\n%s", out)
	status := func(step string) float64 {
		if len(steps[step]) == 0 {
			t.Fatalf("no %s step", step)
		}
		v, _ := steps[step][0]["status"].(float64)
		return v
	}
	if status("post") != 201 || status("trickle") != 204 || status("restart") != 200 || status("stale") != 412 || status("delete") != 200 {
		t.Fatalf("steps: %v", steps)
	}
	if r := steps["restart"][0]; r["etag"] == r["old_etag"] || r["etag"] == "" {
		t.Fatalf("the ICE restart kept the ETag: %v", r)
	}
	// The session works through the audio queued before the DELETE.
	if ses := whipEnded(t, ts, id, 3*time.Minute); ses.Summary == nil {
		t.Fatalf("stored session %+v", ses)
	}
	evs := storedEvents(t, ts, id)
	heard, afterRestart := map[coach.Speaker]int{}, 0
	half, _ := steps["sent"][0]["packets"].(float64)
	for _, ev := range filter(evs, "transcript") {
		if ev.Final && ev.Text != "" {
			heard[ev.Speaker]++
			if ev.StartMS > int64(half)*20 {
				afterRestart++
			}
		}
	}
	if heard[coach.Rep] == 0 || heard[coach.Prospect] == 0 || afterRestart == 0 {
		t.Fatalf("final transcripts by speaker: %v, %d after the ICE restart", heard, afterRestart)
	}
	if len(filter(evs, "cue")) == 0 {
		t.Error("no cue from the stereo call")
	}
	waitFor(t, func() bool { return rtc.Peers() == 0 }, "peer count back to 0")
}
