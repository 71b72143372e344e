package stream

import "context"

// Transcriber recognizes speech one utterance at a time. Implementations
// must be safe for concurrent use: many pipelines share one Transcriber.
type Transcriber interface {
	// Start begins an utterance. It first tries to get a recognizer without
	// waiting; if none is free it waits until one is or ctx is done, and
	// then returns ErrBusy (so an already cancelled ctx makes Start a
	// non-blocking try).
	Start(ctx context.Context) (Utterance, error)
}

// Utterance is one speech segment being recognized. It is used by one
// goroutine at a time. Finish or Abort must be called exactly once to give
// its recognizer back.
type Utterance interface {
	// Write feeds 16 kHz mono signed 16-bit samples. It may block while the
	// recognizer decodes them; the slice is not retained.
	Write(pcm []int16) error
	// Partial returns the current best hypothesis ("" if none yet).
	Partial() (string, error)
	// Finish ends the utterance and returns its final transcript.
	Finish() (string, error)
	// Abort ends the utterance without a transcript.
	Abort()
}

// Adapter is implemented by utterances whose recognizer adapts to the
// speaker as it goes (PocketSphinx's live cepstral mean). A pipeline keeps
// each channel's state and hands it to that channel's next utterance, so
// that recognition on a shared pool depends only on the channel's own
// audio, not on which recognizer, or whose call, came before.
type Adapter interface {
	// Adapt sets the state to start from, before the first Write; nil
	// means a fresh recognizer's.
	Adapt(state []float32)
	// Adapted returns the state after Finish (nil before).
	Adapted() []float32
}
