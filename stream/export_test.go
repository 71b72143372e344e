package stream

// VAD and NewVAD let the tests drive the voice activity detector alone.
type VAD = vad

// NewVAD returns a detector, as the pipeline makes one per channel.
var NewVAD = newVAD
