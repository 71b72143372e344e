package coach_test

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cuecard/cuecard/coach"
)

// cuePlaybook returns a one-cue playbook whose cue future_forward has the
// given body and evidence templates ("" leaves evidence out).
func cuePlaybook(tb testing.TB, body, evidence string) []byte {
	tb.Helper()
	q := func(s string) string {
		b, err := json.Marshal(s) // a JSON string is a YAML double-quoted scalar
		if err != nil {
			tb.Fatal(err)
		}
		return string(b)
	}
	src := "name: t\nstages: [{id: a}]\ncues:\n  - id: future_forward\n    title: Picture it fixed\n" +
		"    on: [final]\n    when: u.final\n    body: " + q(body) + "\n    outcome: {taken: 'false'}\n"
	if evidence != "" {
		src += "    evidence: " + q(evidence) + "\n"
	}
	return []byte(src)
}

const bomb = `{{range 20000000}}x{{end}}`

func TestCueTemplatesThatCanGrowAreRefused(t *testing.T) {
	tests := []struct {
		name, body, evidence, want string
	}{
		{"range over an integer", bomb, "", `cue future_forward body: range is not allowed in cue templates`},
		{"nested range", `{{range 100000}}{{range 100000}}x{{end}}{{end}}`, "", "range is not allowed"},
		{"range with else", `{{range $i := 3}}x{{else}}y{{end}}`, "", "range is not allowed"},
		{"range over a field", `{{range .Quote}}x{{end}}`, "", "range is not allowed"},
		{"range over a slice a function builds", `{{range slice (printf "%099999999d" 1) 0}}x{{end}}`, "", "range is not allowed"},
		{"range inside if", `{{if true}}{{with 1}}{{range 9}}x{{end}}{{end}}{{end}}`, "", "range is not allowed"},
		{"range in evidence", "ok", bomb, `cue future_forward evidence: range is not allowed in cue templates`},
		{"recursion through define", `{{define "r"}}x{{template "r" .}}{{end}}{{template "r" .}}`, "", "define and block are not allowed"},
		{"recursion through block", `{{block "r" .}}x{{template "r" .}}{{end}}`, "", "define and block are not allowed"},
		{"define replacing the template", `{{define "cue future_forward body"}}{{template "cue future_forward body" .}}{{end}}`, "", "template and block are not allowed"},
		{"template call", `{{template "x"}}`, "", "template and block are not allowed"},
		{"printf width", `{{printf "%099999999d" 1}}`, "", "function printf is not allowed"},
		{"doubling a variable", `{{$a := "xx"}}{{$a = print $a $a}}{{$a = print $a $a}}{{$a}}`, "", "function print is not allowed"},
		{"println", `{{println .Quote}}`, "", "function println is not allowed"},
		{"nested js", `{{js (js (js "\\"))}}`, "", "function js is not allowed"},
		{"html in a pipeline", `{{.Quote | html}}`, "", "function html is not allowed"},
		{"urlquery", `{{urlquery .Quote}}`, "", "function urlquery is not allowed"},
		{"call", `{{call .Quote}}`, "", "function call is not allowed"},
		{"huge literal", `{{"` + strings.Repeat("x", 100<<10) + `"}}`, "", "template is longer than 2048 bytes"},
		{"huge text", strings.Repeat("x", coach.MaxTemplateSource+1), "", "template is longer than 2048 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := coach.ParsePlaybook("p.yaml", cuePlaybook(t, tc.body, tc.evidence))
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v", d)
			}
			var pe *coach.PlaybookError
			if !errors.As(err, &pe) || !errors.Is(err, coach.ErrPlaybook) {
				t.Fatalf("got %v, want a playbook error", err)
			}
			if !strings.Contains(pe.Msg, tc.want) {
				t.Errorf("message %q, want it to contain %q", pe.Msg, tc.want)
			}
			if pe.Line == 0 {
				t.Errorf("no line in %v", err)
			}
		})
	}
}

