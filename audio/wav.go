package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// The RIFF reader is hand-written rather than taken from a library because
// the Go WAV libraries we looked at either read the whole data chunk or
// lack float / WAVE_FORMAT_EXTENSIBLE support in their streaming path; this
// one streams in frames with memory independent of the file's length and
// is fuzzed (FuzzWAVReader).

const (
	fmtPCM        = 1
	fmtFloat      = 3
	fmtExtensible = 0xFFFE

	maxChannels = 8
	// unknownSize is what streaming writers put in a size field they could
	// not fill in; the data then runs to the end of the file.
	unknownSize = 0xFFFFFFFF
)

// Format describes the samples of a WAV file.
type Format struct {
	SampleRate    int
	Channels      int
	BitsPerSample int
	Float         bool
}

func (f Format) String() string {
	kind := "PCM"
	if f.Float {
		kind = "float"
	}
	return fmt.Sprintf("%d Hz, %d ch, %d-bit %s", f.SampleRate, f.Channels, f.BitsPerSample, kind)
}

// WAVReader decodes a WAV stream frame by frame into float32 samples in
// [-1, 1]. It is not safe for concurrent use.
type WAVReader struct {
	name   string
	r      *bufio.Reader
	format Format
	// left is the number of data bytes still to read; -1 means until EOF.
	left  int64
	frame int // bytes per frame
	buf   []byte
}

// newWAVReader parses the header of r up to the start of the sample data.
// name is used in error messages (normally the file's path). Errors wrap
// ErrNotWAV, ErrUnsupportedFormat, ErrTruncated or ErrCorrupt.
func newWAVReader(r io.Reader, name string) (*WAVReader, error) {
	w := &WAVReader{name: name, r: bufio.NewReaderSize(r, 64<<10)}
	if err := w.readHeader(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return w, nil
}

// Format returns the stream's sample format.
func (w *WAVReader) Format() Format { return w.format }

func (w *WAVReader) readHeader() error {
	var hdr [12]byte
	if _, err := io.ReadFull(w.r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty file", ErrNotWAV)
		}
		return fmt.Errorf("%w: %w", ErrNotWAV, err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return fmt.Errorf("%w: no RIFF/WAVE header", ErrNotWAV)
	}
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(w.r, ch[:]); err != nil {
			return fmt.Errorf("%w: no data chunk", ErrTruncated)
		}
		id := string(ch[0:4])
		size := int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return fmt.Errorf("%w: fmt chunk of %d bytes", ErrCorrupt, size)
			}
			b := make([]byte, size+size&1)
			if _, err := io.ReadFull(w.r, b); err != nil {
				return fmt.Errorf("%w: in fmt chunk", ErrTruncated)
			}
			if err := w.parseFmt(b[:size]); err != nil {
				return err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return fmt.Errorf("%w: data chunk before fmt chunk", ErrCorrupt)
			}
			w.left = size
			if size == unknownSize || size == 0 {
				w.left = -1
			}
			return nil
		default:
			if _, err := io.CopyN(io.Discard, w.r, size+size&1); err != nil {
				return fmt.Errorf("%w: in %q chunk", ErrTruncated, id)
			}
		}
	}
}

func (w *WAVReader) parseFmt(b []byte) error {
	le := binary.LittleEndian
	tag := le.Uint16(b[0:2])
	f := Format{
		Channels:      int(le.Uint16(b[2:4])),
		SampleRate:    int(le.Uint32(b[4:8])),
		BitsPerSample: int(le.Uint16(b[14:16])),
	}
	blockAlign := int(le.Uint16(b[12:14]))
	if tag == fmtExtensible {
		if len(b) < 40 {
			return fmt.Errorf("%w: short WAVE_FORMAT_EXTENSIBLE header", ErrCorrupt)
		}
		// The sub-format GUID starts with the format tag; the rest is the
		// fixed KSDATAFORMAT suffix.
		tag = le.Uint16(b[24:26])
		if string(b[26:40]) != "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71" {
			return fmt.Errorf("%w: sub-format GUID % x", ErrUnsupportedFormat, b[24:40])
		}
	}
	switch {
	case tag == fmtPCM && (f.BitsPerSample == 8 || f.BitsPerSample == 16 || f.BitsPerSample == 24 || f.BitsPerSample == 32):
	case tag == fmtFloat && (f.BitsPerSample == 32 || f.BitsPerSample == 64):
		f.Float = true
	default:
		return fmt.Errorf("%w: format tag %d with %d bits", ErrUnsupportedFormat, tag, f.BitsPerSample)
	}
	if f.Channels < 1 || f.Channels > maxChannels {
		return fmt.Errorf("%w: %d channels", ErrUnsupportedFormat, f.Channels)
	}
	if f.SampleRate < 1000 || f.SampleRate > 768000 {
		return fmt.Errorf("%w: sample rate %d Hz", ErrUnsupportedFormat, f.SampleRate)
	}
	w.frame = f.Channels * f.BitsPerSample / 8
	if blockAlign != w.frame {
		return fmt.Errorf("%w: block align %d, want %d for %v", ErrCorrupt, blockAlign, w.frame, f)
	}
	w.format = f
	return nil
}

