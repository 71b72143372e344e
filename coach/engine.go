package coach

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr/vm"
)

// Engine is the coach for one call: it turns timed inputs (speech
// segments, transcripts, clock ticks) into the contract's events. It is
// pure logic: no I/O, no goroutines, not safe for concurrent use; one
// goroutine (the session's) owns it.
type Engine struct {
	pb   *Playbook
	an   *analyzer
	talk *talkTracker
	vm   vm.VM

	now      int64
	finished bool
	lastTalk int64
	lastTick int64

	stage int // index into pb.stages; -1 before the first transcript
	spans []StageSpan

	env *env

	cues    []cueState
	pending []pendingOutcome
	records []CueRecord
	nextID  int

	// The rep's current monologue, for rep_turn_words and quotes.
	repMonoStart int64
	repMonoWords int
	repPartial   int
	repText      string

	prior string // the prospect's last pain or value, in the second person
	// finals before the first stage: while neither the first stage's rule
	// nor a later one's holds, the call has no stage yet (at most
	// maxOpeningFinals of them).
	openingFinals int
	questions     [3]int
	turns         [3]turn

	sigFirst []int // first surviving hit of each signal, then each model label's strongest word
	feat     features
	ctxRaw   [3]string // the text ctx holds, per speaker
	ctx      [3]text   // each side's last turn, analysed, as the other side's context
	hits     []hit
	cancels  []hit
	resets   []hit
	negs     []hit
	out      []Event
}

type cueState struct {
	armed     bool
	count     int
	lastAt    int64
	lastShare float64
	trigSpk   Speaker
	trigStart int64
}

type pendingOutcome struct {
	rec       int // index into records
	def       int
	at        int64
	deadline  int64
	share     float64
	trigSpk   Speaker
	trigStart int64
}

// templateData is what cue bodies and evidence templates may use.
type templateData struct {
	Quote  string // the words that triggered the cue
	Clause string // the triggering clause, handed back in the second person
	Prior  string // the prospect's last stated pain or value, second person
	Talk   Talk
}

// NewEngine returns an engine for one call on playbook pb.
func NewEngine(pb *Playbook) *Engine {
	e := &Engine{pb: pb, an: newAnalyzer(pb.stemExc), talk: newTalkTracker(pb.Talk), stage: -1, lastTalk: math.MinInt64 / 2, lastTick: math.MinInt64 / 2}
	e.env = pb.layout.instance()
	e.env.v.Field(envReached).Set(reflect.ValueOf(func(id string) bool {
		for i, s := range e.pb.stages {
			if s.id == id {
				return e.stage >= i
			}
		}
		return false
	}))
	e.env.v.Field(envStageIndex).SetInt(-1)
	e.cues = make([]cueState, len(pb.cues))
	for i := range e.cues {
		e.cues[i] = cueState{armed: true, lastAt: math.MinInt64 / 2, trigStart: -1}
	}
	e.sigFirst = make([]int, len(pb.signals))
	if pb.model != nil {
		e.sigFirst = make([]int, len(pb.signals)+len(pb.threshold))
	}
	return e
}

// Now returns the media time of the last input.
func (e *Engine) Now() int64 { return e.now }

func (e *Engine) resetU() {
	e.env.u.SetZero()
}

