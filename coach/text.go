package coach

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clipperhouse/uax29/v2/words"
	"github.com/kljensen/snowball/english"
)

// token is one word of an utterance after Unicode word segmentation
// (UAX #29), contraction splitting and Snowball (Porter2) stemming.
type token struct {
	stem  string // stemmed, lower case; the unit patterns match on
	lower string // lower-case surface form
	num   bool   // a number, in digits or spelled out ("thirty", "million")
	sent  int    // index of the sentence the token belongs to
	start int    // byte offsets of the surface form in the utterance text
	end   int
}

// sentence is a run of tokens ended by '.', '?', '!' or ';' (or the end of
// the text); recognizer output without punctuation is one sentence.
type sentence struct {
	first, last int // token indexes, inclusive
	question    bool
	start, end  int // byte offsets in the text, end includes the punctuation
}

// text is an analysed utterance.
type text struct {
	raw     string
	toks    []token
	sents   []sentence
	punct   bool // the text had sentence punctuation
	numbers int
}

// contractions maps a clitic to the word it stands for; a leading
// apostrophe marks a suffix.
var contractions = map[string]string{
	"n't": "not", "'s": "is", "'re": "are", "'d": "would", "'ll": "will", "'ve": "have", "'m": "am",
}

// irregular negations whose stem changes ("won't" is "will not").
var irregularNeg = map[string]string{"won't": "will", "can't": "can", "shan't": "shall", "ain't": "is"}

var numberWords = map[string]bool{
	"zero": true, "one": true, "two": true, "three": true, "four": true, "five": true, "six": true,
	"seven": true, "eight": true, "nine": true, "ten": true, "eleven": true, "twelve": true,
	"thirteen": true, "fourteen": true, "fifteen": true, "sixteen": true, "seventeen": true,
	"eighteen": true, "nineteen": true, "twenty": true, "thirty": true, "forty": true, "fifty": true,
	"sixty": true, "seventy": true, "eighty": true, "ninety": true, "hundred": true, "thousand": true,
	"million": true, "billion": true, "dozen": true, "half": true, "couple": true,
}

// stemCache avoids re-stemming the same surface forms; it is filled at
// construction (lexicons) and on the fly, owned by one analyzer.
type analyzer struct {
	stems      map[string]string
	exceptions map[string]string
}

func newAnalyzer(exceptions map[string]string) *analyzer {
	return &analyzer{stems: make(map[string]string, 4096), exceptions: exceptions}
}

func (a *analyzer) stem(w string) string {
	if s, ok := a.stems[w]; ok {
		return s
	}
	s, ok := a.exceptions[w]
	if !ok {
		s = english.Stem(w, true)
	}
	if len(a.stems) < 1<<16 {
		a.stems[w] = s
	}
	return s
}

// analyze segments s into tokens and sentences.
func (a *analyzer) analyze(s string) text {
	t := text{raw: s}
	it := words.FromString(s)
	sent := 0
	sentStart := 0
	open := false // the current sentence has tokens
	closeSent := func(end int, q bool) {
		if !open {
			return
		}
		first := 0
		if n := len(t.sents); n > 0 {
			first = t.sents[n-1].last + 1
		}
		t.sents = append(t.sents, sentence{first: first, last: len(t.toks) - 1, question: q, start: sentStart, end: end})
		sent++
		open = false
	}
	for it.Next() {
		w := it.Value()
		r, _ := utf8.DecodeRuneInString(w)
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			switch w {
			case ".", "?", "!", ";", "…":
				t.punct = true
				closeSent(it.End(), w == "?")
			}
			continue
		}
		if !open {
			sentStart = it.Start()
			open = true
		}
		a.addWord(&t, w, it.Start(), it.End(), sent)
	}
	closeSent(len(s), false)
	return t
}

// addWord appends the token(s) for one segmented word, splitting
// contractions ("what's" -> "what", "is"); each half keeps its own part of
// the surface text.
func (a *analyzer) addWord(t *text, w string, start, end, sent int) {
	lw := strings.ToLower(strings.ReplaceAll(w, "’", "'"))
	// cut is where the clitic begins in the original bytes of w.
	cut := strings.IndexAny(w, "'’")
	if base, ok := irregularNeg[lw]; ok && cut > 0 {
		t.toks = append(t.toks, a.tok(base, start, start+cut-1, sent), a.tok("not", start+cut-1, end, sent))
		return
	}
	if i := strings.IndexByte(lw, '\''); i > 0 {
		suffix := lw[i:]
		if strings.HasSuffix(lw, "n't") {
			suffix = "n't"
			i = len(lw) - 3
			cut--
		}
		if full, ok := contractions[suffix]; ok && cut > 0 {
			t.toks = append(t.toks, a.tok(lw[:i], start, start+cut, sent), a.tok(full, start+cut, end, sent))
			return
		}
		lw = strings.ReplaceAll(lw, "'", "")
	}
	tk := a.tok(lw, start, end, sent)
	if tk.num {
		t.numbers++
	}
	t.toks = append(t.toks, tk)
}

