package coach_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/coach"
)

func TestDefaultPlaybookNamesTheContractsStagesAndCues(t *testing.T) {
	pb := defaultPlaybook(t)
	wantStages := []string{"rapport", "discovery", "future", "relationship", "commitment"}
	if strings.Join(pb.Stages, ",") != strings.Join(wantStages, ",") {
		t.Fatalf("stages %v, want %v", pb.Stages, wantStages)
	}
	var ids []string
	for _, c := range pb.Cues {
		ids = append(ids, c.ID)
	}
	want := "future_forward,make_the_ask,door_opened,one_paragraph,ditch_the_pitch,self_serving,let_them_talk,resistance"
	if strings.Join(ids, ",") != want {
		t.Fatalf("cues %v, want %s", ids, want)
	}
}

// edit returns the default playbook with old replaced by new.
func edit(t *testing.T, old, new string) []byte {
	t.Helper()
	src := string(coach.DefaultPlaybookYAML())
	if !strings.Contains(src, old) {
		t.Fatalf("default playbook has no %q", old)
	}
	return []byte(strings.Replace(src, old, new, 1))
}

func lineOf(t *testing.T, src []byte, needle string) int {
	t.Helper()
	i := strings.Index(string(src), needle)
	if i < 0 {
		t.Fatalf("no %q", needle)
	}
	return strings.Count(string(src[:i]), "\n") + 1
}

func TestPlaybookErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name    string
		src     func(t *testing.T) []byte
		at      string // text on the line the error must name ("" for none)
		message string
	}{
		{"unknown field", func(t *testing.T) []byte {
			return edit(t, "  pause_ms: 1500", "  pause_ms: 1500\n  pause_msec: 10")
		}, "pause_msec", "field pause_msec not found"},
		{"expression syntax", func(t *testing.T) []byte {
			return edit(t, `when: u.serving_self`, `when: u.serving_self &&& u.final`)
		}, "&&&", "cue self_serving when"},
		{"unknown signal in a rule", func(t *testing.T) []byte {
			return edit(t, `when: u.serving_self`, `when: u.selfserving`)
		}, "u.selfserving", "cue self_serving when"},
		{"rule that is not boolean", func(t *testing.T) []byte {
			return edit(t, `when: u.serving_self`, `when: u.words`)
		}, "when: u.words", "cue self_serving when"},
		{"bad phrase", func(t *testing.T) []byte {
			return edit(t, "      - yeah no|no thanks|no thank you", "      - yeah no|(no thanks")
		}, "(no thanks", "phrase"},
		{"quote from a missing signal", func(t *testing.T) []byte {
			return edit(t, "    quote_from: door\n", "    quote_from: doors\n")
		}, "quote_from: doors", `no signal named "doors"`},
		{"bad template", func(t *testing.T) []byte {
			return edit(t, "You mentioned {{.Clause}}.", "You mentioned {{.Clauses}}.")
		}, "", "cue future_forward body"},
		{"duplicate cue", func(t *testing.T) []byte {
			return edit(t, "  - id: resistance\n", "  - id: one_paragraph\n")
		}, "- id: one_paragraph\n    title: Resistance", "unique"},
		{"not YAML", func(t *testing.T) []byte { return []byte("name: [unclosed\n") }, "", "did not find expected"},
		{"empty", func(t *testing.T) []byte { return nil }, "", "empty playbook"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := tt.src(t)
			_, err := coach.ParsePlaybook("my.yaml", src)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, coach.ErrPlaybook) {
				t.Errorf("error %v does not wrap ErrPlaybook", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "my.yaml:") || !strings.Contains(msg, tt.message) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line, my.yaml:..., containing %q", msg, tt.message)
			}
			if tt.at != "" {
				var pe *coach.PlaybookError
				if !errors.As(err, &pe) {
					t.Fatalf("%T is not a *PlaybookError", err)
				}
				if want := lineOf(t, src, tt.at); pe.Line != want {
					t.Errorf("line %d, want %d (%q)", pe.Line, want, msg)
				}
			}
		})
	}
}