// Step feeds one input and returns the events it produced, in order. The
// returned slice is reused by the next call. Inputs older than the last one
// fail with ErrTimeBackwards and change nothing.
func (e *Engine) Step(in Input) ([]Event, error) {
	if e.finished {
		return nil, ErrFinished
	}
	if in.AtMS < e.now {
		return nil, fmt.Errorf("%w: input at %d ms after %d ms", ErrTimeBackwards, in.AtMS, e.now)
	}
	if in.Speaker != Rep && in.Speaker != Prospect && in.Kind != Tick && in.Kind != Status {
		return nil, fmt.Errorf("input at %d ms: unknown speaker %d", in.AtMS, in.Speaker)
	}
	e.out = e.out[:0]
	e.now = in.AtMS
	if in.Kind == Labels {
		e.relabel(in)
		return e.out, nil
	}
	var txt *text
	switch in.Kind {
	case SpeechStart:
		e.talk.start(in.Speaker, in.StartMS, in.AtMS)
	case SpeechEnd:
		e.talk.end(in.Speaker, in.EndMS, in.AtMS)
		e.out = append(e.out, Event{Type: EventSpeech, AtMS: in.AtMS, Speaker: in.Speaker, StartMS: in.StartMS, EndMS: in.EndMS})
	case Status:
		e.out = append(e.out, StatusEvent(in))
	case Partial, Final:
		e.out = append(e.out, Event{Type: EventTranscript, AtMS: in.AtMS, Speaker: in.Speaker, StartMS: in.StartMS, EndMS: in.EndMS, Text: in.Text, Final: in.Kind == Final})
	case Tick, Labels: // time only; labels were handled above
	}
	tk := e.talk.snapshot(in.AtMS)
	segWords, segQuestions := 0, 0
	if in.Kind == Partial || in.Kind == Final {
		in, txt, segWords = e.turnInput(in, tk)
	}
	e.trackRep(in, segWords, tk)
	e.setTalkEnv(tk)
	e.env.v.Field(envEvent).SetString(eventName(in.Kind))
	e.env.v.Field(envNow).SetInt(in.AtMS)
	if txt != nil {
		e.features(in, txt)
		if in.Kind == Final {
			tr := &e.turns[in.Speaker]
			n := int(e.env.u.Field(uQuestions).Int())
			segQuestions, tr.questions = n-tr.questions, n
			e.questions[in.Speaker] += max(segQuestions, 0)
		}
		// The first stage starts with the first final transcript, so its
		// evidence is a whole utterance, not a recognizer's first guess. A
		// first stage with an entry rule that does not hold is skipped when
		// a later one's holds (a call that opens straight on business).
		if e.stage < 0 && in.Kind == Final {
			e.openingFinals++
			if p := e.pb.stages[0].enter; p != nil && !e.run(p) {
				e.advanceStage(in, txt, false)
			}
			if e.stage < 0 && (e.pb.stages[0].enter == nil || e.run(e.pb.stages[0].enter) || e.openingFinals >= maxOpeningFinals) {
				e.enterStage(0, in, txt, "")
			}
		}
		e.advanceStage(in, txt, true)
	} else {
		e.resetU()
	}
	e.outcomes(in)
	e.fire(in, txt, tk)
	if txt != nil {
		e.updateFlags()
		e.notePrior(in, txt)
	}
	if e.talkDue(in) {
		e.lastTalk = in.AtMS
		e.out = append(e.out, Event{Type: EventTalk, AtMS: in.AtMS, Talk: tk})
	}
	return e.out, nil
}

// talkDue reports whether a talk snapshot goes out with this input. They go
// out on ticks, on the last tick before the interval would be exceeded, so
// that whatever the tick spacing they come at least every IntervalMS.
func (e *Engine) talkDue(in Input) bool {
	if in.Kind != Tick {
		return false
	}
	spacing := in.AtMS - e.lastTick
	e.lastTick = in.AtMS
	if spacing <= 0 || spacing > e.pb.Talk.IntervalMS {
		spacing = e.pb.Talk.IntervalMS
	}
	return in.AtMS-e.lastTalk+spacing > e.pb.Talk.IntervalMS
}

func eventName(k InputKind) string {
	switch k {
	case Final, Labels:
		return "final"
	case Partial:
		return "partial"
	case SpeechEnd:
		return "speech_end"
	case SpeechStart:
		return "speech_start"
	}
	return "tick"
}

// turn is what one side has said in its current turn: the finals of its
// speech segments while it holds the floor. Recognizers cut an utterance
// into segments at pauses; the coach reads the whole turn.
type turn struct {
	start     int64 // the first segment's start
	text      string
	words     int
	questions int
}

// turnInput returns in with the text and start of the speaker's whole
// turn so far, its analysis, and the number of words in is adding.
func (e *Engine) turnInput(in Input, tk Talk) (Input, *text, int) {
	tr := &e.turns[in.Speaker]
	cont := tr.text != "" && tk.MonologueSpeaker == in.Speaker && e.talk.monoStart <= tr.start && in.StartMS >= tr.start
	if !cont {
		*tr = turn{start: in.StartMS}
	}
	full := in.Text
	if tr.text != "" {
		full = tr.text + " " + in.Text
	}
	t := e.an.analyze(full)
	added := len(t.toks) - tr.words
	if in.Kind == Final {
		tr.text, tr.words = full, len(t.toks)
	}
	in.StartMS, in.Text = tr.start, full
	return in, &t, added
}

