// Package bench load-tests a cuecard server on loopback: many calls
// streamed at once in real time over the live WebSocket, measuring how
// long cues take to reach the client after the prospect stops talking,
// whether the server keeps up, and what each call costs. cuecard bench
// runs it.
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/cuecard/cuecard/audio"
	"github.com/cuecard/cuecard/client"
	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/synth"
	"github.com/cuecard/cuecard/wire"
)

// Call is a call's audio, encoded once as 20 ms frames for every client.
type Call struct {
	frames [][2][]byte // per 20 ms: the rep's and the prospect's frame
	// ends are the media times at which the prospect stopped talking.
	ends []int64
}

// FrameMS is the audio per frame sent.
const FrameMS = 20

// LoadCall reads a synthesized call (rep.wav, prospect.wav at 16 kHz and
// its truth segments).
func LoadCall(res *synth.Result) (*Call, error) {
	rep, err := readPCM(res.Rep)
	if err != nil {
		return nil, err
	}
	pro, err := readPCM(res.Prospect)
	if err != nil {
		return nil, err
	}
	c := &Call{}
	n := 16 * FrameMS
	for i := 0; i < max(len(rep), len(pro)); i += n {
		c.frames = append(c.frames, [2][]byte{
			wire.EncodeFrame(nil, coach.Rep, window(rep, i, n)),
			wire.EncodeFrame(nil, coach.Prospect, window(pro, i, n)),
		})
	}
	for _, s := range res.Segments {
		if s.Speaker == coach.Prospect {
			c.ends = append(c.ends, s.EndMS)
		}
	}
	return c, nil
}

// DurationMS is the call's length.
func (c *Call) DurationMS() int64 { return int64(len(c.frames) * FrameMS) }

func window(x []int16, i, n int) []int16 {
	out := make([]int16, n)
	if i < len(x) {
		copy(out, x[i:])
	}
	return out
}

func readPCM(path string) ([]int16, error) {
	pcm, f, err := audio.ReadWAV16(path)
	if err == nil && (f.SampleRate != 16000 || f.Channels != 1) {
		err = fmt.Errorf("%s: want 16 kHz mono, got %v", path, f)
	}
	return pcm, err
}

// Result is what one run of concurrent calls measured.
type Result struct {
	Calls int
	// CueLatency: wall time from sending the last frame of the prospect's
	// speech to receiving the cue it triggered, for every cue a prospect
	// triggered; negative when it came from a partial transcript before
	// the prospect had finished.
	CueLatency []time.Duration
	// EarlyCues is how many of them came before the prospect finished.
	EarlyCues int
	// Push: wall time from sending the frame at a talk event's media time
	// to receiving that event (how far behind real time the server runs).
	Push []time.Duration
	// ViewerPush is Push as a viewer on another node of a cluster gets
	// the events (RunOn with watch).
	ViewerPush []time.Duration
	// Events received in all, and errors of calls that failed.
	Events int
	Errors []string
}

// Percentile returns the p-th percentile (0..100) of ds, 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Run streams call into n new sessions of the server at base at once, in
// real time, and measures them, as the user of token. Calls start spread
// over stagger.
func Run(ctx context.Context, base, token string, call *Call, n int, stagger time.Duration) Result {
	return RunOn(ctx, []string{base}, false, token, call, n, stagger)
}

// RunOn is Run on the nodes of a cluster at bases: call i streams into
// bases[i%len(bases)]; with watch, a viewer on the next node also reads
// its events (ViewerPush).
func RunOn(ctx context.Context, bases []string, watch bool, token string, call *Call, n int, stagger time.Duration) Result {
	res := Result{Calls: n}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		cl := &client.Client{BaseURL: bases[i%len(bases)], Token: token}
		var viewer *client.Client
		if watch && len(bases) > 1 {
			viewer = &client.Client{BaseURL: bases[(i+1)%len(bases)], Token: token}
		}
		wg.Go(func() {
			delay := time.Duration(0)
			if n > 1 {
				delay = stagger * time.Duration(i) / time.Duration(n)
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				return
			}
			r, err := runCall(ctx, cl, viewer, call)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors = append(res.Errors, err.Error())
			}
			res.CueLatency = append(res.CueLatency, r.CueLatency...)
			res.Push = append(res.Push, r.Push...)
			res.ViewerPush = append(res.ViewerPush, r.ViewerPush...)
			res.EarlyCues += r.EarlyCues
			res.Events += r.Events
		})
	}
	wg.Wait()
	return res
}

