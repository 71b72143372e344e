package coach

// Speaker is one side of the call: the rep using cuecard or the prospect.
type Speaker uint8

const (
	// NoSpeaker marks the absence of a speaker (no monologue in progress).
	NoSpeaker Speaker = iota
	// Rep is the salesperson using cuecard.
	Rep
	// Prospect is everyone on the other side of the call.
	Prospect
)

// String returns the contract's name of the speaker, "" for NoSpeaker.
func (s Speaker) String() string {
	switch s {
	case Rep:
		return "rep"
	case Prospect:
		return "prospect"
	}
	return ""
}

// ParseSpeaker maps the contract's names ("rep", "prospect") to a Speaker.
func ParseSpeaker(name string) (Speaker, bool) {
	switch name {
	case "rep":
		return Rep, true
	case "prospect":
		return Prospect, true
	}
	return NoSpeaker, false
}

// InputKind says what happened in an Input.
type InputKind uint8

const (
	// Tick only advances media time (at least every 500 ms while audio flows).
	Tick InputKind = iota
	// SpeechStart marks that Speaker began a voice-activity segment at AtMS.
	SpeechStart
	// SpeechEnd closes Speaker's segment [StartMS, EndMS]; AtMS >= EndMS.
	SpeechEnd
	// Partial is an interim hypothesis for the speech of Speaker since StartMS.
	Partial
	// Final is the final transcript of Speaker's utterance [StartMS, EndMS].
	Final
	// Status reports a change in what the pipeline can do (no Speaker):
	// ASR is the recognizer's state ("ok" or "degraded") and Text says
	// why. The engine turns it into a status event (see StatusEvent).
	Status
	// Labels is a second detector's reading (a language model's) of
	// Speaker's final utterance [StartMS, EndMS] with Text: Signals are
	// the signal model's names it found there. It comes after the fact;
	// the engine reads that utterance again with these signals in place
	// of its own model's, and may fire a cue its model missed (Source
	// "llm") or withdraw one it fired there (a cue_update).
	Labels
)

// Input is one timed event fed to the Engine. Inputs must arrive with
// non-decreasing AtMS (media time in milliseconds from the session's start).
type Input struct {
	Kind    InputKind
	AtMS    int64
	Speaker Speaker
	StartMS int64
	EndMS   int64
	Text    string
	// ASR is the recognizer state of a Status input.
	ASR string
	// Signals are the signals of a Labels input.
	Signals []string
}