// trackRep keeps the word count and latest words of the rep's current
// monologue.
func (e *Engine) trackRep(in Input, segWords int, tk Talk) {
	if tk.MonologueSpeaker != Rep || e.talk.monoStart != e.repMonoStart {
		if tk.MonologueSpeaker == Rep {
			e.repMonoStart = e.talk.monoStart
		} else {
			e.repMonoStart = -1
		}
		e.repMonoWords, e.repPartial, e.repText = 0, 0, ""
	}
	if (in.Kind != Partial && in.Kind != Final) || in.Speaker != Rep || tk.MonologueSpeaker != Rep {
		return
	}
	if in.Kind == Final {
		e.repMonoWords += segWords
		e.repPartial = 0
	} else {
		e.repPartial = segWords
	}
	e.repText = in.Text
}

func (e *Engine) setTalkEnv(tk Talk) {
	*e.env.talk = talkVars{
		RepMS: int(tk.RepMS), ProspectMS: int(tk.ProspectMS), RepShare: tk.RepShare,
		WindowRepShare: tk.WindowRepShare, MonologueSpeaker: tk.MonologueSpeaker.String(),
		MonologueMS: int(tk.MonologueMS), RepTurnWords: e.repMonoWords + e.repPartial, ElapsedMS: int(e.now),
	}
}

// features fills u from the text: counts, questions, signals, derives.
func (e *Engine) features(in Input, t *text) {
	u := e.env.u
	u.Field(uSpeaker).SetString(in.Speaker.String())
	u.Field(uFinal).SetBool(in.Kind == Final)
	u.Field(uWords).SetInt(int64(len(t.toks)))
	u.Field(uNumbers).SetInt(int64(t.numbers))
	u.Field(uQuestions).SetInt(int64(e.countQuestions(t)))
	u.Field(uTone).SetInt(int64(tone(t)))
	u.Field(uSecond).SetBool(false)
	for i := range e.pb.signals {
		n, first := e.signal(&e.pb.signals[i], t)
		u.Field(uFixed + i).SetInt(int64(n))
		e.sigFirst[i] = first
	}
	e.modelScores(in.Speaker, t)
	e.derive()
}

// derive computes the playbook's derived values, in order.
func (e *Engine) derive() {
	for i, d := range e.pb.derives {
		e.env.u.Field(uFixed + len(e.pb.signals) + i).SetBool(e.run(d.prog))
	}
}

// relabel reads a final utterance again with a second detector's signals
// in place of the model's: a cue whose rule now holds fires (marked with
// its source) unless its moment has passed, and a cue fired on that
// utterance whose rule no longer holds is withdrawn. Flags only get set
// and stages only move forward: the call has gone on since.
func (e *Engine) relabel(in Input) {
	m := e.pb.model
	if m == nil || strings.TrimSpace(in.Text) == "" {
		return
	}
	t := e.an.analyze(in.Text)
	u := Input{Kind: Final, AtMS: in.AtMS, Speaker: in.Speaker, StartMS: in.StartMS, EndMS: in.EndMS, Text: in.Text}
	tk := e.talk.snapshot(in.AtMS)
	e.setTalkEnv(tk)
	e.env.v.Field(envEvent).SetString("final")
	e.env.v.Field(envNow).SetInt(in.AtMS)
	e.features(u, &t)
	e.env.u.Field(uSecond).SetBool(true)
	base := uFixed + len(e.pb.signals) + len(e.pb.derives)
	score, is := e.env.u.Field(base), e.env.u.Field(base+1)
	for l, name := range m.hdr.Labels {
		has := slices.Contains(in.Signals, name) && m.hdr.Speakers[l].has(in.Speaker)
		p, first := 0.0, -1
		if has {
			p, first = 1, m.topToken(l, &e.feat, &t)
			if first < 0 && len(t.toks) > 0 {
				first = 0
			}
		}
		score.Field(l).SetFloat(p)
		is.Field(l).SetBool(has)
		e.sigFirst[len(e.pb.signals)+l] = first
	}
	e.derive()
	e.withdraw(u, in.Signals)
	n := len(e.out)
	e.advanceStage(u, &t, true)
	e.fire(u, &t, tk)
	for i := n; i < len(e.out); i++ {
		if e.out[i].Type == EventCue {
			e.out[i].Source = "llm"
		}
	}
	for i, f := range e.pb.flags {
		if e.run(f.set) {
			e.env.state.Field(i).SetBool(true)
		}
	}
}

