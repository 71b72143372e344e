package remote

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cuecard/cuecard/audio/soxr"
	"github.com/cuecard/cuecard/stream"
)

// fakeSocket records the types of the messages the machine sends.
type fakeSocket struct {
	sent   []string
	closed bool
	fail   error
}

func (f *fakeSocket) send(v any) error {
	if f.fail != nil {
		return f.fail
	}
	f.sent = append(f.sent, v.(map[string]string)["type"])
	return nil
}

func (f *fakeSocket) close() { f.closed = true }

// machine returns a state machine on a fake socket and the results it
// emits.
func machine(t *testing.T, chunkMS int) (*rtMachine, *fakeSocket, *[]stream.Result) {
	t.Helper()
	sock := &fakeSocket{}
	var got []stream.Result
	m := &rtMachine{chunkMS: chunkMS, timeout: time.Second, resample: soxr.New,
		dial: func() (rtSocket, error) { return sock, nil },
		emit: func(r stream.Result) { got = append(got, r) }}
	t.Cleanup(m.close)
	return m, sock, &got
}

func event(sock rtSocket, typ, item string) rtEvent {
	return rtEvent{Type: typ, ItemID: item, conn: sock}
}

// speak begins segment id and sends ms of audio.
func speak(m *rtMachine, id uint64, ms int) {
	m.handleBegin(id)
	for range ms / 20 {
		m.handleAudio(make([]int16, 320))
	}
}

func TestRealtimeMachineTranscript(t *testing.T) {
	m, sock, got := machine(t, 0)
	speak(m, 1, 400)
	m.handleEnd()
	if !slices.Contains(sock.sent, "input_audio_buffer.commit") {
		t.Fatalf("sent %v, want a commit", sock.sent)
	}
	m.handleEvent(event(sock, "input_audio_buffer.committed", "i1"))
	d := event(sock, "conversation.item.input_audio_transcription.delta", "i1")
	d.Delta = "hello"
	m.handleEvent(d)
	c := event(sock, "conversation.item.input_audio_transcription.completed", "i1")
	c.Transcript = " hello there "
	m.handleEvent(c)
	want := []stream.Result{{Seg: 1, Text: "hello"}, {Seg: 1, Text: "hello there", Final: true}}
	if !slices.Equal(*got, want) {
		t.Fatalf("results %+v, want %+v", *got, want)
	}
}

func TestRealtimeMachineCommitEmpty(t *testing.T) {
	m, sock, got := machine(t, 0)
	speak(m, 1, 200)
	m.handleEnd()
	ev := event(sock, "error", "")
	ev.Error = &struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}{Code: "input_audio_buffer_commit_empty"}
	m.handleEvent(ev)
	if len(*got) != 1 || !(*got)[0].Final || (*got)[0].Text != "" || (*got)[0].Err != nil {
		t.Fatalf("results %+v, want one empty final", *got)
	}
	if sock.closed || m.conn == nil {
		t.Fatal("an empty commit dropped the connection")
	}
}

func TestRealtimeMachineTranscriptionFailed(t *testing.T) {
	m, sock, got := machine(t, 0)
	speak(m, 1, 400)
	m.handleEnd()
	m.handleEvent(event(sock, "input_audio_buffer.committed", "i1"))
	m.handleEvent(event(sock, "conversation.item.input_audio_transcription.failed", "i1"))
	if len(*got) != 1 || !errors.Is((*got)[0].Err, ErrMalformed) {
		t.Fatalf("results %+v, want one failed final", *got)
	}
	// A late completion of the failed item changes nothing.
	m.handleEvent(event(sock, "conversation.item.input_audio_transcription.completed", "i1"))
	if len(*got) != 1 {
		t.Fatalf("results %+v after a late completion", *got)
	}
}

func TestRealtimeMachineDeadline(t *testing.T) {
	m, sock, got := machine(t, 0)
	speak(m, 1, 400)
	m.handleEnd()
	m.handleTick(time.Now()) // in time: nothing happens
	if len(*got) != 0 || sock.closed {
		t.Fatalf("early tick: %+v, closed %v", *got, sock.closed)
	}
	m.handleTick(time.Now().Add(2 * time.Second))
	if len(*got) != 1 || !errors.Is((*got)[0].Err, ErrTimeout) || !sock.closed || m.conn != nil {
		t.Fatalf("late tick: %+v, closed %v", *got, sock.closed)
	}
	// The next segment dials again.
	m.handleBegin(2)
	if m.conn == nil {
		t.Fatal("no new connection for the next segment")
	}
}

func TestRealtimeMachineChunks(t *testing.T) {
	m, sock, got := machine(t, 200)
	speak(m, 1, 560) // two chunks while speaking, a 160 ms tail at the end
	commits := 0
	for _, s := range sock.sent {
		if s == "input_audio_buffer.commit" {
			commits++
		}
	}
	if commits != 2 {
		t.Fatalf("%d commits while speaking 560 ms in 200 ms chunks, want 2", commits)
	}
	for i, item := range []string{"a", "b"} {
		m.handleEvent(event(sock, "input_audio_buffer.committed", item))
		c := event(sock, "conversation.item.input_audio_transcription.completed", item)
		c.Transcript = item
		m.handleEvent(c)
		if n := len(*got); n != i+1 || (*got)[n-1].Final {
			t.Fatalf("results %+v, want partials while the segment runs", *got)
		}
	}
	m.handleEnd()
	m.handleEvent(event(sock, "input_audio_buffer.committed", "c"))
	c := event(sock, "conversation.item.input_audio_transcription.completed", "c")
	c.Transcript = "c"
	m.handleEvent(c)
	last := (*got)[len(*got)-1]
	if !last.Final || last.Text != "a b c" {
		t.Fatalf("final %+v, want \"a b c\"", last)
	}
}

func TestRealtimeMachineLostConnection(t *testing.T) {
	m, sock, got := machine(t, 0)
	speak(m, 1, 400)
	m.handleEnd()
	m.handleEvent(rtEvent{conn: sock, err: errors.New("reset")})
	if len(*got) != 1 || (*got)[0].Err == nil || m.conn != nil {
		t.Fatalf("results %+v, conn %v", *got, m.conn)
	}
	// Events of the dropped connection are ignored.
	m.handleEvent(event(sock, "input_audio_buffer.committed", "i1"))
	// A dial failure fails the new segment at its end.
	m.dial = func() (rtSocket, error) { return nil, errors.New("refused") }
	speak(m, 2, 100)
	m.handleEnd()
	if len(*got) != 2 || (*got)[1].Seg != 2 || (*got)[1].Err == nil {
		t.Fatalf("results %+v, want segment 2 failed", *got)
	}
}
