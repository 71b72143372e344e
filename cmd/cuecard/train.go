package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/cuecard/cuecard/coach"
)

// runTrain learns the signal model from a corpus directory, cross-validates
// it, and writes the model with the thresholds the cross-validation found.
func runTrain(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("train", stderr)
	corpus := fs.String("corpus", "coach/corpus", "directory of labelled utterances (*.jsonl)")
	out := fs.String("out", "", "write the model here (coach/model/signals.bin is the built-in one)")
	folds := fs.Int("folds", 5, "cross-validation folds (by a hash of each utterance); 0 skips cross-validation")
	bySource := fs.Bool("by-file", false, "also cross-validate one corpus file against the others (voices unseen in training)")
	report := fs.String("report", "", "write the cross-validation figures here as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := coach.DefaultTrainConfig()
	exs, err := readCorpusDir(*corpus, cfg.Labels)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "corpus: %d utterances from %s\n", len(exs), *corpus)
	reports := map[string]*coach.CVReport{}
	var thresholds []coach.LabelScore
	if *folds > 1 {
		cv, err := coach.CrossValidate(exs, cfg, coach.FoldsByHash(exs, *folds), *folds, voiceGroup)
		if err != nil {
			return err
		}
		printCV(stdout, fmt.Sprintf("%d-fold cross-validation (by utterance)", *folds), cv)
		reports["folds"] = cv
		thresholds = cv.Labels
	}
	if *bySource {
		f, n := coach.FoldsBySource(exs)
		cv, err := coach.CrossValidate(exs, cfg, f, n, func(ex *coach.Example) string { return ex.Source })
		if err != nil {
			return err
		}
		printCV(stdout, "cross-validation by corpus file (each file scored by a model trained on the others)", cv)
		reports["files"] = cv
	}
	if *report != "" {
		b, _ := json.MarshalIndent(reports, "", "  ")
		if err := os.WriteFile(*report, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *out == "" {
		return nil
	}
	m, err := coach.TrainSignalModel(exs, cfg)
	if err != nil {
		return err
	}
	m.SetThresholds(thresholds)
	b, err := m.Encode()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "model: %s (%d signals, %d bytes)\n", *out, len(m.Labels()), len(b))
	return nil
}

func readCorpusDir(dir string, labels []string) ([]coach.Example, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, usagef("no *.jsonl corpus files in %s", dir)
	}
	sort.Strings(files)
	var all []coach.Example
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		exs, err := coach.ReadCorpus(io.LimitReader(f, 64<<20), filepath.Base(name), labels)
		f.Close()
		if err != nil {
			return nil, usageError{err.Error()}
		}
		all = append(all, exs...)
	}
	return all, nil
}

// voiceGroup groups examples by the first word of their voice tag
// ("smb-asr" counts as "smb"), and recognizer-style text apart.
func voiceGroup(ex *coach.Example) string {
	v := ex.Voice
	if strings.HasSuffix(v, "asr") {
		return "asr"
	}
	if i := strings.IndexByte(v, '-'); i > 0 {
		v = v[:i]
	}
	if v == "" {
		return "other"
	}
	return v
}

func printCV(w io.Writer, title string, cv *coach.CVReport) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "signal\tpositives\tthreshold\tprecision\trecall\tF1\t")
	for _, s := range cv.Labels {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.3f\t%.3f\t%.3f\t\n", s.Label, s.Positives, s.Threshold, s.Precision(), s.Recall(), s.F1())
	}
	tw.Flush()
	groups := make([]string, 0, len(cv.ByGroup))
	for g := range cv.ByGroup {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	if len(groups) == 0 {
		return
	}
	fmt.Fprintln(w, "\nF1 by group (same thresholds):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "signal\t")
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t", g)
	}
	fmt.Fprintln(tw)
	for i, s := range cv.Labels {
		fmt.Fprintf(tw, "%s\t", s.Label)
		for _, g := range groups {
			gs := cv.ByGroup[g][i]
			if gs.Positives == 0 {
				fmt.Fprint(tw, "-\t")
				continue
			}
			fmt.Fprintf(tw, "%.2f\t", gs.F1())
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}