// withdraw takes back the cues fired on u's utterance when the second
// detector finds none of the model signals the cue quotes from (the
// signals it rests on). A cue that quotes none (a timing cue) stays.
func (e *Engine) withdraw(u Input, signals []string) {
	for i := range e.records {
		r := &e.records[i]
		if r.withdrawn || r.spk != u.Speaker || r.start != u.StartMS {
			continue
		}
		rests := e.restsOn(&e.pb.cues[r.def])
		if len(rests) == 0 || slices.ContainsFunc(rests, func(l string) bool { return slices.Contains(signals, l) }) {
			continue
		}
		r.withdrawn = true
		reason := "a second reading finds no such signal"
		if len(signals) > 0 {
			reason = "a second reading finds " + strings.Join(signals, ", ")
		}
		e.out = append(e.out, CueUpdate(Event{ID: r.ID, Cue: r.Cue}, u.AtMS, VerdictWithdrawn, "", reason))
	}
}

// restsOn returns the model signals a cue quotes from: its own model
// labels and the phrase signals of the same name.
func (e *Engine) restsOn(d *cueDef) []string {
	m := e.pb.model
	var out []string
	for _, q := range d.quote {
		name := ""
		if q >= len(e.pb.signals) {
			name = m.hdr.Labels[q-len(e.pb.signals)]
		} else if _, ok := m.labels[e.pb.signals[q].name]; ok {
			name = e.pb.signals[q].name
		}
		if name != "" && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// modelScores sets u.score.* and u.is.* from the signal model, reading t
// after the other side's last turn.
func (e *Engine) modelScores(spk Speaker, t *text) {
	m := e.pb.model
	if m == nil {
		return
	}
	other := Rep
	if spk == Rep {
		other = Prospect
	}
	if raw := e.turns[other].text; raw != e.ctxRaw[other] {
		e.ctxRaw[other], e.ctx[other] = raw, e.an.analyze(raw)
	}
	m.extract(&e.feat, spk, t, &e.ctx[other])
	base := uFixed + len(e.pb.signals) + len(e.pb.derives)
	score, is := e.env.u.Field(base), e.env.u.Field(base+1)
	for l, th := range e.pb.threshold {
		p := m.score(l, &e.feat, spk)
		score.Field(l).SetFloat(p)
		is.Field(l).SetBool(p >= th)
		first := -1
		if p >= th {
			first = m.topToken(l, &e.feat, t)
		}
		e.sigFirst[len(e.pb.signals)+l] = first
	}
}

// countQuestions counts sentences that end with "?" or open, after lead
// words, with a question opener. Text without punctuation (recognizer
// output) is scanned for openers after any lead word.
func (e *Engine) countQuestions(t *text) int {
	n := 0
	e.hits = e.pb.questions.find(t, e.hits[:0])
	for _, s := range t.sents {
		if s.question {
			n++
			continue
		}
		i := s.first
		for i <= s.last && e.isLead(t, i) {
			i++
		}
		for _, h := range e.hits {
			if h.start == i || !t.punct {
				n++
				break
			}
		}
	}
	return n
}

func (e *Engine) isLead(t *text, i int) bool {
	if e.pb.qlead == nil {
		return false
	}
	for _, idx := range e.pb.qlead.byFirst[t.toks[i].stem] {
		if len(e.pb.qlead.pats[idx].toks) == 1 {
			return true
		}
	}
	return false
}

// signal counts the hits of one signal in t that survive negation and
// cancellation, and returns the first one's token index (-1 if none).
func (e *Engine) signal(sd *signalDef, t *text) (int, int) {
	e.hits = sd.phrases.find(t, e.hits[:0])
	if len(e.hits) == 0 {
		return 0, -1
	}
	e.cancels = sd.cancel.find(t, e.cancels[:0])
	e.resets = sd.reset.find(t, e.resets[:0])
	e.negs = sd.negate.find(t, e.negs[:0])
	n, first := 0, -1
	for _, h := range e.hits {
		if e.negated(t, h, sd.negWin) || e.cancelled(t, h, sd.window) {
			continue
		}
		if first < 0 {
			first = h.start
		}
		n++
	}
	return n, first
}

func (e *Engine) negated(t *text, h hit, win int) bool {
	for _, g := range e.negs {
		if g.end < h.start && h.start-g.end <= win && t.toks[g.end].sent == t.toks[h.start].sent {
			return true
		}
	}
	return false
}

// cancelled reports whether a resolution marker ("used to", "fixed") stands
// near h in its sentence with no present-time marker ("but now") between.
func (e *Engine) cancelled(t *text, h hit, win int) bool {
	sent := t.toks[h.start].sent
	for _, c := range e.cancels {
		if t.toks[c.start].sent != sent || c.start <= h.end && c.end >= h.start {
			continue
		}
		lo, hi := c.end, h.start // marker before the hit
		if c.start > h.end {
			lo, hi = h.end, c.start // marker after the hit
		}
		if hi-lo > win {
			continue
		}
		protected := false
		if c.start < h.start {
			for _, r := range e.resets {
				if r.start > lo && r.end < hi {
					protected = true
					break
				}
			}
		}
		if !protected {
			return true
		}
	}
	return false
}

func (e *Engine) run(p *vm.Program) bool {
	v, err := e.vm.Run(p, e.env.ptr)
	if err != nil {
		return false
	}
	b, _ := v.(bool)
	return b
}

func (e *Engine) updateFlags() {
	for i, f := range e.pb.flags {
		if f.clear != nil && e.run(f.clear) {
			e.env.state.Field(i).SetBool(false)
		}
		if e.run(f.set) {
			e.env.state.Field(i).SetBool(true)
		}
	}
}

// notePrior remembers the prospect's latest pain or value, for bodies that
// hand it back.
func (e *Engine) notePrior(in Input, t *text) {
	if in.Speaker != Prospect || in.Kind != Final {
		return
	}
	for i, s := range e.pb.signals {
		if (s.name == "value" || s.name == "pain") && e.sigFirst[i] >= 0 {
			e.prior = t.clause(e.sigFirst[i], 20)
		}
	}
	if m := e.pb.model; m != nil {
		for _, name := range [...]string{"pain", "value"} {
			if l, ok := m.labels[name]; ok && e.sigFirst[len(e.pb.signals)+l] >= 0 {
				e.prior = t.clause(e.sigFirst[len(e.pb.signals)+l], 20)
			}
		}
	}
}

// quote returns the evidence sentence and handed-back clause of the text,
// around the first hit of the first of sigs that matched (or the whole
// text).
func (e *Engine) quote(t *text, sigs []int) (string, string) {
	if t == nil {
		return "", ""
	}
	at := -1
	for _, sig := range sigs {
		if at = e.sigFirst[sig]; at >= 0 {
			break
		}
	}
	if at < 0 {
		if len(t.toks) == 0 {
			return strings.TrimSpace(t.raw), ""
		}
		return t.sentenceText(0, 30), t.clause(0, 20)
	}
	return t.sentenceText(at, 30), t.clause(at, 20)
}

func (e *Engine) stageEnv() {
	if e.stage >= 0 {
		e.env.v.Field(envStage).SetString(e.pb.stages[e.stage].id)
	}
	e.env.v.Field(envStageIndex).SetInt(int64(e.stage))
}

func (e *Engine) enterStage(i int, in Input, t *text, _ string) {
	from := ""
	if e.stage >= 0 {
		from = e.pb.stages[e.stage].id
		e.spans[len(e.spans)-1].EndMS = in.AtMS
	}
	ev, _ := e.quote(t, e.pb.stages[i].quote)
	e.stage = i
	e.spans = append(e.spans, StageSpan{Stage: e.pb.stages[i].id, StartMS: in.AtMS, EndMS: in.AtMS, Evidence: ev})
	e.stageEnv()
	e.out = append(e.out, Event{Type: EventStage, AtMS: in.AtMS, Stage: e.pb.stages[i].id, From: from, Evidence: ev})
}

// maxOpeningFinals bounds how many final transcripts may pass before the
// first stage is entered whatever its rule says.
const maxOpeningFinals = 3

// advanceStage enters, in order, every later stage whose entry rule holds:
// evidence for a late stage can also be evidence for the ones before it
// (a question that brings the future forward shows the talk is on the
// business), and stages whose rules do not hold are skipped.
// Before any stage, the first one is entered too when withFirst is set.
func (e *Engine) advanceStage(in Input, t *text, withFirst bool) {
	for i := max(e.stage+1, 1); i < len(e.pb.stages); i++ {
		if p := e.pb.stages[i].enter; p != nil && e.run(p) {
			if e.stage < 0 && withFirst {
				e.enterStage(0, in, t, "") // a later stage from a partial: the call began
			}
			e.enterStage(i, in, t, "")
		}
	}
}

// sameUtterance reports whether in belongs to the utterance that fired.
func sameUtterance(in Input, spk Speaker, start int64) bool {
	return (in.Kind == Partial || in.Kind == Final) && in.Speaker == spk && in.StartMS == start
}

// outcomes resolves pending cue outcomes: taken when the cue's rule holds
// on a later utterance (or tick) inside its window, missed when its missed
// rule holds or the window closes.
func (e *Engine) outcomes(in Input) {
	keep := e.pending[:0]
	mask := maskOf(in.Kind)
	for _, p := range e.pending {
		d := &e.pb.cues[p.def]
		resolved, taken, reason := false, false, ""
		switch {
		case in.AtMS > p.deadline:
			resolved, reason = true, "window closed"
		case d.outOn&mask != 0 && !sameUtterance(in, p.trigSpk, p.trigStart) &&
			(in.Kind == Tick || in.Kind == SpeechEnd || in.StartMS >= p.trigStart):
			e.setFired(p.at, p.share, e.cues[p.def].count)
			if d.missed != nil && e.run(d.missed) {
				resolved = true
			} else if e.run(d.taken) {
				resolved, taken = true, true
			}
		}
		if !resolved {
			keep = append(keep, p)
			continue
		}
		e.resolve(p, taken, reason)
	}
	e.pending = keep
}

func (e *Engine) resolve(p pendingOutcome, taken bool, reason string) {
	r := &e.records[p.rec]
	r.OutcomeMS = e.now
	r.Outcome = "missed"
	if taken {
		r.Outcome = "taken"
	}
	if reason == "call ended" {
		r.Outcome = "open"
	}
	e.out = append(e.out, Event{Type: EventOutcome, AtMS: e.now, ID: r.ID, Cue: r.Cue, Taken: taken, Reason: reason})
}

func (e *Engine) setFired(at int64, share float64, count int) {
	*e.env.fired = firedVars{AtMS: int(at), SinceMS: int(e.now - at), WindowRepShare: share, Count: count}
}

// fire evaluates every cue's rearm and firing rules on this input.
func (e *Engine) fire(in Input, t *text, tk Talk) {
	mask := maskOf(in.Kind)
	for i := range e.pb.cues {
		d := &e.pb.cues[i]
		cs := &e.cues[i]
		if !cs.armed && d.rearmOn&mask != 0 && !sameUtterance(in, cs.trigSpk, cs.trigStart) {
			e.setFired(cs.lastAt, cs.lastShare, cs.count)
			if e.run(d.rearm) {
				cs.armed = true
			}
		}
		if !cs.armed || d.on&mask == 0 || cs.count >= d.maxPerCall || in.AtMS-cs.lastAt < d.cooldownMS {
			continue
		}
		if t != nil && sameUtterance(in, cs.trigSpk, cs.trigStart) {
			continue // one cue per utterance
		}
		if t != nil && in.Kind == Final && d.staleMS > 0 && in.AtMS-in.EndMS > d.staleMS {
			continue // its moment has passed
		}
		e.setFired(cs.lastAt, cs.lastShare, cs.count)
		if !e.run(d.when) {
			continue
		}
		e.emitCue(i, in, t, tk)
	}
}

func (e *Engine) emitCue(i int, in Input, t *text, tk Talk) {
	d := &e.pb.cues[i]
	cs := &e.cues[i]
	quote, clause := e.quote(t, d.quote)
	if t == nil && e.repText != "" && tk.MonologueSpeaker == Rep {
		// A time-based cue quotes the rep's latest words.
		rt := e.an.analyze(e.repText)
		if n := len(rt.toks); n > 0 {
			quote, clause = rt.sentenceText(n-1, 30), rt.clause(n-1, 20)
		}
	}
	data := templateData{Quote: quote, Clause: clause, Prior: e.prior, Talk: tk}
	body, err := renderCue(d.body, data)
	if err != nil {
		body = d.Title
	}
	evidence, err := renderCue(d.evidence, data)
	if err != nil {
		evidence = quote
	}
	e.nextID++
	id := "c" + strconv.Itoa(e.nextID)
	ev := Event{Type: EventCue, AtMS: in.AtMS, ID: id, Cue: d.ID, Title: d.Title,
		Body: collapse(body), Evidence: collapse(evidence), Priority: d.Priority}
	if t != nil {
		ev.Speaker, ev.StartMS, ev.EndMS = in.Speaker, in.StartMS, in.EndMS
		if in.Kind == Partial {
			ev.EndMS = in.AtMS
		}
		cs.trigSpk, cs.trigStart = in.Speaker, in.StartMS
	} else {
		ev.Speaker, ev.StartMS, ev.EndMS = tk.MonologueSpeaker, e.talk.monoStart, in.AtMS
		cs.trigSpk, cs.trigStart = NoSpeaker, -1
	}
	cs.count++
	cs.lastAt = in.AtMS
	cs.lastShare = tk.WindowRepShare
	if d.rearm != nil {
		cs.armed = false
	}
	e.out = append(e.out, ev)
	e.records = append(e.records, CueRecord{ID: id, Cue: d.ID, Title: d.Title, AtMS: in.AtMS, Evidence: ev.Evidence, Outcome: "open",
		def: i, spk: cs.trigSpk, start: cs.trigStart})
	e.pending = append(e.pending, pendingOutcome{rec: len(e.records) - 1, def: i, at: in.AtMS,
		deadline: in.AtMS + d.outWindowMS, share: tk.WindowRepShare, trigSpk: cs.trigSpk, trigStart: cs.trigStart})
}

// collapse folds runs of white space (YAML folding leaves some) into one.
func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// Finish ends the call at media time atMS (or the last input's time, if
// later): open outcomes are closed, and the summary is the last event.
func (e *Engine) Finish(atMS int64) ([]Event, error) {
	if e.finished {
		return nil, ErrFinished
	}
	e.out = e.out[:0]
	e.now = max(e.now, atMS)
	for _, p := range e.pending {
		e.resolve(p, false, "call ended")
	}
	e.pending = nil
	tk := e.talk.snapshot(e.now)
	e.out = append(e.out, Event{Type: EventTalk, AtMS: e.now, Talk: tk})
	e.finished = true
	s := &Summary{Stages: e.spans, Cues: e.records}
	if s.Stages == nil {
		s.Stages = []StageSpan{}
	}
	if s.Cues == nil {
		s.Cues = []CueRecord{}
	}
	if n := len(s.Stages); n > 0 {
		s.Stages[n-1].EndMS = e.now
		s.Metrics.FurthestStage = s.Stages[n-1].Stage
	}
	e.talk.finish(e.now, &s.Metrics)
	s.Metrics.RepQuestions, s.Metrics.ProspectQuestions = e.questions[Rep], e.questions[Prospect]
	s.Metrics.CuesFired = len(e.records)
	for _, r := range e.records {
		if r.Outcome == "taken" {
			s.Metrics.CuesTaken++
		}
	}
	if s.Metrics.CuesFired > 0 {
		s.Metrics.Uptake = round3(float64(s.Metrics.CuesTaken) / float64(s.Metrics.CuesFired))
	}
	e.out = append(e.out, Event{Type: EventSummary, AtMS: e.now, Summary: s})
	return e.out, nil
}
