package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cuecard/cuecard/auth"
	"github.com/cuecard/cuecard/bench"
	"github.com/cuecard/cuecard/eval"
	"github.com/cuecard/cuecard/stream"
	"github.com/cuecard/cuecard/synth"
)

func runBench(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	callPath := fs.String("call", "examples/demo-call.jsonl", "transcript of the call to synthesize and stream")
	levels := fs.String("calls", "1,4", "comma-separated numbers of concurrent calls to run, in turn")
	asr := fs.String("asr", "embedded", "the server's speech recognition: embedded, none, or workers (cuecard worker processes through --nats)")
	var wf benchWorkerFlags
	wf.register(fs)
	var nf benchNodeFlags
	nf.register(fs)
	stagger := fs.Duration("stagger", 10*time.Second, "spread the starts of concurrent calls over this long")
	audioDir := fs.String("audio-dir", "", "keep the synthesized call here between runs (default: a temporary directory)")
	repeat := fs.Int("repeat", 1, "play the call this many times back to back in each session")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var ns []int
	for _, f := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 2000 {
			return usagef("--calls: want numbers from 1 to 2000, got %q", f)
		}
		ns = append(ns, n)
	}
	if err := wf.check(*asr); err != nil {
		return err
	}
	if err := nf.check(wf.natsURL); err != nil {
		return err
	}
	lines, err := readLines(*callPath)
	if err != nil {
		return err
	}
	dir := *audioDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "cuecard-bench-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	res, err := eval.SynthCall(ctx, eval.Call{Name: strings.TrimSuffix(filepath.Base(*callPath), ".jsonl"), Lines: lines}, dir, synth.DefaultOptions())
	if err != nil {
		return err
	}
	call, err := bench.LoadCall(res)
	if err != nil {
		return err
	}
	call = call.Repeat(*repeat)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	data, err := os.MkdirTemp("", "cuecard-bench-data-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	fmt.Fprintf(stdout, "call %s: %.0f s; server --asr %s\n", *callPath, float64(call.DurationMS())/1000, *asr)
	for _, n := range ns {
		if err := benchLevel(ctx, stdout, exe, filepath.Join(data, strconv.Itoa(n)), *asr, call, n, *stagger, wf, nf); err != nil {
			return err
		}
	}
	return nil
}

// benchLevel runs n concurrent calls against fresh child servers and
// reports what they measured.
func benchLevel(ctx context.Context, stdout io.Writer, exe, data, asr string, call *bench.Call, n int, stagger time.Duration, wf benchWorkerFlags, nf benchNodeFlags) error {
	tok, err := createToken(ctx, storeFlags{dataDir: data, database: nf.database}, tokenSpec{email: "bench@localhost.invalid", role: auth.RoleAdmin,
		scopes: auth.RoleScopes(auth.RoleAdmin), name: "bench"}, io.Discard)
	if err != nil {
		return err
	}
	args := []string{"--asr", asr, "--webrtc-udp-port", "-1",
		"--max-live", "0", "--max-live-per-user", "0", "--session-rate", "0"}
	wk, args, err := wf.start(ctx, exe, asr, args)
	if err != nil {
		return err
	}
	defer wk.stop()
	nodes, err := startBenchNodes(ctx, exe, data, wf.natsURL, nf, args)
	if err != nil {
		return err
	}
	nodes.setToken(tok)
	before, err := nodes.usage()
	if err != nil {
		nodes.stop()
		return err
	}
	// Sample the servers while the calls run, for peak goroutines.
	var peak bench.Usage
	var mu sync.Mutex
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				if u, err := nodes.usage(); err == nil {
					mu.Lock()
					peak.Goroutines = max(peak.Goroutines, u.Goroutines)
					mu.Unlock()
				}
			}
		}
	})
	began, wcpu := time.Now(), wk.cpu()
	c0, _ := nf.commits(ctx)
	r := bench.RunOn(ctx, nodes.urls(), nf.watch, tok, call, n, stagger)
	c1, _ := nf.commits(ctx)
	wcpu = wk.cpu() - wcpu
	wall := time.Since(began)
	stop()
	wg.Wait()
	after, err := nodes.usage()
	nodes.stop()
	if err != nil {
		return err
	}
	audio := time.Duration(n) * time.Duration(call.DurationMS()) * time.Millisecond
	cpu := after.CPU - before.CPU
	fmt.Fprintln(stdout, r.Report())
	fmt.Fprintf(stdout, "          server CPU %.3f s per s of call (%.0f%% of one core per call), memory %d MB idle, %d MB peak (%.1f MB per call), goroutines %d idle, %d peak (%.1f per call), frames dropped %.0f, wall %.0f s\n",
		cpu.Seconds()/audio.Seconds(), 100*cpu.Seconds()/audio.Seconds(), before.RSS>>20, after.Peak>>20,
		float64(after.Peak-before.RSS)/float64(n)/(1<<20), before.Goroutines, peak.Goroutines,
		float64(peak.Goroutines-before.Goroutines)/float64(n), after.Dropped-before.Dropped, wall.Seconds())
	wk.report(stdout, wcpu, audio)
	nf.report(stdout, before, after, c1-c0, audio)
	return nil
}

func readLines(path string) ([]stream.TranscriptLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("%v", err)
	}
	defer f.Close()
	lines, err := stream.ReadTranscript(f, path)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return lines, nil
}
