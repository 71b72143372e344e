// Package wer aligns a reference word sequence with a recognizer's
// hypothesis, for word error rates.
package wer

// Align returns the word-level Levenshtein alignment of ref and hyp as
// pairs (ref word, hyp word); "" marks an insertion or a deletion.
func Align(ref, hyp []string) [][2]string {
	n, m := len(ref), len(hyp)
	d := make([][]int, n+1)
	for i := range d {
		d[i] = make([]int, m+1)
		d[i][0] = i
	}
	for j := 0; j <= m; j++ {
		d[0][j] = j
	}
	for i := 1; i <= n; i++ {
		for j := 1; j <= m; j++ {
			d[i][j] = min(d[i-1][j-1]+differ(ref[i-1], hyp[j-1]), d[i-1][j]+1, d[i][j-1]+1)
		}
	}
	var out [][2]string
	for i, j := n, m; i > 0 || j > 0; {
		switch {
		case i > 0 && j > 0 && d[i][j] == d[i-1][j-1]+differ(ref[i-1], hyp[j-1]):
			out = append(out, [2]string{ref[i-1], hyp[j-1]})
			i, j = i-1, j-1
		case i > 0 && d[i][j] == d[i-1][j]+1:
			out = append(out, [2]string{ref[i-1], ""})
			i--
		default:
			out = append(out, [2]string{"", hyp[j-1]})
			j--
		}
	}
	for l, r := 0, len(out)-1; l < r; l, r = l+1, r-1 {
		out[l], out[r] = out[r], out[l]
	}
	return out
}

// Errors is the number of substitutions, deletions and insertions that
// turn ref into hyp (the word-level edit distance).
func Errors(ref, hyp []string) int {
	n := 0
	for _, p := range Align(ref, hyp) {
		if p[0] != p[1] {
			n++
		}
	}
	return n
}

func differ(a, b string) int {
	if a != b {
		return 1
	}
	return 0
}