func (a *analyzer) tok(lw string, start, end, sent int) token {
	num := numberWords[lw]
	if !num {
		r, _ := utf8.DecodeRuneInString(lw)
		num = unicode.IsDigit(r)
	}
	return token{stem: a.stem(lw), lower: lw, num: num, sent: sent, start: start, end: end}
}

// span returns the original text of tokens [i, j], inclusive.
func (t *text) span(i, j int) string {
	if i < 0 || j >= len(t.toks) || i > j {
		return ""
	}
	return t.raw[t.toks[i].start:t.toks[j].end]
}

// sentenceText returns the sentence holding token i with its punctuation,
// cut to at most maxWords words around token i.
func (t *text) sentenceText(i, maxWords int) string {
	if len(t.toks) == 0 {
		return strings.TrimSpace(t.raw)
	}
	if i < 0 || i >= len(t.toks) {
		i = 0
	}
	s := t.sents[t.toks[i].sent]
	first, last := s.first, s.last
	if last-first+1 > maxWords {
		first = max(first, i-maxWords/3)
		last = min(last, first+maxWords-1)
		q := t.raw[t.toks[first].start:t.toks[last].end]
		if first > s.first {
			q = "…" + q
		}
		if last < s.last {
			q += "…"
		}
		return q
	}
	return strings.TrimSpace(t.raw[s.start:s.end])
}

// personSwap maps the prospect's first person to the rep's second person,
// so the prospect's own words can be handed back ("our shelves" -> "your
// shelves").
var personSwap = map[string]string{
	"i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself",
	"we": "you", "us": "you", "our": "your", "ours": "yours", "ourselves": "yourselves",
	"i'm": "you're", "we're": "you're", "i've": "you've", "we've": "you've", "i'd": "you'd",
	"we'd": "you'd", "i'll": "you'll", "we'll": "you'll", "am": "are", "i’m": "you're",
	"we’re": "you're", "i’ve": "you've", "we’ve": "you've", "i’d": "you'd", "we’d": "you'd",
	"i’ll": "you'll", "we’ll": "you'll",
}

// fillers are dropped from the start of a handed-back clause.
var fillers = map[string]bool{
	"so": true, "and": true, "but": true, "honestly": true, "like": true, "just": true, "um": true,
	"uh": true, "well": true, "oh": true, "yeah": true, "okay": true, "ok": true, "i": false,
	"mean": true, "look": true, "really": true, "actually": true, "basically": true,
}

// clause returns the comma-delimited clause around token i in the second
// person, without leading fillers, at most maxWords words.
func (t *text) clause(i, maxWords int) string {
	if i < 0 || i >= len(t.toks) {
		return ""
	}
	s := t.sents[t.toks[i].sent]
	// Walk outwards to the nearest commas within the sentence.
	first, last := i, i
	for first > s.first && !strings.ContainsAny(t.raw[t.toks[first-1].end:t.toks[first].start], ",:—–") {
		first--
	}
	for last < s.last && !strings.ContainsAny(t.raw[t.toks[last].end:t.toks[last+1].start], ",:—–") {
		last++
	}
	for first < i && fillers[t.toks[first].lower] {
		first++
	}
	if last-first+1 > maxWords {
		// Keep the words before the hit that give it its subject.
		first = max(first, i-maxWords/2)
		last = min(last, first+maxWords-1)
	}
	var b strings.Builder
	prev := t.toks[first].start
	for k := first; k <= last; k++ {
		tk := t.toks[k]
		b.WriteString(t.raw[prev:tk.start])
		surface := t.raw[tk.start:tk.end]
		if k+1 <= last && t.toks[k+1].start == tk.end && t.toks[k+1].start < t.toks[k+1].end &&
			strings.ContainsAny(t.raw[tk.end:t.toks[k+1].end], "'’") {
			// A contraction: swap it whole ("we're" -> "you're").
			whole := t.raw[tk.start:t.toks[k+1].end]
			if sw, ok := personSwap[strings.ToLower(whole)]; ok {
				b.WriteString(sw)
				prev = t.toks[k+1].end
				k++
				continue
			}
		}
		if sw, ok := personSwap[strings.ToLower(surface)]; ok {
			surface = sw
		} else if k == first && len(surface) > 1 && surface != "I" {
			r, n := utf8.DecodeRuneInString(surface)
			surface = string(unicode.ToLower(r)) + surface[n:]
		}
		b.WriteString(surface)
		prev = tk.end
	}
	return b.String()
}
