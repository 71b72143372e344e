package stream

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cuecard/cuecard/coach"
)

// MaxTranscriptLine bounds one line of a transcript file.
const MaxTranscriptLine = 1 << 20

// MaxCallMS bounds media time: no call is longer than a day.
const MaxCallMS = 24 * 60 * 60 * 1000

// TranscriptLine is one line of a transcript: what one speaker said between
// StartMS and EndMS of media time.
type TranscriptLine struct {
	Speaker coach.Speaker
	StartMS int64
	EndMS   int64
	Text    string
}

// LineError names the file and line of bad transcript input.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }

// Unwrap returns the underlying problem, one of the Err* values or a JSON error.
func (e *LineError) Unwrap() error { return e.Err }

// TranscriptReader reads a transcript in the contract's JSONL format, one
// utterance per line, checking that it is in time order.
type TranscriptReader struct {
	name      string
	sc        *bufio.Scanner
	line      int
	lastStart int64
}

// NewTranscriptReader reads from r; name is used in errors.
func NewTranscriptReader(r io.Reader, name string) *TranscriptReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), MaxTranscriptLine+1)
	return &TranscriptReader{name: name, sc: sc}
}

// Next returns the next line, io.EOF at the end, or a *LineError.
// Blank lines are skipped.
func (tr *TranscriptReader) Next() (TranscriptLine, error) {
	for tr.sc.Scan() {
		tr.line++
		b := bytes.TrimSpace(tr.sc.Bytes())
		if len(b) == 0 {
			continue
		}
		u, err := parseUtterance(b)
		if err == nil && u.StartMS < tr.lastStart {
			err = fmt.Errorf("%w: start_ms %d is before the previous line's %d", ErrTimeOrder, u.StartMS, tr.lastStart)
		}
		if err != nil {
			return TranscriptLine{}, &LineError{File: tr.name, Line: tr.line, Err: err}
		}
		tr.lastStart = u.StartMS
		return u, nil
	}
	if err := tr.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("%w: a line is longer than %d bytes", ErrLineTooLong, MaxTranscriptLine)
		}
		return TranscriptLine{}, &LineError{File: tr.name, Line: tr.line + 1, Err: err}
	}
	return TranscriptLine{}, io.EOF
}

