package stream

import (
	"errors"
	"sync"

	"github.com/cuecard/cuecard/coach"
)

// Async is implemented by Transcribers that recognize elsewhere (a remote
// service): a Pipeline hands them audio without waiting and receives their
// transcripts later, so a slow or failing service never stalls a session.
// Such a Transcriber's Start still works, blocking, for callers that want
// one transcript at a time.
type Async interface {
	// Open starts recognizing one side of one call. Results of its
	// segments are sent on out; a send gives up when the Stream is closed,
	// so out need not be drained after Close.
	Open(sp coach.Speaker, out chan<- Result) Stream
}

// Reasoner is implemented by Async backends that can say in a few words
// why a segment failed, for status inputs (never with credentials).
type Reasoner interface {
	Reason(err error) string
}

// Stream is the recognition of one side of one call by an Async backend.
// It is used by one goroutine (the pipeline's) and none of its methods
// block on the network; the backend's goroutines belong to the Stream and
// end in Close.
type Stream interface {
	// Begin starts segment id; audio written until End belongs to it.
	Begin(id uint64)
	// Write feeds 16 kHz mono samples of the current segment; the slice is
	// not retained.
	Write(pcm []int16)
	// End ends the current segment. Its Final result arrives later on the
	// Open channel; a non-nil error means the segment is lost already (no
	// result will come) and says why.
	End() error
	// Close drops what is pending and waits for the stream's goroutines.
	Close()
}

// Result is a transcript, or the failure to get one, for segment Seg.
type Result struct {
	Seg   uint64
	Text  string
	Final bool
	// Err, on a Final result only, means the segment has no transcript.
	Err error
}

// Backend describes a recognizer or language model that processed a call,
// for the privacy record shown with the session.
type Backend struct {
	// Role is "asr" or "llm".
	Role string `json:"role"`
	// Name is the implementation: "pocketsphinx", "openai",
	// "openai-realtime", "openai-chat".
	Name string `json:"name"`
	// Remote is true when audio or text leaves the process for Host.
	Remote bool   `json:"remote"`
	Host   string `json:"host,omitempty"`
	Model  string `json:"model,omitempty"`
}

// Describer is implemented by backends that can say what they are.
type Describer interface {
	Backend() Backend
}

// DescribeTranscriber returns the backend description of tr: a
// Describer's own, "custom" for others, or nothing for nil.
func DescribeTranscriber(tr Transcriber) (Backend, bool) {
	switch t := tr.(type) {
	case nil:
		return Backend{}, false
	case Describer:
		return t.Backend(), true
	}
	return Backend{Role: "asr", Name: "custom"}, true
}

// syncUtt is the blocking Utterance of an Async backend: Finish waits for
// the final result.
type syncUtt struct {
	s       Stream
	out     chan Result
	partial string
	once    sync.Once
}

// Blocking returns an Utterance whose Finish waits for the final result
// of an Async backend: the Transcriber side of remote backends.
func Blocking(a Async, sp coach.Speaker) Utterance {
	u := &syncUtt{out: make(chan Result, 64)}
	u.s = a.Open(sp, u.out)
	u.s.Begin(1)
	return u
}

func (u *syncUtt) Write(pcm []int16) error { u.s.Write(pcm); return nil }

func (u *syncUtt) Partial() (string, error) {
	for {
		select {
		case r := <-u.out:
			if !r.Final {
				u.partial = r.Text
				continue
			}
			// A final before Finish: keep it for Finish.
			u.out <- r
			return u.partial, nil
		default:
			return u.partial, nil
		}
	}
}

func (u *syncUtt) Finish() (string, error) {
	defer u.close()
	if err := u.s.End(); err != nil {
		return "", err
	}
	for r := range u.out {
		if r.Final {
			return r.Text, r.Err
		}
	}
	return "", errors.New("no transcript")
}

func (u *syncUtt) Abort() { u.close() }

func (u *syncUtt) close() { u.once.Do(u.s.Close) }
