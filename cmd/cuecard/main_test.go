package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestAnalyzeTranscript(t *testing.T) {
	code, out, stderr := runCmd(t, "analyze", "--transcript", "../../examples/demo-call.jsonl")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	types := map[string]int{}
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		types[last["type"].(string)]++
	}
	for _, want := range []string{"transcript", "talk", "stage", "cue", "cue_outcome", "summary"} {
		if types[want] == 0 {
			t.Errorf("no %s event (got %v)", want, types)
		}
	}
	if last["type"] != "summary" {
		t.Errorf("last event %v, want summary", last["type"])
	}
}

func TestAnalyzeBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"speaker":"rep","start_ms":0,"end_ms":10,"text":"hi"}`+"\n"+`{"speaker":"rep","start_ms":20,"end_ms":5,"text":""}`+"\n"), 0o644)
	badPB := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badPB, []byte("name: x\nstages: [{id: a}]\ncues:\n  - {id: c, title: T, when: 'u.nope', body: b, outcome: {taken: 'true'}}\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"analyze", "--transcript", filepath.Join(dir, "none.jsonl")}, "none.jsonl"},
		{"bad line", []string{"analyze", "--transcript", bad}, "bad.jsonl:2: bad times: end_ms 5 is before start_ms 20"},
		{"bad playbook", []string{"analyze", "--transcript", "../../examples/demo-call.jsonl", "--playbook", badPB}, "bad.yaml:4: cue c when: unknown name nope"},
		{"no input", []string{"analyze"}, "give exactly one of"},
		{"two inputs", []string{"analyze", "--transcript", bad, "--stereo", bad}, "give exactly one of"},
		{"unknown command", []string{"analyse"}, `unknown command "analyse"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q: want one line containing %q", stderr, tt.want)
			}
		})
	}
}

func TestEvalPrintsTable(t *testing.T) {
	code, out, stderr := runCmd(t, "eval", "../../coach/testdata")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "self-serving") || !regexpTotal.MatchString(out) {
		t.Fatalf("unexpected table:\n%s", out)
	}
}

func TestExplain(t *testing.T) {
	code, out, _ := runCmd(t, "explain", "--speaker", "prospect", "so how can you help us")
	if code != 0 || !strings.Contains(out, `"door": 1`) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

var regexpTotal = regexp.MustCompile(`(?m)^\s+total\s+14\s+0\s+0\s+1\.000\s+1\.000\s+1\.000\s+4/4`)
