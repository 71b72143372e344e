// Command cuecard is a real-time coach for live sales calls: it analyzes
// calls offline, evaluates the coach on labelled calls, and serves live
// sessions. Run "cuecard help" for the subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal starts a graceful shutdown, a second one
	// kills the process (the default action, restored by stop).
	context.AfterFunc(ctx, stop)
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usageError is an error in how the command was called or in its input; it
// exits with status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// command is one subcommand: it parses its own flags from args.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"bench":      {"load-test a server: concurrent real-time calls, cue latency, CPU and memory", runBench},
		"analyze":    {"run the pipeline offline on a transcript or audio, events as JSONL on stdout", runAnalyze},
		"eval":       {"score the coach on a directory of labelled calls", runEval},
		"explain":    {"show how the playbook reads one utterance (signals, features)", runExplain},
		"serve":      {"run the server: HTTP API, live WebSocket/WebRTC sessions, web UI", runServe},
		"recordings": {"re-encrypt a data directory's recordings with a new key: recordings rekey", runRecordings},
		"retention":  {"apply the teams' retention policies to a data directory now (--dry-run: report only)", runRetention},
		"sessions":   {"erase stored sessions from a data directory: sessions delete ID... | --rep EMAIL", runSessions},
		"stream":     {"play a call's two WAV files into a server and print the events", runStream},
		"token":      {"make an API token (and its user if missing) in a data directory: token create", runToken},
		"synth":      {"speak a transcript with two voices into WAV files (a test or demo call)", runSynth},
		"train":      {"learn the coach's signal model from a labelled corpus, with cross-validated figures", runTrain},
		"worker":     {"decode speech for servers started with --asr workers, through NATS: worker --nats URL", runWorker},
	}
}

// run executes one subcommand and returns the process exit status: 0 on
// success, 2 on bad usage or bad input, 1 on other failures.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printUsage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cuecard: unknown command %q (see cuecard help)\n", args[0])
		return 2
	}
	err := c.run(ctx, args[1:], stdin, stdout, stderr)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "cuecard %s: %v\n", args[0], err)
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func printUsage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: cuecard <command> [flags]\n\ncommands:")
	for _, name := range sortedKeys(cmds) {
		fmt.Fprintf(w, "  %-8s %s\n", name, cmds[name].summary)
	}
}
