package main

import (
	"strconv"
	"strings"
	"unicode"
)

// fillers are dropped from reference and hypothesis alike, as the Whisper
// English text normalizer does: they carry no content and recognizers
// with a text-trained language model do not emit them.
var fillers = map[string]bool{"uh": true, "um": true, "hmm": true, "mm": true, "mhm": true, "er": true, "ah": true, "uhm": true}

// normalize lower-cases, spells numbers, %, $ and & as words, and drops
// punctuation (keeping apostrophes inside words) and fillers.
func normalize(s string) []string {
	s = strings.ToLower(s)
	r := strings.NewReplacer("%", " percent ", "&", " and ", "—", " ", "–", " ", "-", " ", "/", " ", "’", "'", "+", " plus ")
	s = r.Replace(s)
	var out []string
	for _, tok := range strings.Fields(s) {
		dollars := strings.HasPrefix(tok, "$")
		tok = strings.Trim(tok, "$.,;:!?\"()[]{}'*…")
		if tok == "" {
			continue
		}
		if w, ok := number(tok); ok {
			out = append(out, w...)
			if dollars {
				out = append(out, "dollars")
			}
			continue
		}
		var b strings.Builder
		for _, c := range tok {
			if unicode.IsLetter(c) || unicode.IsDigit(c) || c == '\'' {
				b.WriteRune(c)
			} else {
				b.WriteByte(' ')
			}
		}
		for _, w := range strings.Fields(b.String()) {
			if !fillers[w] {
				out = append(out, w)
			}
		}
	}
	return out
}

var ones = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
	"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
var tens = []string{"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}

// number spells tokens like 42, 1,200, 3.5, 2024, 10k, 5m, 1st as words.
func number(tok string) ([]string, bool) {
	suffix := ""
	for _, s := range []string{"st", "nd", "rd", "th", "s", "k", "m"} {
		if strings.HasSuffix(tok, s) && len(tok) > len(s) && unicode.IsDigit(rune(tok[len(tok)-len(s)-1])) {
			suffix, tok = s, tok[:len(tok)-len(s)]
			break
		}
	}
	tok = strings.ReplaceAll(tok, ",", "")
	intPart, frac, hasFrac := strings.Cut(tok, ".")
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || n < 0 {
		return nil, false
	}
	w := spell(n)
	if hasFrac {
		if _, err := strconv.Atoi(frac); err != nil {
			return nil, false
		}
		w = append(w, "point")
		for _, d := range frac {
			w = append(w, ones[d-'0'])
		}
	}
	switch suffix {
	case "k":
		w = append(w, "thousand")
	case "m":
		w = append(w, "million")
	case "s":
		if last := w[len(w)-1]; strings.HasSuffix(last, "y") {
			w[len(w)-1] = strings.TrimSuffix(last, "y") + "ies"
		} else {
			w[len(w)-1] = last + "s"
		}
	case "st", "nd", "rd", "th":
		w[len(w)-1] = ordinal(w[len(w)-1])
	}
	return w, true
}

func ordinal(w string) string {
	switch w {
	case "one":
		return "first"
	case "two":
		return "second"
	case "three":
		return "third"
	case "five":
		return "fifth"
	case "eight":
		return "eighth"
	case "nine":
		return "ninth"
	case "twelve":
		return "twelfth"
	}
	if strings.HasSuffix(w, "y") {
		return strings.TrimSuffix(w, "y") + "ieth"
	}
	return w + "th"
}

func spell(n int64) []string {
	switch {
	case n < 20:
		return []string{ones[n]}
	case n < 100:
		w := []string{tens[n/10]}
		if n%10 != 0 {
			w = append(w, ones[n%10])
		}
		return w
	case n < 1000:
		w := []string{ones[n/100], "hundred"}
		if n%100 != 0 {
			w = append(w, spell(n%100)...)
		}
		return w
	}
	for _, u := range []struct {
		v    int64
		name string
	}{{1e12, "trillion"}, {1e9, "billion"}, {1e6, "million"}, {1e3, "thousand"}} {
		if n >= u.v {
			w := append(spell(n/u.v), u.name)
			if n%u.v != 0 {
				w = append(w, spell(n%u.v)...)
			}
			return w
		}
	}
	return nil
}