// Read decodes up to len(dst)/Channels frames into dst, interleaved, and
// returns the number of frames. At the end of the data it returns 0 and
// io.EOF; a file that ends inside the declared data returns an error
// wrapping ErrTruncated (after the frames before it were returned).
func (w *WAVReader) Read(dst []float32) (int, error) {
	nf := len(dst) / w.format.Channels
	if w.left >= 0 {
		nf = int(min(int64(nf), w.left/int64(w.frame)))
	}
	if nf == 0 {
		if len(dst) < w.format.Channels {
			return 0, nil
		}
		if w.left > 0 {
			return 0, fmt.Errorf("%s: %w: partial sample frame at end of data", w.name, ErrCorrupt)
		}
		return 0, io.EOF
	}
	need := nf * w.frame
	if cap(w.buf) < need {
		w.buf = make([]byte, need)
	}
	b := w.buf[:need]
	n, err := io.ReadFull(w.r, b)
	nf = n / w.frame
	w.decode(dst, b[:nf*w.frame])
	if w.left >= 0 {
		w.left -= int64(n)
	}
	if err != nil {
		switch {
		case w.left < 0 && n%w.frame == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
			if nf == 0 {
				return 0, io.EOF
			}
			return nf, nil
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			if nf > 0 {
				return nf, nil // the next call reports the truncation
			}
			return 0, fmt.Errorf("%s: %w: data ends early", w.name, ErrTruncated)
		default:
			return nf, fmt.Errorf("%s: %w", w.name, err)
		}
	}
	return nf, nil
}

func (w *WAVReader) decode(dst []float32, b []byte) {
	le := binary.LittleEndian
	switch {
	case w.format.Float && w.format.BitsPerSample == 32:
		for i := 0; i+4 <= len(b); i += 4 {
			dst[i/4] = sanitize(float64(math.Float32frombits(le.Uint32(b[i:]))))
		}
	case w.format.Float:
		for i := 0; i+8 <= len(b); i += 8 {
			dst[i/8] = sanitize(math.Float64frombits(le.Uint64(b[i:])))
		}
	case w.format.BitsPerSample == 8:
		for i, v := range b {
			dst[i] = (float32(v) - 128) / 128
		}
	case w.format.BitsPerSample == 16:
		for i := 0; i+2 <= len(b); i += 2 {
			dst[i/2] = float32(int16(le.Uint16(b[i:]))) / 32768
		}
	case w.format.BitsPerSample == 24:
		for i := 0; i+3 <= len(b); i += 3 {
			v := int32(uint32(b[i])<<8|uint32(b[i+1])<<16|uint32(b[i+2])<<24) >> 8
			dst[i/3] = float32(v) / (1 << 23)
		}
	default:
		for i := 0; i+4 <= len(b); i += 4 {
			dst[i/4] = float32(float64(int32(le.Uint32(b[i:]))) / (1 << 31))
		}
	}
}

// sanitize clamps float samples to [-1, 1] and maps NaN to 0 so that a
// corrupt float file cannot poison the filters downstream.
func sanitize(v float64) float32 {
	switch {
	case v != v:
		return 0
	case v > 1:
		return 1
	case v < -1:
		return -1
	}
	return float32(v)
}

