package audio

// NewWAVReader lets the tests parse WAV streams that are not files.
var NewWAVReader = newWAVReader
