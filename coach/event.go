package coach

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// Event types, as named in the external contract.
const (
	EventSpeech     = "speech"
	EventTranscript = "transcript"
	EventTalk       = "talk"
	EventStage      = "stage"
	EventCue        = "cue"
	EventOutcome    = "cue_outcome"
	EventStatus     = "status"
	EventSummary    = "summary"
	// EventCueUpdate revises an earlier cue (by its id) after a slower,
	// second opinion: see CueUpdate.
	EventCueUpdate = "cue_update"
)

// Talk is the talk-time snapshot carried by a "talk" event.
type Talk struct {
	RepMS            int64
	ProspectMS       int64
	RepShare         float64
	WindowRepShare   float64
	MonologueSpeaker Speaker
	MonologueMS      int64
}

// Event is one output event of the pipeline. Which fields are meaningful
// depends on Type; MarshalJSON writes exactly the contract's fields for it
// (plus documented extensions) so that zero values are never dropped.
type Event struct {
	Type string
	AtMS int64

	// speech, transcript; cue (the triggering utterance's span).
	Speaker Speaker
	StartMS int64
	EndMS   int64
	Text    string
	Final   bool

	// talk
	Talk Talk

	// stage
	Stage string
	From  string

	// stage, cue
	Evidence string

	// cue, cue_outcome
	ID       string
	Cue      string
	Title    string
	Body     string
	Priority int
	Taken    bool
	// Source names the detector behind a cue when it is not the engine's
	// own reading: "llm" for a cue a language model's labels added.
	Source string

	// status: ASR state; cue_outcome, status and cue_update: Reason.
	ASR    string
	Reason string
	// status of a session that moved to another server (cluster mode):
	// Node is the server that runs it now, LostMS the audio lost in the
	// move (not heard by either server).
	Node   string
	LostMS int64

	// cue_update: Verdict is one of the Verdict* constants; a refined
	// cue's new Body is in Body (ID, Cue name the revised cue).
	Verdict string

	// summary
	Summary *Summary
}

// Summary is the last event of a session: metrics, stage timeline, cues.
type Summary struct {
	Metrics Metrics     `json:"metrics"`
	Stages  []StageSpan `json:"stages"`
	Cues    []CueRecord `json:"cues"`
}

// Metrics are the call's talk and coaching metrics; README.md defines each.
type Metrics struct {
	DurationMS                 int64   `json:"duration_ms"`
	RepMS                      int64   `json:"rep_ms"`
	ProspectMS                 int64   `json:"prospect_ms"`
	RepShare                   float64 `json:"rep_share"`
	LongestRepMonologueMS      int64   `json:"longest_rep_monologue_ms"`
	LongestProspectMonologueMS int64   `json:"longest_prospect_monologue_ms"`
	TurnSwitches               int     `json:"turn_switches"`
	Interactivity              float64 `json:"interactivity"`
	PatienceMS                 int64   `json:"patience_ms"`
	Overlaps                   int     `json:"overlaps"`
	OverlapMS                  int64   `json:"overlap_ms"`
	RepQuestions               int     `json:"rep_questions"`
	ProspectQuestions          int     `json:"prospect_questions"`
	CuesFired                  int     `json:"cues_fired"`
	CuesTaken                  int     `json:"cues_taken"`
	Uptake                     float64 `json:"uptake"`
	FurthestStage              string  `json:"furthest_stage"`
}

// StageSpan is one stretch of the stage timeline; EndMS is the end of the
// call for the last span.
type StageSpan struct {
	Stage    string `json:"stage"`
	StartMS  int64  `json:"start_ms"`
	EndMS    int64  `json:"end_ms"`
	Evidence string `json:"evidence,omitempty"`
}

// CueRecord is one fired cue and its outcome in the summary. Outcome is
// "taken", "missed", or "open" when the call ended inside the cue's window.
type CueRecord struct {
	ID        string `json:"id"`
	Cue       string `json:"cue"`
	Title     string `json:"title"`
	AtMS      int64  `json:"at_ms"`
	Evidence  string `json:"evidence"`
	Outcome   string `json:"outcome"`
	OutcomeMS int64  `json:"outcome_ms,omitempty"`

	// what fired it: the cue's index in the playbook and the utterance
	// (speaker and start; -1 for a time-based cue), for second readings.
	def       int
	spk       Speaker
	start     int64
	withdrawn bool
}

// MarshalJSON writes the event in the contract's shape.
func (e Event) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 256))
}