func runCall(ctx context.Context, cl, viewer *client.Client, call *Call) (Result, error) {
	ses, err := cl.CreateSession(ctx, client.CreateRequest{Title: "load test", Consent: true,
		ConsentText: "a synthesized call played by cuecard bench"})
	if err != nil {
		return Result{}, err
	}
	conn, err := cl.Dial(ctx, ses.ID)
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	got := make(chan []recv, 1)
	readErr := make(chan error, 1)
	go func() { readErr <- readEvents(conn, got) }()
	var vgot chan []recv
	var verr chan error
	var vconn *websocket.Conn
	if viewer != nil {
		if vconn, err = viewer.DialEvents(ctx, ses.ID); err != nil {
			return Result{}, fmt.Errorf("watch on another node: %w", err)
		}
		defer vconn.Close()
		vgot, verr = make(chan []recv, 1), make(chan error, 1)
		go func() { verr <- readEvents(vconn, vgot) }()
	}
	sent := make([]time.Time, len(call.frames))
	n, werr := sendFrames(ctx, conn, call, sent)
	if werr != nil {
		conn.Close()
	}
	evs := <-got
	rerr := <-readErr
	r := tally(call, evs, sent[:n])
	if vgot != nil {
		// The viewer's socket closes after the summary; one that does not
		// within viewerGrace is a failed watch.
		t := time.AfterFunc(viewerGrace, func() { vconn.Close() })
		r.ViewerPush = tally(call, <-vgot, sent[:n]).Push
		if err := <-verr; rerr == nil && err != nil {
			rerr = fmt.Errorf("viewer on another node: %w", err)
		}
		t.Stop()
	}
	if werr != nil {
		return r, werr
	}
	return r, rerr
}

// viewerGrace is how long a viewer may take to see a call's end after
// its audio client did.
const viewerGrace = 20 * time.Second

// recv is an event and when it arrived.
type recv struct {
	ev coach.Event
	at time.Time
}

// readEvents reads the session's events until the server closes the
// socket, then hands them over on got; nil after a normal close.
func readEvents(conn *websocket.Conn, got chan<- []recv) error {
	var evs []recv
	defer func() { got <- evs }()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if asClose(err, &ce) && ce.Code == websocket.CloseNormalClosure {
				return nil
			}
			return err
		}
		if ev, err := wire.DecodeEvent(data); err == nil {
			evs = append(evs, recv{ev, time.Now()})
		}
	}
}

// sendFrames plays the call in real time, noting when each frame went
// out in sent, then stops the session. It returns how many were sent.
func sendFrames(ctx context.Context, conn *websocket.Conn, call *Call, sent []time.Time) (int, error) {
	tick := time.NewTicker(FrameMS * time.Millisecond)
	defer tick.Stop()
	for i, fr := range call.frames {
		if i > 0 {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return i, ctx.Err()
			}
		}
		for _, b := range fr {
			if err := conn.WriteMessage(websocket.BinaryMessage, b); err != nil {
				return i, err
			}
		}
		sent[i] = time.Now()
	}
	return len(call.frames), conn.WriteMessage(websocket.TextMessage, wire.EncodeControl(wire.Control{Type: wire.TypeStop}))
}

// tally measures push delays and cue latencies from the events and when
// the frames were sent.
func tally(call *Call, evs []recv, sent []time.Time) Result {
	sentAt := func(ms int64) (time.Time, bool) {
		i := int(ms/FrameMS) - 1
		if i < 0 || i >= len(sent) {
			return time.Time{}, false
		}
		return sent[i], true
	}
	var r Result
	for _, rv := range evs {
		r.Events++
		switch rv.ev.Type {
		case coach.EventTalk:
			if at, ok := sentAt(rv.ev.AtMS); ok {
				r.Push = append(r.Push, rv.at.Sub(at))
			}
		case coach.EventCue:
			if rv.ev.Speaker != coach.Prospect {
				continue
			}
			// The prospect's speech the cue answers: the first truth end at
			// or after the segment the cue names.
			i := slices.IndexFunc(call.ends, func(e int64) bool { return e >= rv.ev.EndMS-FrameMS })
			if i < 0 {
				continue
			}
			end := call.ends[i]
			if rv.ev.AtMS < end {
				r.EarlyCues++ // fired from a partial transcript
			}
			// Every frame has been sent by now, so this is also right for
			// a cue that arrived before the prospect finished (negative).
			if at, ok := sentAt(end); ok {
				r.CueLatency = append(r.CueLatency, rv.at.Sub(at))
			}
		}
	}
	return r
}

func asClose(err error, ce **websocket.CloseError) bool {
	var c *websocket.CloseError
	ok := errors.As(err, &c)
	if ok {
		*ce = c
	}
	return ok
}

// Report formats a run as one table row.
func (r Result) Report() string {
	var b strings.Builder
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Fprintf(&b, "%3d calls  cue latency p50 %.0f ms p95 %.0f ms p99 %.0f ms (%d cues, %d before the prospect's last word)  event push p50 %.1f ms p99 %.1f ms  events %d",
		r.Calls, ms(Percentile(r.CueLatency, 50)), ms(Percentile(r.CueLatency, 95)), ms(Percentile(r.CueLatency, 99)),
		len(r.CueLatency), r.EarlyCues, ms(Percentile(r.Push, 50)), ms(Percentile(r.Push, 99)), r.Events)
	if len(r.ViewerPush) > 0 {
		fmt.Fprintf(&b, "  viewer on another node: push p50 %.1f ms p99 %.1f ms", ms(Percentile(r.ViewerPush, 50)), ms(Percentile(r.ViewerPush, 99)))
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "  errors %d (%s)", len(r.Errors), r.Errors[0])
	}
	return b.String()
}

// Repeat returns the call played n times back to back.
func (c *Call) Repeat(n int) *Call {
	if n <= 1 {
		return c
	}
	out := &Call{}
	for k := range n {
		out.frames = append(out.frames, c.frames...)
		for _, e := range c.ends {
			out.ends = append(out.ends, e+int64(k)*c.DurationMS())
		}
	}
	return out
}
