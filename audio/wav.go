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
	if magic := string(hdr[0:4]); (magic != "RIFF" && magic != "RF64") || string(hdr[8:12]) != "WAVE" {
		return fmt.Errorf("%w: no RIFF/WAVE header", ErrNotWAV)
	}
	haveFmt := false
	ds64 := int64(-1) // RF64's 64-bit data size
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
		case "ds64":
			if size < ds64Len || size > 1024 {
				return fmt.Errorf("%w: ds64 chunk of %d bytes", ErrCorrupt, size)
			}
			b := make([]byte, size+size&1)
			if _, err := io.ReadFull(w.r, b); err != nil {
				return fmt.Errorf("%w: in ds64 chunk", ErrTruncated)
			}
			ds64 = int64(binary.LittleEndian.Uint64(b[8:16]) & math.MaxInt64)
		case "data":
			if !haveFmt {
				return fmt.Errorf("%w: data chunk before fmt chunk", ErrCorrupt)
			}
			w.left = size
			switch {
			case size == unknownSize && ds64 > 0:
				w.left = ds64
			case size == unknownSize || size == 0:
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
// in the header on Sync and Close.
type WAVWriter struct {
	w        io.WriteSeeker
	channels int
	n        int64
	buf      []byte
	// long: the header reserves a ds64 chunk (as JUNK) so that the file
	// becomes RF64 once its data outgrows 32-bit sizes (limit bytes).
	long  bool
	limit int64
}

// maxRIFFData is the most data a plain RIFF file with the long header can
// describe: its RIFF size (the data plus the 72 header bytes after the
// size field) must fit in 32 bits and must not be unknownSize. At 16 kHz
// 16-bit mono that is 4294967222 / 32000 s, about 37.3 hours.
const maxRIFFData = unknownSize - 1 - (longHeaderLen - 8)

// NewWAVWriter writes a 16-bit PCM header for rate and channels to w (the
// plain 44-byte header: sizes beyond 4 GiB wrap).
func NewWAVWriter(w io.WriteSeeker, rate, channels int) (*WAVWriter, error) {
	ww := &WAVWriter{w: w, channels: channels}
	if _, err := w.Write(wavHeader(rate, channels, 0)); err != nil {
		return nil, err
	}
	return ww, nil
}

// NewLongWAVWriter is NewWAVWriter for recordings of any length: its
// header reserves room (a JUNK chunk) for RF64's ds64 chunk, and the file
// is rewritten as RF64 (EBU Tech 3306) when its data outgrows what 32-bit
// sizes hold; until then it is plain WAV that every player reads.
func NewLongWAVWriter(w io.WriteSeeker, rate, channels int) (*WAVWriter, error) {
	ww := &WAVWriter{w: w, channels: channels, long: true, limit: maxRIFFData}
	if _, err := w.Write(longWAVHeader(rate, channels)); err != nil {
		return nil, err
	}
	return ww, nil
}

func wavHeader(rate, channels int, dataBytes int64) []byte {
	le := binary.LittleEndian
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], uint32(36+dataBytes))
	copy(h[8:], "WAVE")
	putFmt(h[12:], rate, channels)
	copy(h[36:], "data")
	le.PutUint32(h[40:], uint32(dataBytes))
	return h
}

// longHeaderLen is the length of the long header: RIFF, JUNK (room for
// ds64), fmt and the data chunk's header.
const longHeaderLen = 12 + 8 + ds64Len + 24 + 8

// ds64Len is the body of a ds64 chunk without a table: RIFF size, data
// size, sample count (64-bit each) and the table length.
const ds64Len = 28

func longWAVHeader(rate, channels int) []byte {
	le := binary.LittleEndian
	h := make([]byte, longHeaderLen)
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], longHeaderLen-8)
	copy(h[8:], "WAVEJUNK")
	le.PutUint32(h[16:], ds64Len)
	putFmt(h[20+ds64Len:], rate, channels)
	copy(h[longHeaderLen-8:], "data")
	return h
}

// putFmt writes a 16-bit PCM fmt chunk (24 bytes) to h.
func putFmt(h []byte, rate, channels int) {
	le := binary.LittleEndian
	copy(h[0:], "fmt ")
	le.PutUint32(h[4:], 16)
	le.PutUint16(h[8:], fmtPCM)
	le.PutUint16(h[10:], uint16(channels))
	le.PutUint32(h[12:], uint32(rate))
	le.PutUint32(h[16:], uint32(rate*channels*2))
	le.PutUint16(h[20:], uint16(channels*2))
	le.PutUint16(h[22:], 16)
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

// Bytes returns the number of sample bytes written so far.
func (w *WAVWriter) Bytes() int64 { return w.n }

// Sync patches the header's sizes to the data written so far and returns
// to the end of the stream, so that a file cut short after Sync (a crash)
// is a valid WAV file of at least that length.
func (w *WAVWriter) Sync() error {
	if err := w.patch(); err != nil {
		return err
	}
	_, err := w.w.Seek(0, io.SeekEnd)
	return err
}

// Close patches the header's sizes; it does not close the underlying file.
func (w *WAVWriter) Close() error { return w.patch() }

func (w *WAVWriter) patch() error {
	l := wavLayout{dataSize: 40}
	if w.long {
		l = wavLayout{ds64: 12, dataSize: longHeaderLen - 4}
	}
	return l.writeSizes(w.w, w.n, w.limit, w.channels*2)
}

// wavLayout is where a file's size fields are: the RIFF size at 4, the
// data chunk's size at dataSize, and a chunk that can hold ds64 (a JUNK or
// ds64 chunk header) at ds64, or 0 if there is none.
type wavLayout struct {
	ds64     int64
	dataSize int64
}

// writeSizes writes the sizes of a file with n data bytes at their places
// in w: plain RIFF up to limit bytes of data (0: 32 bits' worth), RF64
// beyond, which needs a ds64 place.
func (l wavLayout) writeSizes(w io.WriteSeeker, n, limit int64, frame int) error {
	if limit <= 0 {
		limit = unknownSize - 1 - (l.dataSize - 4)
	}
	le := binary.LittleEndian
	riff := l.dataSize + 4 - 8 + n
	at := func(off int64, b []byte) error {
		if _, err := w.Seek(off, io.SeekStart); err != nil {
			return err
		}
		_, err := w.Write(b)
		return err
	}
	if n <= limit {
		var b [8]byte
		copy(b[:], "RIFF")
		le.PutUint32(b[4:], uint32(riff))
		if err := at(0, b[:]); err != nil {
			return err
		}
		le.PutUint32(b[:4], uint32(n))
		return at(l.dataSize, b[:4])
	}
	if l.ds64 == 0 {
		return fmt.Errorf("%w: %d data bytes need RF64 and the header has no room for ds64", ErrCorrupt, n)
	}
	b := make([]byte, 8+ds64Len)
	copy(b, "ds64")
	le.PutUint32(b[4:], ds64Len)
	le.PutUint64(b[8:], uint64(riff))
	le.PutUint64(b[16:], uint64(n))
	le.PutUint64(b[24:], uint64(n)/uint64(max(frame, 1)))
	if err := at(l.ds64, b); err != nil {
		return err
	}
	var h [8]byte
	copy(h[:], "RF64")
	le.PutUint32(h[4:], unknownSize)
	if err := at(0, h[:]); err != nil {
		return err
	}
	le.PutUint32(h[:4], unknownSize)
	return at(l.dataSize, h[:4])
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