func TestCueTemplatesWithinTheRulesCompile(t *testing.T) {
	for _, body := range []string{
		`You mentioned {{.Clause}}.`,
		`{{if .Quote}}"{{.Quote}}" ({{secs .Talk.MonologueMS}}){{else}}{{pct .Talk.RepShare}}{{end}}`,
		`{{with $q := .Quote}}{{$q}}{{end}} {{len .Prior}} {{if and (gt .Talk.RepMS 0) (not (eq .Clause ""))}}x{{end}}`,
		`{{/* a note */}}{{.Talk.MonologueSpeaker}} {{slice "abc" 1}} {{index "abc" 0}}`,
		strings.Repeat("x", coach.MaxTemplateSource),
	} {
		if _, err := coach.ParsePlaybook("p.yaml", cuePlaybook(t, body, "")); err != nil {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// TestBombIsRefusedQuickly checks that refusing the bomb neither runs it
// nor allocates what running it would.
func TestBombIsRefusedQuickly(t *testing.T) {
	src := cuePlaybook(t, bomb, "")
	parse := func() {
		if _, err := coach.ParsePlaybook("p.yaml", src); err == nil {
			t.Fatal("bomb accepted")
		}
	}
	parse() // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	parse()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if took > 100*time.Millisecond {
		t.Errorf("refusing the bomb took %v", took)
	}
	// Running it would write 20 MB; compiling the small playbook around it
	// takes well under 1 MiB.
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("refusing the bomb allocated %d bytes", n)
	}
	if n := testing.AllocsPerRun(5, parse); n > 5000 {
		t.Errorf("refusing the bomb made %.0f allocations", n)
	}
}

func BenchmarkRefuseBomb(b *testing.B) {
	src := cuePlaybook(b, bomb, "")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := coach.ParsePlaybook("p.yaml", src); err == nil {
			b.Fatal("bomb accepted")
		}
	}
}

func TestCueTextIsCapped(t *testing.T) {
	src := strings.Repeat("{{.Quote}}", coach.MaxTemplateSource/len("{{.Quote}}"))
	quote := strings.Repeat("y", 100)
	out, err := coach.RenderCue(src, quote)
	if !errors.Is(err, coach.ErrCueTextTooLong) || out != "" {
		t.Fatalf("got %d bytes and %v, want ErrCueTextTooLong", len(out), err)
	}
	out, err = coach.RenderCue(src, "y")
	if err != nil || len(out) != len(src)/len("{{.Quote}}") {
		t.Fatalf("got %q and %v", out, err)
	}
}

// TestCueTooLongShowsItsTitle runs a cue whose body outgrows the cap on a
// long utterance: the card shows the title instead.
func TestCueTooLongShowsItsTitle(t *testing.T) {
	body := strings.Repeat("{{.Quote}}", coach.MaxTemplateSource/len("{{.Quote}}"))
	pb, err := coach.ParsePlaybook("p.yaml", cuePlaybook(t, body, "{{.Quote}}"))
	if err != nil {
		t.Fatal(err)
	}
	e := coach.NewEngine(pb)
	var cues []coach.Event
	for _, in := range utter(coach.Prospect, 0, 9000, strings.Repeat("extraordinarily ", 25)) {
		evs, err := e.Step(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Type == coach.EventCue {
				cues = append(cues, ev)
			}
		}
	}
	if len(cues) != 1 || cues[0].Body != "Picture it fixed" || !strings.Contains(cues[0].Evidence, "extraordinarily") {
		t.Fatalf("cues %+v, want one showing its title", cues)
	}
}

func FuzzCueTemplate(f *testing.F) {
	f.Add(`You mentioned {{.Clause}}.`, "a quote")
	f.Add(`{{if .Quote}}"{{.Quote}}" ({{secs .Talk.MonologueMS}}){{else}}{{pct .Talk.RepShare}}{{end}}`, "")
	f.Add(`{{with $q := .Quote}}{{slice $q 1}}{{end}}{{len .Prior}}{{index .Quote 0}}`, "xyz")
	f.Add(bomb, "")
	f.Add(`{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}`, "")
	f.Add(`{{$a := .Quote}}{{$a = print $a $a}}{{$a}}`, "zz")
	f.Fuzz(func(t *testing.T, body, quote string) {
		if len(quote) > 300 {
			quote = quote[:300] // a quote is at most 30 words
		}
		if _, err := coach.ParsePlaybook("fuzz.yaml", cuePlaybook(t, body, "")); err != nil && !errors.Is(err, coach.ErrPlaybook) {
			t.Fatalf("error %v does not wrap ErrPlaybook", err)
		}
		out, err := coach.RenderCue(body, quote)
		if len(out) > coach.MaxCueText || err != nil && out != "" {
			t.Fatalf("%d bytes and error %v", len(out), err)
		}
	})
}
