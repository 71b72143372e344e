package main

import (
	"bufio"
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nuid"

	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/cluster/clustertest"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/internal/calltest"
)

// testNATS returns the URL of the NATS server the tests use, skipping
// the test (failing it in CI) when none answers.
func testNATS(t *testing.T) string {
	t.Helper()
	return clustertest.URL(t)
}

// startWorkerProc starts `cuecard worker` in its own process and waits
// until it serves; it is killed when the test ends.
func startWorkerProc(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"worker"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &syncWriter{w: &stderr}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "decoders serving") {
				close(ready)
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	select {
	case <-ready:
	case err := <-done:
		done <- err
		t.Fatalf("worker exited: %v\n%s", err, stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("worker did not start\n%s", stderr.String())
	}
	return cmd
}

// TestServeWithWorkers runs a server that holds no recognizer (--asr
// workers) and a `cuecard worker` process: a call streamed into the
// server gets its transcripts and cues from the worker.
func TestServeWithWorkers(t *testing.T) {
	t.Setenv("CUECARD_CLUSTER_SECRET", "a cluster secret for the workers test")
	calltest.RequireModel(t)
	url := testNATS(t)
	call := synthCall(t, 60000)
	bin := buildCuecard(t)
	prefix := "test" + strings.ToLower(nuid.Next())
	startWorkerProc(t, bin, "--nats", url, "--prefix", prefix, "--decoders", "2")
	srv := startServeProc(t, bin, t.TempDir(), "--asr", "workers", "--nats", url, "--asr-workers-prefix", prefix, "--cluster-prefix", prefix)
	cl := &client.Client{BaseURL: srv.url, Token: srv.token}
	ses, err := cl.CreateSession(context.Background(), client.CreateRequest{Rep: "Ana", Consent: true, ConsentText: "recorded for coaching"})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	var text []string
	var last coach.Event
	err = cl.Stream(context.Background(), ses.ID, call.Rep, call.Prospect, client.StreamOptions{Speed: 1}, func(ev coach.Event) {
		counts[ev.Type]++
		if ev.Type == coach.EventTranscript && ev.Final {
			text = append(text, ev.Text)
		}
		if ev.Type == coach.EventStatus {
			t.Logf("status at %d ms: %s %s", ev.AtMS, ev.ASR, ev.Reason)
		}
		last = ev
	})
	if err != nil {
		t.Fatalf("stream: %v\n%s", err, srv.stderr)
	}
	all := strings.Join(text, " ")
	t.Logf("events %v; finals: %s", counts, all)
	if last.Type != coach.EventSummary {
		t.Fatalf("last event %s, want the summary", last.Type)
	}
	if len(text) < 3 || !strings.Contains(all, "trade show") {
		t.Errorf("%d final transcripts (%q): want the call's words", len(text), all)
	}
	if counts[coach.EventCue] == 0 {
		t.Errorf("no cue (events %v)", counts)
	}
}

// TestWorkerKilledMidCall kills -9 one of two worker processes in the
// middle of a call: the segments it was decoding are replayed on the
// other, transcripts go on, and recognition ends the call healthy.
func TestWorkerKilledMidCall(t *testing.T) {
	t.Setenv("CUECARD_CLUSTER_SECRET", "a cluster secret for the workers test")
	calltest.RequireModel(t)
	url := testNATS(t)
	call := synthCall(t, 60000)
	bin := buildCuecard(t)
	prefix := "test" + strings.ToLower(nuid.Next())
	w1 := startWorkerProc(t, bin, "--nats", url, "--prefix", prefix, "--decoders", "2")
	startWorkerProc(t, bin, "--nats", url, "--prefix", prefix, "--decoders", "2")
	srv := startServeProc(t, bin, t.TempDir(), "--asr", "workers", "--nats", url, "--asr-workers-prefix", prefix, "--cluster-prefix", prefix)
	cl := &client.Client{BaseURL: srv.url, Token: srv.token}
	ses, err := cl.CreateSession(context.Background(), client.CreateRequest{Rep: "Ana", Consent: true, ConsentText: "recorded for coaching"})
	if err != nil {
		t.Fatal(err)
	}
	const killAtMS = 20000
	var (
		killed  bool
		after   int // finals of speech that began after the kill
		last    coach.Event
		lastASR string
	)
	err = cl.Stream(context.Background(), ses.ID, call.Rep, call.Prospect, client.StreamOptions{Speed: 1,
		OnSent: func(ms int64, _ time.Time) {
			if ms >= killAtMS && !killed {
				killed = true
				w1.Process.Kill()
			}
		}}, func(ev coach.Event) {
		switch ev.Type {
		case coach.EventTranscript:
			if ev.Final && ev.StartMS > killAtMS {
				after++
			}
		case coach.EventStatus:
			lastASR = ev.ASR
			t.Logf("status at %d ms: %s %s", ev.AtMS, ev.ASR, ev.Reason)
		}
		last = ev
	})
	if err != nil {
		t.Fatalf("stream: %v\n%s", err, srv.stderr)
	}
	if !killed || last.Type != coach.EventSummary {
		t.Fatalf("killed %v, last event %s", killed, last.Type)
	}
	if after < 2 {
		t.Errorf("%d final transcripts of speech after the kill, want the rest of the call's", after)
	}
	if lastASR == "degraded" {
		t.Error("recognition still degraded at the end of the call")
	}
}