// TestEditedPlaybookChangesBehaviour runs a call through a playbook with a
// lower monologue limit and checks that the cue fires earlier.
func TestEditedPlaybookChangesBehaviour(t *testing.T) {
	src := edit(t, "(talk.monologue_ms >= 45000 || talk.rep_turn_words >= 110)", "(talk.monologue_ms >= 20000 || talk.rep_turn_words >= 110)")
	pb, err := coach.ParsePlaybook("short.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	first := func(pb *coach.Playbook) int64 {
		for _, ev := range analyze(t, pb, "testdata/pitchy-software.jsonl") {
			if ev.Type == coach.EventCue && ev.Cue == "one_paragraph" {
				return ev.AtMS
			}
		}
		return -1
	}
	def, short := first(defaultPlaybook(t)), first(pb)
	if short < 0 || def < 0 || def-short != 25000 {
		t.Fatalf("one_paragraph at %d with the default and %d with a 20 s limit; want 25 s earlier", def, short)
	}
}

func FuzzParsePlaybook(f *testing.F) {
	// Small seeds keep the fuzzer fast (the whole default playbook is
	// checked by the other tests); together they use every section.
	f.Add([]byte(`name: small
talk: {window_ms: 60000, healthy_rep_share: [0.3, 0.5]}
stem_exceptions: {busy: busy}
questions: {openers: ["what|how", "(do|can) (you|we)"], lead: [so]}
lexicons: {neg: &neg [not, never]}
signals:
  pain: {phrases: ["problem|killing us", "can't * keep up", "#num (percent|grand)"], cancel: [fixed], reset: [now], negate: *neg}
  door: {phrases: [how can you help]}
derive: [{name: hurt, expr: u.pain > 1 && u.words >= 5}]
flags: [{name: asked, set: 'u.speaker == "rep" && u.questions > 0', clear: u.final && false}]
stages:
  - {id: open}
  - {id: talk, enter: 'u.hurt || reached("open") && state.asked', quote_from: pain}
cues:
  - id: ask
    title: Ask
    on: [partial, final, tick]
    when: u.speaker == "prospect" && u.door > 0 && stage == "talk"
    rearm: talk.monologue_speaker != "rep"
    cooldown_ms: 100
    quote_from: door
    body: 'You heard {{.Clause}} ({{pct .Talk.RepShare}}, {{secs .Talk.MonologueMS}})'
    outcome: {window_ms: 5000, on: [final, tick], taken: 'fired.count > 0 && u.speaker == "rep"', missed: fired.since_ms > 4000}
`))
	f.Add([]byte("name: x\nstages: [{id: a}]\ncues: [{id: c, title: T, when: 'true', body: b, outcome: {taken: 'false'}}]\n"))
	f.Add([]byte("name: x\nsignals: {s: {phrases: ['a (b|c) * d']}}\n"))
	f.Add([]byte("talk: {window_ms: -1}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		pb, err := coach.ParsePlaybook("fuzz.yaml", src)
		if err != nil {
			if !errors.Is(err, coach.ErrPlaybook) {
				t.Fatalf("error %v does not wrap ErrPlaybook", err)
			}
			return
		}
		// A playbook that compiles must run.
		e := coach.NewEngine(pb)
		for _, in := range utter(coach.Prospect, 0, 2000, "we have a problem can you help") {
			if _, err := e.Step(in); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.Finish(3000); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPhrasesStayFast checks that a phrase cannot make matching slow.
func TestPhrasesStayFast(t *testing.T) {
	for _, ph := range []string{"a * * b", "a *12 b *12 c *12 d *12 e", "a b c d e f g h i j k l m n o p q"} {
		src := edit(t, "      - yeah no|no thanks|no thank you", "      - "+ph)
		if _, err := coach.ParsePlaybook("p.yaml", src); err == nil {
			t.Errorf("phrase %q accepted", ph)
		}
	}
}
