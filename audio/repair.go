package audio

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// RepairWAV makes the WAV (or RF64) file at path describe the samples it
// holds: after a crash a recording's header may say fewer samples than
// were written (or none). It drops a partial sample frame at the end,
// rewrites the RIFF and data sizes (as RF64 when they outgrow 32 bits and
// the header has room for it) and returns the format and the number of
// sample frames. A file whose header is not usable WAV fails with
// ErrNotWAV, ErrCorrupt or ErrTruncated; a sound file is left as it is.
func RepairWAV(path string) (Format, int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return Format{}, 0, err
	}
	defer f.Close()
	l, fm, dataStart, err := scanWAV(f)
	if err != nil {
		return Format{}, 0, fmt.Errorf("%s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		return Format{}, 0, err
	}
	frame := int64(fm.Channels * fm.BitsPerSample / 8)
	n := (st.Size() - dataStart) / frame * frame
	if st.Size() != dataStart+n {
		if err := f.Truncate(dataStart + n); err != nil {
			return Format{}, 0, fmt.Errorf("repair %s: %w", path, err)
		}
	}
	if err := l.writeSizes(f, n, 0, int(frame)); err != nil {
		return Format{}, 0, fmt.Errorf("repair %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return Format{}, 0, fmt.Errorf("repair %s: %w", path, err)
	}
	return fm, n / frame, nil
}

// scanWAV reads the chunk headers of f up to the data chunk: where its
// size fields are, the format and where the samples start.
func scanWAV(f io.ReadSeeker) (wavLayout, Format, int64, error) {
	var l wavLayout
	var hdr [12]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return l, Format{}, 0, fmt.Errorf("%w: %w", ErrNotWAV, err)
	}
	if magic := string(hdr[0:4]); (magic != "RIFF" && magic != "RF64") || string(hdr[8:12]) != "WAVE" {
		return l, Format{}, 0, fmt.Errorf("%w: no RIFF/WAVE header", ErrNotWAV)
	}
	var (
		fm  Format
		pos int64 = 12
		ch  [8]byte
	)
	for {
		if _, err := io.ReadFull(f, ch[:]); err != nil {
			return l, Format{}, 0, fmt.Errorf("%w: no data chunk", ErrTruncated)
		}
		id, size := string(ch[0:4]), int64(binary.LittleEndian.Uint32(ch[4:8]))
		switch {
		case id == "data":
			if fm.Channels == 0 {
				return l, Format{}, 0, fmt.Errorf("%w: data chunk before fmt chunk", ErrCorrupt)
			}
			l.dataSize = pos + 4
			return l, fm, pos + 8, nil
		case id == "fmt ":
			if size < 16 || size > 1024 {
				return l, Format{}, 0, fmt.Errorf("%w: fmt chunk of %d bytes", ErrCorrupt, size)
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(f, b); err != nil {
				return l, Format{}, 0, fmt.Errorf("%w: in fmt chunk", ErrTruncated)
			}
			var r WAVReader
			if err := r.parseFmt(b); err != nil {
				return l, Format{}, 0, err
			}
			fm = r.format
		case (id == "ds64" || id == "JUNK") && size >= ds64Len && l.ds64 == 0:
			l.ds64 = pos
		}
		pos += 8 + size + size&1
		if _, err := f.Seek(pos, io.SeekStart); err != nil {
			return l, Format{}, 0, err
		}
	}
}
