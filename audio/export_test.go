package audio

// NewWAVReader lets the tests parse WAV streams that are not files.
var NewWAVReader = newWAVReader

// SetWAVLimit makes w switch to RF64 beyond n data bytes, so a test need
// not write 4 GiB.
func SetWAVLimit(w *WAVWriter, n int64) { w.limit = n }

// MaxRIFFData is the most sample data a long-header WAV holds before RF64.
const MaxRIFFData = maxRIFFData
