package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cuecard/cuecard/coach"
)

// writeCorpus writes a small invented corpus (the built-in signals) as
// two files in a new directory and returns it with the number of
// utterances and of pain labels.
func writeCorpus(tb testing.TB) (dir string, n, pain int) {
	tb.Helper()
	dir = tb.TempDir()
	type turn struct {
		Speaker string `json:"speaker"`
		Text    string `json:"text"`
	}
	type line struct {
		Ctx     []turn   `json:"ctx,omitempty"`
		Speaker string   `json:"speaker"`
		Text    string   `json:"text"`
		Labels  []string `json:"labels"`
		Voice   string   `json:"voice"`
	}
	var lines []line
	add := func(voice, ctx, spk, text string, labels ...string) {
		l := line{Speaker: spk, Text: text, Labels: append([]string{}, labels...), Voice: voice}
		if ctx != "" {
			other := "rep"
			if spk == "rep" {
				other = "prospect"
			}
			l.Ctx = []turn{{other, ctx}}
		}
		lines = append(lines, l)
	}
	for _, th := range []string{"printer", "conveyor", "van", "oven", "router", "freezer"} {
		add("smb", "What slows you down?", "prospect", fmt.Sprintf("the %s breaks down every week and we lose a day of orders", th), "business", "pain")
		add("smb", "How is the shop?", "prospect", fmt.Sprintf("our %s runs fine, no complaints at all", th), "business")
		add("enterprise", "", "rep", fmt.Sprintf("how many people look after the %s today", th), "business")
		add("enterprise", "We lose a day of orders.", "rep", fmt.Sprintf("if the %s never broke again, what would you do with that day", th), "business", "future_q")
	}
	for _, s := range []string{"maybe, I'd have to ask my boss first", "let me think it over this week", "possibly, I need to check with finance"} {
		add("smb-asr", "Shall we set up a pilot?", "prospect", s, "hedge")
	}
	for _, s := range []string{"just send me a brochure", "we are not looking to change vendors", "no thanks, we do this ourselves"} {
		add("smb-asr", "Shall we set up a pilot?", "prospect", s, "resistance")
	}
	for i, l := range lines {
		name := "a.jsonl"
		if i%2 == 1 {
			name = "b.jsonl"
		}
		b, err := json.Marshal(l)
		if err != nil {
			tb.Fatal(err)
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := f.Write(append(b, '\n')); err != nil {
			tb.Fatal(err)
		}
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
		for _, lb := range l.Labels {
			if lb == "pain" {
				pain++
			}
		}
	}
	// Not a corpus file: ignored.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not json\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir, len(lines), pain
}

func TestTrainWritesModel(t *testing.T) {
	corpus, n, pain := writeCorpus(t)
	out := filepath.Join(t.TempDir(), "signals.bin")
	report := filepath.Join(t.TempDir(), "cv.json")
	code, stdout, stderr := runCmd(t, "train", "--corpus", corpus, "--out", out, "--folds", "2", "--report", report)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, fmt.Sprintf("corpus: %d utterances from %s", n, corpus)) {
		t.Errorf("no corpus line:\n%s", stdout)
	}
	if !strings.Contains(stdout, "2-fold cross-validation (by utterance)") ||
		!regexp.MustCompile(`(?m)^\s*signal\s+positives\s+threshold\s+precision\s+recall\s+F1\s*$`).MatchString(stdout) {
		t.Errorf("no cross-validation table:\n%s", stdout)
	}
	labels := coach.DefaultTrainConfig().Labels
	for _, l := range labels {
		row := regexp.MustCompile(`(?m)^\s*` + l + `\s+\d+\s+0\.\d\d\s+[01]\.\d{3}\s+[01]\.\d{3}\s+[01]\.\d{3}\s*$`)
		if !row.MatchString(stdout) {
			t.Errorf("no row for %s:\n%s", l, stdout)
		}
	}
	if !regexp.MustCompile(`(?m)^\s*pain\s+` + fmt.Sprint(pain) + `\s`).MatchString(stdout) {
		t.Errorf("pain row does not count %d positives:\n%s", pain, stdout)
	}
	if !strings.Contains(stdout, "F1 by group (same thresholds):") {
		t.Errorf("no table by voice:\n%s", stdout)
	}
	if !strings.Contains(stdout, "model: "+out+" (13 signals, ") {
		t.Errorf("no model line:\n%s", stdout)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := coach.DecodeSignalModel(b)
	if err != nil {
		t.Fatalf("the written model does not decode: %v", err)
	}
	if m.Name() != "signals-1" || strings.Join(m.Labels(), ",") != strings.Join(labels, ",") {
		t.Errorf("model %s %v", m.Name(), m.Labels())
	}
	// The model keeps the thresholds the cross-validation chose.
	var rep map[string]coach.CVReport
	rb, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(rb, &rep); err != nil {
		t.Fatal(err)
	}
	cv, ok := rep["folds"]
	if !ok || cv.Folds != 2 || len(cv.Labels) != len(labels) {
		t.Fatalf("report %s", rb)
	}
	for _, s := range cv.Labels {
		if got := m.Threshold(s.Label); got != s.Threshold {
			t.Errorf("model threshold for %s = %v, cross-validation chose %v", s.Label, got, s.Threshold)
		}
	}
}

func TestTrainWithoutCrossValidation(t *testing.T) {
	corpus, _, _ := writeCorpus(t)
	out := filepath.Join(t.TempDir(), "signals.bin")
	code, stdout, stderr := runCmd(t, "train", "--corpus", corpus, "--out", out, "--folds", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "cross-validation") {
		t.Errorf("cross-validated with --folds 0:\n%s", stdout)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := coach.DecodeSignalModel(b); err != nil {
		t.Fatal(err)
	}
}

func TestTrainBadCorpus(t *testing.T) {
	good := `{"speaker":"rep","text":"How many trucks do you run?","labels":["business"]}`
	dir := func(t *testing.T, files map[string]string) string {
		d := t.TempDir()
		for name, src := range files {
			if err := os.WriteFile(filepath.Join(d, name), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unknown label", map[string]string{"a.jsonl": good + "\n", "bad.jsonl": good + "\n" + `{"speaker":"prospect","text":"We lose a truck a week.","labels":["pian"]}` + "\n"},
			`bad.jsonl:2: unknown label "pian"`},
		{"bad JSON", map[string]string{"bad.jsonl": good + "\n\n" + `{"speaker":` + "\n"}, "bad.jsonl:3: "},
		{"unknown speaker", map[string]string{"bad.jsonl": `{"speaker":"buyer","text":"hi","labels":[]}` + "\n"}, `bad.jsonl:1: speaker "buyer"`},
		{"empty directory", nil, "no *.jsonl corpus files in "},
		{"no corpus files", map[string]string{"notes.txt": good + "\n"}, "no *.jsonl corpus files in "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "signals.bin")
			code, _, stderr := runCmd(t, "train", "--corpus", dir(t, tt.files), "--out", out, "--folds", "2")
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q: want one line containing %q", stderr, tt.want)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("a model was written for a bad corpus (%v)", err)
			}
		})
	}
	t.Run("missing directory", func(t *testing.T) {
		code, _, stderr := runCmd(t, "train", "--corpus", filepath.Join(t.TempDir(), "none"), "--folds", "2")
		if code != 2 || !strings.Contains(stderr, "no *.jsonl corpus files") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
}
