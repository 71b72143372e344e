package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/cluster/clustertest"
)

func TestStorageFlagsRejected(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		err  string
	}{
		{"bad recordings", []string{"--recordings", "ftp://x"}, "--recordings"},
		{"s3 without endpoint", []string{"--recordings", "s3://bucket"}, "endpoint"},
		{"jobs nats without nats", []string{"--jobs", "nats"}, "needs --nats"},
		{"unknown jobs", []string{"--jobs", "cron"}, "want local or nats"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newServeMain(io.Discard, io.Discard).ParseFlags(append([]string{"--asr", "none"}, tc.args...), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
		})
	}
}

// TestServeSharedRecordings runs `cuecard serve --recordings dir:...
// --jobs nats`: a streamed call's recordings end in the shared
// directory, not under --data.
func TestServeSharedRecordings(t *testing.T) {
	t.Setenv("CUECARD_CLUSTER_SECRET", "a cluster secret for the recordings test")
	url, nc := clustertest.URL(t), clustertest.Conn(t)
	prefix := fmt.Sprintf("cmd%d", time.Now().UnixNano())
	defer func() {
		js, _ := jetstream.New(nc)
		_ = js.DeleteStream(context.Background(), prefix+"_JOBS")
	}()
	dir := t.TempDir()
	rep, prospect := filepath.Join(dir, "rep.wav"), filepath.Join(dir, "prospect.wav")
	writeTone(t, rep, 3000, 500, 2500)
	writeTone(t, prospect, 3000, 0, 0)
	data, shared := filepath.Join(dir, "data"), filepath.Join(dir, "shared")
	base, stop := startServe(t, data, "--asr", "none", "--recordings", "dir:"+shared,
		"--jobs", "nats", "--nats", url, "--jobs-prefix", prefix, "--cluster-prefix", prefix, "--node-id", "n1")
	defer stop()
	code, out, stderr := runCmd(t, "token", "create", "--data", data, "--email", "ana@example.com", "--role", "rep", "--team", "East")
	if code != 0 {
		t.Fatalf("token create: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	cl := &client.Client{BaseURL: base, Token: lines[len(lines)-1]}
	ses, err := cl.CreateSession(context.Background(), client.CreateRequest{Consent: true, ConsentText: "recorded"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Stream(context.Background(), ses.ID, rep, prospect, client.StreamOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(shared, "recordings", ses.ID, "rep.wav")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(want); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s after the call", want)
		}
		time.Sleep(20 * time.Millisecond) // polling the shared directory, as another node would
	}
}
