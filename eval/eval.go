// Package eval scores the coach against labelled calls: which cues fired
// inside their expected windows, which fired where they must not, and
// whether the stages were reached in the expected order.
package eval

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/cuecard/cuecard/coach"
	"github.com/cuecard/cuecard/stream"
)

// Expect is a call's labels (NAME.expect.json).
type Expect struct {
	Description string      `json:"description"`
	Stages      []string    `json:"stages"`
	Cues        []ExpectCue `json:"cues"`
	Forbid      []string    `json:"forbid"`
}

// ExpectCue is one expected cue: it must fire between the start of
// utterance After and the end of utterance By (0-based line indexes).
type ExpectCue struct {
	Cue   string `json:"cue"`
	After int    `json:"after"`
	By    int    `json:"by"`
	Why   string `json:"why"`
}

// Call is one labelled call: its transcript and its labels.
type Call struct {
	Name   string
	Path   string // the transcript file
	Lines  []stream.TranscriptLine
	Expect Expect
}

// Result is the score of one call.
type Result struct {
	Name       string
	TP, FP, FN int
	FalseAlarm []string // cue@ms fired where forbidden or outside its window
	Missed     []string // cue[lo-hi] expected and not fired
	Unlabelled []string // fired, neither expected nor forbidden: not counted
	Stages     []string
	WantStages []string
	StagesOK   bool
}

// MaxExpectSize bounds a labels file.
const MaxExpectSize = 1 << 20

// LoadDir reads every NAME.jsonl that has a NAME.expect.json in dir.
func LoadDir(dir string) ([]Call, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.expect.json"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no *.expect.json files", dir)
	}
	slices.Sort(names)
	calls := make([]Call, 0, len(names))
	for _, ep := range names {
		name := strings.TrimSuffix(filepath.Base(ep), ".expect.json")
		c := Call{Name: name, Path: filepath.Join(dir, name+".jsonl")}
		if err := readJSON(ep, &c.Expect); err != nil {
			return nil, err
		}
		f, err := os.Open(c.Path)
		if err != nil {
			return nil, err
		}
		c.Lines, err = stream.ReadTranscript(f, c.Path)
		f.Close()
		if err != nil {
			return nil, err
		}
		for _, x := range c.Expect.Cues {
			if x.After < 0 || x.By >= len(c.Lines) || x.After > x.By {
				return nil, fmt.Errorf("%s: cue %s: after %d / by %d out of range (%d utterances)", ep, x.Cue, x.After, x.By, len(c.Lines))
			}
		}
		calls = append(calls, c)
	}
	return calls, nil
}

func readJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxExpectSize+1))
	if err != nil {
		return err
	}
	if len(b) > MaxExpectSize {
		return fmt.Errorf("%s: larger than %d bytes", path, MaxExpectSize)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// Score compares the events of one run with the call's labels. A fired cue
// is a true positive when it matches a not yet matched expected cue of the
// same id whose window holds its at_ms (earliest first); otherwise it is a
// false alarm when its id is forbidden or expected in this call; other ids
// are reported but not counted. Unmatched expected cues are misses.
func Score(c Call, events []coach.Event) Result {
	r := Result{Name: c.Name, WantStages: c.Expect.Stages}
	type window struct {
		cue     string
		lo, hi  int64
		matched bool
	}
	var wins []window
	expected := map[string]bool{}
	for _, x := range c.Expect.Cues {
		wins = append(wins, window{cue: x.Cue, lo: c.Lines[x.After].StartMS, hi: c.Lines[x.By].EndMS})
		expected[x.Cue] = true
	}
	forbid := map[string]bool{}
	for _, f := range c.Expect.Forbid {
		forbid[f] = true
	}
	var cues []coach.Event
	for _, ev := range events {
		switch ev.Type {
		case coach.EventCue:
			cues = append(cues, ev)
		case coach.EventStage:
			if !slices.Contains(r.Stages, ev.Stage) {
				r.Stages = append(r.Stages, ev.Stage)
			}
		}
	}
	slices.SortStableFunc(cues, func(a, b coach.Event) int { return cmp.Compare(a.AtMS, b.AtMS) })
	for _, ev := range cues {
		tag := fmt.Sprintf("%s@%d", ev.Cue, ev.AtMS)
		i := slices.IndexFunc(wins, func(w window) bool {
			return !w.matched && w.cue == ev.Cue && w.lo <= ev.AtMS && ev.AtMS <= w.hi
		})
		switch {
		case i >= 0:
			wins[i].matched = true
			r.TP++
		case forbid[ev.Cue] || expected[ev.Cue]:
			r.FP++
			r.FalseAlarm = append(r.FalseAlarm, tag)
		default:
			r.Unlabelled = append(r.Unlabelled, tag)
		}
	}
	for _, w := range wins {
		if !w.matched {
			r.FN++
			r.Missed = append(r.Missed, fmt.Sprintf("%s[%d-%d]", w.cue, w.lo, w.hi))
		}
	}
	r.StagesOK = slices.Equal(r.Stages, c.Expect.Stages)
	return r
}

// PRF returns precision, recall and F1; an empty denominator counts as 1.
func PRF(tp, fp, fn int) (p, r, f float64) {
	p, r = 1, 1
	if tp+fp > 0 {
		p = float64(tp) / float64(tp+fp)
	}
	if tp+fn > 0 {
		r = float64(tp) / float64(tp+fn)
	}
	if p+r > 0 {
		f = 2 * p * r / (p + r)
	}
	return p, r, f
}

// Totals sums results (micro average) and counts correct stage sequences.
func Totals(rs []Result) (tp, fp, fn, stagesOK int) {
	for _, r := range rs {
		tp += r.TP
		fp += r.FP
		fn += r.FN
		if r.StagesOK {
			stagesOK++
		}
	}
	return tp, fp, fn, stagesOK
}

// WriteTable prints one row per call and a total row, then the details of
// every false alarm, miss and wrong stage sequence.
func WriteTable(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "call\tTP\tFP\tFN\tprecision\trecall\tF1\tstages\t")
	for _, r := range rs {
		p, rc, f := PRF(r.TP, r.FP, r.FN)
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t%s\t\n", r.Name, r.TP, r.FP, r.FN, p, rc, f, okWord(r.StagesOK))
	}
	tp, fp, fn, ok := Totals(rs)
	p, rc, f := PRF(tp, fp, fn)
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%.3f\t%.3f\t%.3f\t%d/%d\t\n", tp, fp, fn, p, rc, f, ok, len(rs))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		if len(r.FalseAlarm)+len(r.Missed)+len(r.Unlabelled) == 0 && r.StagesOK {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", r.Name)
		if len(r.FalseAlarm) > 0 {
			fmt.Fprintf(w, "  false alarms: %s\n", strings.Join(r.FalseAlarm, " "))
		}
		if len(r.Missed) > 0 {
			fmt.Fprintf(w, "  missed:       %s\n", strings.Join(r.Missed, " "))
		}
		if len(r.Unlabelled) > 0 {
			fmt.Fprintf(w, "  not labelled: %s\n", strings.Join(r.Unlabelled, " "))
		}
		if !r.StagesOK {
			fmt.Fprintf(w, "  stages:       %s (want %s)\n", strings.Join(r.Stages, ">"), strings.Join(r.WantStages, ">"))
		}
	}
	return nil
}

func okWord(ok bool) string {
	if ok {
		return "ok"
	}
	return "WRONG"
}
