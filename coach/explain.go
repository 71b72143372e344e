package coach

import "slices"

// Explanation shows how the playbook reads one utterance: the features
// and derived values rules see as u.*, and the phrases each signal matched
// (hits that negation or a resolution marker cancelled are listed apart).
type Explanation struct {
	Features  map[string]any      `json:"features"`
	Matches   map[string][]string `json:"matches"`
	Cancelled map[string][]string `json:"cancelled,omitempty"`
}

// Explain analyses text as said by speaker, for playbook authors.
func (pb *Playbook) Explain(speaker Speaker, text string) Explanation {
	e := NewEngine(pb)
	t := e.an.analyze(text)
	in := Input{Kind: Final, Speaker: speaker, Text: text}
	e.features(in, &t)
	x := Explanation{Features: map[string]any{}, Matches: map[string][]string{}, Cancelled: map[string][]string{}}
	for i, name := range pb.layout.uNames {
		x.Features[name] = e.env.u.Field(i).Interface()
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
