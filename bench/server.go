package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Server is a `cuecard serve` child process under test, so that its CPU
// and memory are measured apart from the load generator's.
type Server struct {
	URL string
	// Token is an administrator's API token (for /metrics).
	Token string
	cmd   *exec.Cmd
	out   io.ReadCloser
}

var servingRE = regexp.MustCompile(`serving on (http://\S+?)/? `)

// StartServer runs exe serve with args on a free loopback port and waits
// until it serves.
func StartServer(ctx context.Context, exe string, args ...string) (*Server, error) {
	args = append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{cmd: cmd, out: out}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case line <- sc.Text():
			default:
			}
		}
	}()
	t := time.NewTimer(60 * time.Second)
	defer t.Stop()
	select {
	case l := <-line:
		m := servingRE.FindStringSubmatch(l)
		if m == nil {
			s.Stop()
			return nil, fmt.Errorf("unexpected output from cuecard serve: %q", l)
		}
		s.URL = m[1]
		return s, nil
	case <-t.C:
		s.Stop()
		return nil, fmt.Errorf("cuecard serve did not start within 60 s")
	}
}

// Stop interrupts the server (a graceful shutdown) and waits for it.
func (s *Server) Stop() error {
	s.cmd.Process.Signal(os.Interrupt)
	return s.cmd.Wait()
}

// Usage is a snapshot of the server process.
type Usage struct {
	CPU        time.Duration // user + system
	RSS, Peak  int64         // bytes
	Goroutines int
	Dropped    float64 // audio frames dropped so far
	Published  float64 // events published to the cluster's NATS so far
}

// Usage reads the process's CPU and memory from /proc and its goroutines
// and dropped frames from /metrics.
func (s *Server) Usage() (Usage, error) {
	var u Usage
	pid := s.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if len(f) < 13 {
		return u, fmt.Errorf("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clk = 100 // USER_HZ on Linux
	u.CPU = time.Duration(ut+st) * time.Second / clk
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			u.RSS = n * 1024
		case "VmHWM":
			u.Peak = n * 1024
		}
	}
	req, err := http.NewRequest(http.MethodGet, s.URL+"/metrics", nil)
	if err != nil {
		return u, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return u, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "go_goroutines "):
			u.Goroutines, _ = strconv.Atoi(strings.Fields(l)[1])
		case strings.HasPrefix(l, "cuecard_audio_frames_dropped_total "):
			u.Dropped, _ = strconv.ParseFloat(strings.Fields(l)[1], 64)
		case strings.HasPrefix(l, "cuecard_cluster_events_published_total "):
			u.Published, _ = strconv.ParseFloat(strings.Fields(l)[1], 64)
		}
	}
	return u, sc.Err()
}
