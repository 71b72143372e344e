// Package workers runs speech recognition on other processes: `cuecard
// worker` holds the decoders (Serve, with the embedded recognizer), and a
// server started with --asr workers holds none and recognizes through a
// Client, which implements stream.Async and stream.Transcriber.
//
// # Dispatch: a NATS queue group, not a JetStream work queue
//
// A segment is not a job that can wait: its audio arrives while it is
// spoken, and a live call wants the transcript a few tens of milliseconds
// after the speaker stops. So a worker decodes a segment as it is spoken
// (partials on the way), not after it ended, and the dispatch has to pick
// a worker in well under a millisecond and then stream frames to it.
// Core NATS does that: the client publishes a start to <prefix>.asr.segment,
// which the workers share as a queue group, so exactly one of them gets
// it; that one answers with a subject of its own and the client streams
// the audio there. A JetStream work queue would store every frame on the
// server's disk and add an acknowledgement round trip, for a durability
// that buys nothing here: the client keeps each segment's audio until its
// transcript comes (bounded by ClientConfig.MaxSegmentMS), so the client,
// not the server, is the place to replay it from, and a segment nobody
// could decode within seconds is worth nothing to a live call anyway.
//
// What a queue group lacks, the protocol adds:
//   - Capacity: a worker takes a segment only with a free decoder of its
//     own (Config.Decoders); otherwise it answers busy and the client asks
//     again with a short backoff, until ClientConfig.Timeout.
//   - A worker that dies loses only the segment in flight, which is
//     retried: audio is published with the client's inbox as reply
//     subject, so once the worker's subscription is gone the NATS server
//     answers the next chunk with a no-responders status and the client
//     replays the whole segment on another worker at once; a worker that
//     hangs is caught by the timeout. At most MaxAttempts workers take one
//     segment.
//   - Workers may join or leave at any time: joining the queue group is
//     all it takes, and one that leaves ends its segments with "stopping",
//     which clients retry elsewhere.
//   - Each side's segments are decoded one after another, each starting
//     from the recognizer state the previous one ended with
//     (stream.Adapter), carried in the messages, so a transcript does not
//     depend on which worker decoded it.
//
// Audio travels as raw 16 kHz little-endian 16-bit PCM in message bodies;
// the protocol's fields are NATS headers (see proto.go).
package workers
