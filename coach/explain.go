package coach

import (
	"math"
	"slices"
)

// Explanation shows how the playbook reads one utterance: the features
// and derived values rules see as u.*, and the phrases each signal matched
// (hits that negation or a resolution marker cancelled are listed apart).
type Explanation struct {
	Features  map[string]any      `json:"features"`
	Matches   map[string][]string `json:"matches"`
	Cancelled map[string][]string `json:"cancelled,omitempty"`
	// Scores are the signal model's scores (none without a model), and
	// Drivers the words that raised each score of 0.2 or more, strongest
	// first.
	Scores  map[string]float64  `json:"scores,omitempty"`
	Drivers map[string][]string `json:"drivers,omitempty"`
}

// Explain analyses text as said by speaker after the other side said
// after ("" for none), for playbook authors.
func (pb *Playbook) Explain(speaker Speaker, text, after string) Explanation {
	e := NewEngine(pb)
	t := e.an.analyze(text)
	other := Rep
	if speaker == Rep {
		other = Prospect
	}
	e.turns[other].text = after
	in := Input{Kind: Final, Speaker: speaker, Text: text}
	e.features(in, &t)
	x := Explanation{Features: map[string]any{}, Matches: map[string][]string{}, Cancelled: map[string][]string{}}
	for i, name := range pb.layout.uNames {
		x.Features[name] = e.env.u.Field(i).Interface()
	}
	if m := pb.model; m != nil {
		x.Scores = map[string]float64{}
		for l, name := range m.hdr.Labels {
			x.Scores[name] = math.Round(m.score(l, &e.feat, speaker)*1000) / 1000
		}
		x.Drivers = m.drivers(&e.feat, &t, speaker, 0.2, 6)
		delete(x.Features, "score")
		delete(x.Features, "is")
	}
	for i := range pb.signals {
		sd := &pb.signals[i]
		e.hits = sd.phrases.find(&t, e.hits[:0])
		e.cancels = sd.cancel.find(&t, e.cancels[:0])
		e.resets = sd.reset.find(&t, e.resets[:0])
		e.negs = sd.negate.find(&t, e.negs[:0])
		for _, h := range slices.Clone(e.hits) {
			s := t.span(h.start, h.end)
			if e.negated(&t, h, sd.negWin) || e.cancelled(&t, h, sd.window) {
				x.Cancelled[sd.name] = append(x.Cancelled[sd.name], s)
			} else {
				x.Matches[sd.name] = append(x.Matches[sd.name], s)
			}
		}
	}
	return x
}
