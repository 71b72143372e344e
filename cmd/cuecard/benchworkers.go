package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nuid"
)

// benchWorkers are the `cuecard worker` processes of `cuecard bench --asr
// workers`, on a subject prefix of their own.
type benchWorkers struct {
	prefix string
	secret string // the server's cluster secret file
	cmds   []*exec.Cmd
}

// startBenchWorkers starts n worker processes of decoders each and waits
// until they all serve.
func startBenchWorkers(ctx context.Context, exe, natsURL string, n, decoders int) (*benchWorkers, error) {
	w := &benchWorkers{prefix: "bench" + strings.ToLower(nuid.Next())}
	for range n {
		cmd := exec.CommandContext(ctx, exe, "worker", "--nats", natsURL, "--prefix", w.prefix, "--decoders", strconv.Itoa(decoders))
		cmd.Stderr = io.Discard
		out, err := cmd.StdoutPipe()
		if err != nil {
			w.stop()
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			w.stop()
			return nil, err
		}
		w.cmds = append(w.cmds, cmd)
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			ok := sc.Scan() && strings.Contains(sc.Text(), "decoders serving")
			ready <- ok
			io.Copy(io.Discard, out)
		}()
		select {
		case ok := <-ready:
			if !ok {
				w.stop()
				return nil, fmt.Errorf("cuecard worker did not start")
			}
		case <-time.After(2 * time.Minute):
			w.stop()
			return nil, fmt.Errorf("cuecard worker did not start within 2 minutes")
		}
	}
	return w, nil
}

// cpu is the CPU time the workers used so far.
func (w *benchWorkers) cpu() time.Duration {
	var total time.Duration
	if w == nil {
		return 0
	}
	for _, c := range w.cmds {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.Process.Pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return total
}

// stop interrupts the workers and waits for them.
func (w *benchWorkers) stop() {
	if w == nil {
		return
	}
	for _, c := range w.cmds {
		c.Process.Signal(os.Interrupt)
	}
	for _, c := range w.cmds {
		c.Wait()
	}
	if w.secret != "" {
		os.Remove(w.secret)
	}
}

// benchWorkerFlags are bench's flags for --asr workers.
type benchWorkerFlags struct {
	natsURL     string
	n, decoders int
}

func (f *benchWorkerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.natsURL, "nats", "", "--asr workers and --nodes: the NATS server the servers and workers share")
	fs.IntVar(&f.n, "workers", 2, "--asr workers: worker processes to start")
	fs.IntVar(&f.decoders, "worker-decoders", 4, "--asr workers: decoders per worker process")
}

func (f *benchWorkerFlags) check(asr string) error {
	switch asr {
	case "embedded", "none":
	case "workers":
		if f.natsURL == "" || f.n < 1 || f.decoders < 1 {
			return usagef("--asr workers needs --nats URL, and at least one worker and decoder")
		}
	default:
		return usagef("--asr must be embedded, none or workers")
	}
	return nil
}

// start starts the workers for --asr workers (nil otherwise) and returns
// the server's arguments with what reaches them.
func (f benchWorkerFlags) start(ctx context.Context, exe, asr string, args []string) (*benchWorkers, []string, error) {
	if asr != "workers" {
		return nil, args, nil
	}
	w, err := startBenchWorkers(ctx, exe, f.natsURL, f.n, f.decoders)
	if err != nil {
		return nil, nil, err
	}
	// --nats makes the server a one-node cluster, on the workers' prefix
	// and with a secret of its own.
	secret := filepath.Join(os.TempDir(), w.prefix+".secret")
	if err := os.WriteFile(secret, []byte(nuid.Next()+nuid.Next()), 0o600); err != nil {
		w.stop()
		return nil, nil, err
	}
	w.secret = secret
	return w, append(args, "--nats", f.natsURL, "--asr-workers-prefix", w.prefix,
		"--cluster-prefix", w.prefix, "--cluster-secret-file", secret), nil
}

// report prints the workers' CPU over the calls' audio.
func (w *benchWorkers) report(out io.Writer, cpu, audio time.Duration) {
	if w == nil {
		return
	}
	fmt.Fprintf(out, "          workers (%d processes) CPU %.3f s per s of call (%.0f%% of one core per call)\n",
		len(w.cmds), cpu.Seconds()/audio.Seconds(), 100*cpu.Seconds()/audio.Seconds())
}