func parseUtterance(b []byte) (TranscriptLine, error) {
	var w struct {
		Speaker *string `json:"speaker"`
		StartMS *int64  `json:"start_ms"`
		EndMS   *int64  `json:"end_ms"`
		Text    *string `json:"text"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return TranscriptLine{}, fmt.Errorf("%w: %w", ErrBadJSON, err)
	}
	switch {
	case w.Speaker == nil:
		return TranscriptLine{}, fmt.Errorf("%w: speaker missing", ErrBadField)
	case w.StartMS == nil || w.EndMS == nil:
		return TranscriptLine{}, fmt.Errorf("%w: start_ms and end_ms are required", ErrBadField)
	}
	spk, ok := coach.ParseSpeaker(*w.Speaker)
	if !ok {
		return TranscriptLine{}, fmt.Errorf("%w: unknown speaker %q (want \"rep\" or \"prospect\")", ErrBadField, *w.Speaker)
	}
	if *w.StartMS < 0 {
		return TranscriptLine{}, fmt.Errorf("%w: start_ms %d is negative", ErrTimeOrder, *w.StartMS)
	}
	if *w.EndMS > MaxCallMS {
		return TranscriptLine{}, fmt.Errorf("%w: end_ms %d is beyond 24 hours", ErrTimeOrder, *w.EndMS)
	}
	if *w.EndMS < *w.StartMS {
		return TranscriptLine{}, fmt.Errorf("%w: end_ms %d is before start_ms %d", ErrTimeOrder, *w.EndMS, *w.StartMS)
	}
	u := TranscriptLine{Speaker: spk, StartMS: *w.StartMS, EndMS: *w.EndMS}
	if w.Text != nil {
		u.Text = *w.Text
	}
	return u, nil
}

// ReadTranscript reads a whole transcript (for tools that need every
// utterance, such as synthesis and evaluation).
func ReadTranscript(r io.Reader, name string) ([]TranscriptLine, error) {
	tr := NewTranscriptReader(r, name)
	var out []TranscriptLine
	for {
		u, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
}

// Replay turns a transcript into the timed inputs a live call would give
// the coach: each utterance's speech starts at its start_ms and ends, with
// its final transcript, at its end_ms; ticks come every tickMS in between.
// Utterances are read as they become due, so memory does not grow with the
// call. It returns the media time of the end of the call.
func Replay(ctx context.Context, tr *TranscriptReader, tickMS int64, emit func(coach.Input) error) (int64, error) {
	r := newReplayer(tickMS, emit)
	next, err := tr.Next()
	more := err == nil
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	for more || r.q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return r.end, err
		}
		// Read every utterance that starts before the earliest queued input.
		for more && (r.q.Len() == 0 || next.StartMS <= r.q.peek().in.AtMS) {
			u := next
			r.push(coach.Input{Kind: coach.SpeechStart, AtMS: u.StartMS, Speaker: u.Speaker, StartMS: u.StartMS})
			r.push(coach.Input{Kind: coach.SpeechEnd, AtMS: u.EndMS, Speaker: u.Speaker, StartMS: u.StartMS, EndMS: u.EndMS})
			r.push(coach.Input{Kind: coach.Final, AtMS: u.EndMS, Speaker: u.Speaker, StartMS: u.StartMS, EndMS: u.EndMS, Text: u.Text})
			if next, err = tr.Next(); err != nil {
				if !errors.Is(err, io.EOF) {
					return r.end, err
				}
				more = false
			}
		}
		if err := r.step(); err != nil {
			return r.end, err
		}
	}
	return r.end, nil
}

// ReplayInputs replays speech and final-transcript inputs known in
// advance (a stored call's), in any order, with Replay's rules: in media
// time, at equal times speech ends, then finals, then starts, with ticks
// every tickMS in between and on to endMS. It returns the media time of
// the last input.
func ReplayInputs(ctx context.Context, inputs []coach.Input, tickMS, endMS int64, emit func(coach.Input) error) (int64, error) {
	r := newReplayer(tickMS, emit)
	for _, in := range inputs {
		r.push(in)
	}
	for r.q.Len() > 0 {
		if err := ctx.Err(); err != nil {
			return r.end, err
		}
		if err := r.step(); err != nil {
			return r.end, err
		}
	}
	return r.end, r.ticksTo(endMS)
}

// replayer owns the order of replayed inputs and the ticks between them.
type replayer struct {
	q      inputQueue
	open   [3]int // speech under way per speaker
	tickMS int64
	tick   int64
	end    int64
	emit   func(coach.Input) error
}

func newReplayer(tickMS int64, emit func(coach.Input) error) *replayer {
	if tickMS <= 0 {
		tickMS = 500
	}
	return &replayer{tickMS: tickMS, emit: emit}
}

// push queues an input; at equal times speech ends come first, then
// finals, then starts.
func (r *replayer) push(in coach.Input) {
	order := 1
	switch in.Kind {
	case coach.SpeechEnd:
		order = 0
	case coach.SpeechStart:
		order = 2
	default:
	}
	r.q.push(in, order)
}

// ticksTo emits the ticks due before atMS.
func (r *replayer) ticksTo(atMS int64) error {
	for r.tick < atMS {
		if err := r.emit(coach.Input{Kind: coach.Tick, AtMS: r.tick}); err != nil {
			return err
		}
		r.tick += r.tickMS
	}
	return nil
}

// step emits the earliest queued input after the ticks before it. A
// side's speech that starts while it is already speaking is one stretch.
func (r *replayer) step() error {
	in := r.q.pop().in
	if err := r.ticksTo(in.AtMS); err != nil {
		return err
	}
	switch in.Kind {
	case coach.SpeechStart:
		r.open[in.Speaker]++
		if r.open[in.Speaker] > 1 {
			return nil // the same side talking over itself
		}
	case coach.SpeechEnd:
		r.open[in.Speaker]--
		if r.open[in.Speaker] > 0 {
			return nil
		}
	default:
	}
	if err := r.emit(in); err != nil {
		return err
	}
	r.end = max(r.end, in.AtMS)
	return nil
}

type queued struct {
	in    coach.Input
	order int // at equal times: speech ends, then finals, then starts
	seq   int
}

type inputQueue struct {
	items []queued
	seq   int
}

func (q *inputQueue) Len() int { return len(q.items) }
func (q *inputQueue) Less(i, j int) bool {
	a, b := q.items[i], q.items[j]
	if a.in.AtMS != b.in.AtMS {
		return a.in.AtMS < b.in.AtMS
	}
	if a.order != b.order {
		return a.order < b.order
	}
	return a.seq < b.seq
}
func (q *inputQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *inputQueue) Push(x any)    { q.items = append(q.items, x.(queued)) }
func (q *inputQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return it
}
func (q *inputQueue) push(in coach.Input, order int) {
	q.seq++
	heap.Push(q, queued{in: in, order: order, seq: q.seq})
}
func (q *inputQueue) pop() queued   { return heap.Pop(q).(queued) }
func (q *inputQueue) peek() *queued { return &q.items[0] }
