package coach

// Verdicts of a cue_update event: a second opinion on a cue already shown.
const (
	// VerdictConfirmed keeps the cue as it is.
	VerdictConfirmed = "confirmed"
	// VerdictRefined keeps the cue with a better Body (the prospect's own
	// words and context).
	VerdictRefined = "refined"
	// VerdictWithdrawn takes the cue back: the signal was not what the
	// rules thought (sarcasm, a hypothetical, a resolved problem).
	VerdictWithdrawn = "withdrawn"
)

// CueUpdate returns the cue_update event revising cue (an EventCue) at
// media time atMS. body is used only for VerdictRefined.
func CueUpdate(cue Event, atMS int64, verdict, body, reason string) Event {
	ev := Event{Type: EventCueUpdate, AtMS: atMS, ID: cue.ID, Cue: cue.Cue, Verdict: verdict, Reason: reason}
	if verdict == VerdictRefined {
		ev.Body = body
	}
	return ev
}

// StatusEvent returns the status event of a Status input. It is the
// engine's whole handling of such an input, besides advancing media time
// as a Tick does; Engine.Step calls it (a Status input has no Speaker).
func StatusEvent(in Input) Event {
	return Event{Type: EventStatus, AtMS: in.AtMS, ASR: in.ASR, Reason: in.Text}
}