// WAVFile is a WAVReader over an open file.
type WAVFile struct {
	*WAVReader
	f *os.File
}

// OpenWAV opens path and parses its header; errors name the path.
func OpenWAV(path string) (*WAVFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	r, err := newWAVReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &WAVFile{WAVReader: r, f: f}, nil
}

// Close closes the file.
func (w *WAVFile) Close() error { return w.f.Close() }

// WAVWriter writes 16-bit PCM WAV to a seekable stream, patching the sizes
// in the header on Close.
type WAVWriter struct {
	w        io.WriteSeeker
	channels int
	n        int64
	buf      []byte
}

// NewWAVWriter writes a 16-bit PCM header for rate and channels to w.
func NewWAVWriter(w io.WriteSeeker, rate, channels int) (*WAVWriter, error) {
	ww := &WAVWriter{w: w, channels: channels}
	if _, err := w.Write(wavHeader(rate, channels, 0)); err != nil {
		return nil, err
	}
	return ww, nil
}

func wavHeader(rate, channels int, dataBytes int64) []byte {
	le := binary.LittleEndian
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], uint32(36+dataBytes))
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], fmtPCM)
	le.PutUint16(h[22:], uint16(channels))
	le.PutUint32(h[24:], uint32(rate))
	le.PutUint32(h[28:], uint32(rate*channels*2))
	le.PutUint16(h[32:], uint16(channels*2))
	le.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	le.PutUint32(h[40:], uint32(dataBytes))
	return h
}

// Write appends interleaved samples in [-1, 1], clipping beyond.
func (w *WAVWriter) Write(samples []float32) error {
	if cap(w.buf) < 2*len(samples) {
		w.buf = make([]byte, 2*len(samples))
	}
	b := w.buf[:2*len(samples)]
	for i, v := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(FloatToInt16(v)))
	}
	_, err := w.w.Write(b)
	w.n += int64(len(b))
	return err
}

// Close patches the header's sizes; it does not close the underlying file.
func (w *WAVWriter) Close() error {
	var sz [4]byte
	binary.LittleEndian.PutUint32(sz[:], uint32(36+w.n))
	if _, err := w.w.Seek(4, io.SeekStart); err != nil {
		return err
	}
	if _, err := w.w.Write(sz[:]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(sz[:], uint32(w.n))
	if _, err := w.w.Seek(40, io.SeekStart); err != nil {
		return err
	}
	_, err := w.w.Write(sz[:])
	return err
}

// FloatToInt16 converts a sample in [-1, 1] to 16-bit PCM, clipping. It
// scales by 32768, the inverse of the WAV reader's decoding, so that 16-bit
// audio passes through float and back unchanged.
func FloatToInt16(v float32) int16 {
	x := math.Round(float64(v) * 32768)
	if x > 32767 {
		return 32767
	}
	if x < -32768 {
		return -32768
	}
	return int16(x)
}

// WriteWAVFile writes interleaved samples as a 16-bit PCM WAV file.
func WriteWAVFile(path string, rate, channels int, samples []float32) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w, err := NewWAVWriter(f, rate, channels)
	if err == nil {
		err = w.Write(samples)
	}
	if err == nil {
		err = w.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ReadWAV16 reads a whole WAV file as 16-bit samples, interleaved as in the
// file, with its format. It is for short files (tests, load generators):
// calls themselves are streamed with OpenWAV.
func ReadWAV16(path string) ([]int16, Format, error) {
	f, err := OpenWAV(path)
	if err != nil {
		return nil, Format{}, err
	}
	defer f.Close()
	var out []int16
	buf := make([]float32, 8192)
	for {
		n, err := f.Read(buf)
		for _, v := range buf[:n*f.Format().Channels] {
			out = append(out, FloatToInt16(v))
		}
		if errors.Is(err, io.EOF) {
			return out, f.Format(), nil
		}
		if err != nil {
			return nil, Format{}, err
		}
	}
}

// EncodeWAV16 returns mono 16-bit samples at rate as a WAV file in memory.
func EncodeWAV16(pcm []int16, rate int) []byte {
	b := make([]byte, 44+2*len(pcm))
	copy(b, wavHeader(rate, 1, int64(2*len(pcm))))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[44+2*i:], uint16(v))
	}
	return b
}