// AppendJSON appends the event's JSON encoding to b, without reflection on
// the frequent event types.
func (e Event) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"at_ms":`...)
	b = strconv.AppendInt(b, e.AtMS, 10)
	switch e.Type {
	case EventSpeech:
		b = appendSpan(b, e)
	case EventTranscript:
		b = appendSpan(b, e)
		b = appendKey(b, "text")
		b = appendString(b, e.Text)
		b = appendKey(b, "final")
		b = strconv.AppendBool(b, e.Final)
	case EventTalk:
		t := e.Talk
		b = appendKey(b, "rep_ms")
		b = strconv.AppendInt(b, t.RepMS, 10)
		b = appendKey(b, "prospect_ms")
		b = strconv.AppendInt(b, t.ProspectMS, 10)
		b = appendKey(b, "rep_share")
		b = appendFloat(b, t.RepShare)
		b = appendKey(b, "window_rep_share")
		b = appendFloat(b, t.WindowRepShare)
		b = appendKey(b, "monologue_speaker")
		b = appendString(b, t.MonologueSpeaker.String())
		b = appendKey(b, "monologue_ms")
		b = strconv.AppendInt(b, t.MonologueMS, 10)
	case EventStage:
		b = appendKey(b, "stage")
		b = appendString(b, e.Stage)
		b = appendKey(b, "from")
		b = appendString(b, e.From)
		b = appendKey(b, "evidence")
		b = appendString(b, e.Evidence)
	case EventCue:
		b = appendKey(b, "id")
		b = appendString(b, e.ID)
		b = appendKey(b, "cue")
		b = appendString(b, e.Cue)
		b = appendKey(b, "title")
		b = appendString(b, e.Title)
		b = appendKey(b, "body")
		b = appendString(b, e.Body)
		b = appendKey(b, "evidence")
		b = appendString(b, e.Evidence)
		b = appendKey(b, "priority")
		b = strconv.AppendInt(b, int64(e.Priority), 10)
		if e.Source != "" {
			b = appendKey(b, "source")
			b = appendString(b, e.Source)
		}
		b = appendSpan(b, e)
	case EventOutcome:
		b = appendKey(b, "id")
		b = appendString(b, e.ID)
		b = appendKey(b, "cue")
		b = appendString(b, e.Cue)
		b = appendKey(b, "taken")
		b = strconv.AppendBool(b, e.Taken)
		if e.Reason != "" {
			b = appendKey(b, "reason")
			b = appendString(b, e.Reason)
		}
	case EventStatus:
		b = appendKey(b, "asr")
		b = appendString(b, e.ASR)
		b = appendKey(b, "reason")
		b = appendString(b, e.Reason)
		if e.Node != "" {
			b = appendKey(b, "node")
			b = appendString(b, e.Node)
			b = appendKey(b, "lost_ms")
			b = strconv.AppendInt(b, e.LostMS, 10)
		}
	case EventCueUpdate:
		b = appendKey(b, "id")
		b = appendString(b, e.ID)
		b = appendKey(b, "cue")
		b = appendString(b, e.Cue)
		b = appendKey(b, "verdict")
		b = appendString(b, e.Verdict)
		if e.Body != "" {
			b = appendKey(b, "body")
			b = appendString(b, e.Body)
		}
		b = appendKey(b, "reason")
		b = appendString(b, e.Reason)
	case EventSummary:
		s := e.Summary
		if s == nil {
			s = &Summary{}
		}
		m, err := json.Marshal(s)
		if err != nil {
			return nil, fmt.Errorf("marshal summary: %w", err)
		}
		b = append(b, ',')
		b = append(b, m[1:len(m)-1]...)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads an event written by MarshalJSON (or by another
// implementation of the contract).
func (e *Event) UnmarshalJSON(data []byte) error {
	var w struct {
		Type     string   `json:"type"`
		AtMS     int64    `json:"at_ms"`
		Speaker  string   `json:"speaker"`
		StartMS  int64    `json:"start_ms"`
		EndMS    int64    `json:"end_ms"`
		Text     string   `json:"text"`
		Final    bool     `json:"final"`
		RepMS    int64    `json:"rep_ms"`
		ProsMS   int64    `json:"prospect_ms"`
		Share    float64  `json:"rep_share"`
		WShare   float64  `json:"window_rep_share"`
		MonoSpk  string   `json:"monologue_speaker"`
		MonoMS   int64    `json:"monologue_ms"`
		Stage    string   `json:"stage"`
		From     string   `json:"from"`
		Evidence string   `json:"evidence"`
		ID       string   `json:"id"`
		Cue      string   `json:"cue"`
		Title    string   `json:"title"`
		Body     string   `json:"body"`
		Priority int      `json:"priority"`
		Taken    bool     `json:"taken"`
		ASR      string   `json:"asr"`
		Reason   string   `json:"reason"`
		Verdict  string   `json:"verdict"`
		Source   string   `json:"source"`
		Node     string   `json:"node"`
		LostMS   int64    `json:"lost_ms"`
		Metrics  *Metrics `json:"metrics"`
		Stages   []StageSpan
		Cues     []CueRecord
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	spk, _ := ParseSpeaker(w.Speaker)
	mono, _ := ParseSpeaker(w.MonoSpk)
	*e = Event{
		Type: w.Type, AtMS: w.AtMS, Speaker: spk, StartMS: w.StartMS, EndMS: w.EndMS,
		Text: w.Text, Final: w.Final,
		Talk:  Talk{RepMS: w.RepMS, ProspectMS: w.ProsMS, RepShare: w.Share, WindowRepShare: w.WShare, MonologueSpeaker: mono, MonologueMS: w.MonoMS},
		Stage: w.Stage, From: w.From, Evidence: w.Evidence,
		ID: w.ID, Cue: w.Cue, Title: w.Title, Body: w.Body, Priority: w.Priority, Taken: w.Taken,
		ASR: w.ASR, Reason: w.Reason, Verdict: w.Verdict, Source: w.Source,
		Node: w.Node, LostMS: w.LostMS,
	}
	if w.Type == EventSummary {
		e.Summary = &Summary{Stages: w.Stages, Cues: w.Cues}
		if w.Metrics != nil {
			e.Summary.Metrics = *w.Metrics
		}
	}
	return nil
}

func appendSpan(b []byte, e Event) []byte {
	b = appendKey(b, "speaker")
	b = appendString(b, e.Speaker.String())
	b = appendKey(b, "start_ms")
	b = strconv.AppendInt(b, e.StartMS, 10)
	b = appendKey(b, "end_ms")
	return strconv.AppendInt(b, e.EndMS, 10)
}

func appendKey(b []byte, k string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

// appendFloat writes a share with three decimals, as the contract shows.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		f = 0
	}
	return strconv.AppendFloat(b, math.Round(f*1000)/1000, 'f', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
