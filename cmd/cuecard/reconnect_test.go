package main

import (
	"bufio"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cuecard/cuecard/coach"
)

// cutProxy forwards TCP connections to a server and cuts the first one
// that has carried cutAfter bytes towards the server: a network drop.
type cutProxy struct {
	ln       net.Listener
	target   string
	cutAfter int64
	cut      atomic.Bool
	cutDone  chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func newCutProxy(t *testing.T, target string, cutAfter int64) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cutAfter: cutAfter, cutDone: make(chan struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(s, c, true) })
		p.wg.Go(func() { p.pipe(c, s, false) })
	}
}

// pipe copies src to dst; upstream counts the bytes and cuts.
func (p *cutProxy) pipe(dst, src net.Conn, upstream bool) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return
			}
			n += int64(k)
		}
		if err != nil {
			return
		}
		if upstream && n >= p.cutAfter && p.cut.CompareAndSwap(false, true) {
			close(p.cutDone)
			return // closes both ends: the connection is gone
		}
	}
}

// TestStreamReconnects cuts the stream's connection in the middle of a
// call: cuecard stream redials, goes on and ends with the summary.
func TestStreamReconnects(t *testing.T) {
	dir := t.TempDir()
	rep, prospect := filepath.Join(dir, "rep.wav"), filepath.Join(dir, "prospect.wav")
	writeTone(t, rep, 8000, 500, 3500)
	writeTone(t, prospect, 8000, 4000, 7500)
	url, stop := startServe(t, filepath.Join(dir, "data"), "--asr", "none")
	defer stop()
	_, tok, _ := runCmd(t, "token", "create", "--data", filepath.Join(dir, "data"), "--email", "rep@example.com", "--role", "rep")
	host := strings.TrimPrefix(url, "http://")
	// About 2 s of audio (two sides of 16-bit 16 kHz) before the cut.
	px := newCutProxy(t, host, 2*64000)
	code, out, errOut := runCmd(t, "stream", "--server", "http://"+px.ln.Addr().String(),
		"--rep", rep, "--prospect", prospect, "--speed", "4", "--reconnect", "20s",
		"--token", strings.TrimSpace(tok), "--consent", "this call is recorded")
	select {
	case <-px.cutDone:
	default:
		t.Fatal("the connection was never cut")
	}
	if code != 0 || !strings.Contains(errOut, "reconnected") {
		t.Fatalf("stream: exit %d\n%s", code, errOut)
	}
	var last coach.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatal(err)
		}
	}
	if last.Type != coach.EventSummary || last.Summary.Metrics.DurationMS < 7000 {
		t.Fatalf("last event %s, summary %+v", last.Type, last.Summary)
	}
}
