package coach_test

import (
	"testing"

	"github.com/cuecard/cuecard/coach"
)

// TestSignals checks how the default playbook reads single utterances,
// including recognizer-style text (lower case, no punctuation, numbers as
// words).
func TestSignals(t *testing.T) {
	pb := defaultPlaybook(t)
	tests := []struct {
		name    string
		speaker coach.Speaker
		text    string
		want    map[string]any
	}{
		{"concrete pain", coach.Prospect,
			"The big issue is that our drivers keep quitting, we lost forty of them this year and the recruiters can't keep up.",
			map[string]any{"concrete_pain": true}},
		{"pain without punctuation", coach.Prospect,
			"the thing thats killing us is scheduling its a total mess and we keep missing deliveries every single week",
			map[string]any{"concrete_pain": true}},
		{"solved in the past is not pain", coach.Prospect,
			"We used to have a terrible problem with no-shows and missed appointments, but we fixed that last year with reminders.",
			map[string]any{"concrete_pain": false}},
		{"solved, then a present problem", coach.Prospect,
			"that used to be a problem but we fixed it now the real issue is churn we lost a lot of accounts and missed our number",
			map[string]any{"pain": 4}},
		{"negated", coach.Prospect,
			"Honestly it's not a problem for us, nothing is broken and we are not losing anyone right now, the team is doing fine.",
			map[string]any{"concrete_pain": false}},
		{"good problem to have", coach.Prospect,
			"We have more demand than we can handle, which is a good problem to have, so we are not complaining at all really.",
			map[string]any{"concrete_pain": false}},
		{"vague worry", coach.Prospect,
			"Probably growth in general, that is what keeps me up at night these days.",
			map[string]any{"concrete_pain": false}},
		{"future question", coach.Rep,
			"Picture it's a year from now and the backlog is gone. What's different for you?",
			map[string]any{"future_q": true}},
		{"future question without punctuation", coach.Rep,
			"imagine six months from now every order ships on time what would that mean for the business",
			map[string]any{"future_q": true}},
		{"picture without a future is not one", coach.Rep,
			"Let me get the full picture first. How many people are on the team?",
			map[string]any{"future_q": false}},
		{"value in spoken numbers", coach.Prospect,
			"i think it is costing us five to ten percent of sales maybe two hundred grand a year",
			map[string]any{"value": 2}},
		{"door", coach.Prospect,
			"so how can you help us with this",
			map[string]any{"door": 1}},
		{"offer", coach.Rep,
			"I think we could help you get there. Can we talk about how I could do that for you?",
			map[string]any{"offering": true}},
		{"pitch", coach.Rep,
			"We were founded in two thousand nine, our platform serves over five hundred customers and we won three industry awards, our team is the best.",
			map[string]any{"pitching": true}},
		{"talking about the prospect is not a pitch", coach.Rep,
			"We'd put a team in your stores so your managers can get back to running your stores instead of chasing stock.",
			map[string]any{"pitching": false}},
		{"self-serving", coach.Rep,
			"I really need this one to hit my number this quarter.",
			map[string]any{"self_serving": 2}},
		{"resistance", coach.Prospect,
			"Look, just send me some information and I'll take a look.",
			map[string]any{"resistance": 1}},
		{"hedging is not resistance", coach.Prospect,
			"Maybe, I'd have to check with my boss first.",
			map[string]any{"resistance": 0}},
		{"next step", coach.Prospect,
			"Let's do Thursday at two, and bring the pilot outline.",
			map[string]any{"next_step": 3}},
		{"questions without punctuation", coach.Rep,
			"okay so how are you handling that today and do you have a team on it",
			map[string]any{"questions": 1}},
		{"statement", coach.Rep,
			"That makes sense, thanks for walking me through it.",
			map[string]any{"questions": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := pb.Explain(tt.speaker, tt.text, "")
			for k, want := range tt.want {
				if got := x.Features[k]; got != want {
					t.Errorf("%s = %v, want %v (matches %v, cancelled %v)", k, got, want, x.Matches, x.Cancelled)
				}
			}
		})
	}
}
