package siprec

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"strings"
)

// Metadata is what the server reads of a recording session's metadata
// (RFC 7865): the participants and which stream each one sends.
type Metadata struct {
	// Session is the recorded communication session's id, if given.
	Session      string
	Participants []Participant
	// Senders maps a stream's SDP label to the id of the participant
	// that sends it.
	Senders map[string]string
}

// Participant is one party of the recorded call.
type Participant struct {
	ID   string
	AOR  string // e.g. "sip:alice@example.com"
	Name string
}

// xmlRecording follows RFC 7865's schema and the older drafts' element
// names, which recorders still send.
type xmlRecording struct {
	XMLName xml.Name `xml:"recording"`
	Session []struct {
		ID  string `xml:"session_id,attr"`
		ID2 string `xml:"id,attr"`
	} `xml:"session"`
	Participants []struct {
		ID     string `xml:"participant_id,attr"`
		ID2    string `xml:"id,attr"`
		NameID []struct {
			AOR  string `xml:"aor,attr"`
			Name string `xml:"name"`
		} `xml:"nameID"`
		AOR  []string `xml:"aor"`
		Name string   `xml:"name"`
		Send []string `xml:"send"`
	} `xml:"participant"`
	Streams []struct {
		ID    string `xml:"stream_id,attr"`
		ID2   string `xml:"id,attr"`
		Label string `xml:"label"`
	} `xml:"stream"`
	Assocs []struct {
		ID   string   `xml:"participant_id,attr"`
		ID2  string   `xml:"id,attr"`
		Send []string `xml:"send"`
	} `xml:"participantstreamassoc"`
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ParseMetadata reads RFC 7865 metadata. It fails with ErrBadMetadata when
// the XML is malformed, names no participant, or a participant has no
// AOR.
func ParseMetadata(b []byte) (Metadata, error) {
	var x xmlRecording
	if err := xml.NewDecoder(bytes.NewReader(b)).Decode(&x); err != nil {
		return Metadata{}, fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	md := Metadata{Senders: map[string]string{}}
	for _, s := range x.Session {
		md.Session = firstOf(s.ID, s.ID2)
	}
	labels := map[string]string{} // stream id -> label
	for _, s := range x.Streams {
		labels[firstOf(s.ID, s.ID2)] = strings.TrimSpace(s.Label)
	}
	for _, p := range x.Participants {
		pt := Participant{ID: firstOf(p.ID, p.ID2), Name: strings.TrimSpace(p.Name)}
		for _, n := range p.NameID {
			pt.AOR, pt.Name = firstOf(pt.AOR, n.AOR), firstOf(pt.Name, strings.TrimSpace(n.Name))
		}
		for _, a := range p.AOR {
			pt.AOR = firstOf(pt.AOR, strings.TrimSpace(a))
		}
		if pt.ID == "" || pt.AOR == "" {
			return Metadata{}, fmt.Errorf("%w: participant %q without id or AOR", ErrBadMetadata, pt.ID)
		}
		md.Participants = append(md.Participants, pt)
		for _, s := range p.Send {
			md.Senders[labels[strings.TrimSpace(s)]] = pt.ID
		}
	}
	for _, a := range x.Assocs {
		for _, s := range a.Send {
			id := strings.TrimSpace(s)
			l, ok := labels[id]
			if !ok {
				return Metadata{}, fmt.Errorf("%w: participant %q sends unknown stream %q", ErrBadMetadata, firstOf(a.ID, a.ID2), id)
			}
			md.Senders[l] = firstOf(a.ID, a.ID2)
		}
	}
	delete(md.Senders, "")
	if len(md.Participants) == 0 {
		return Metadata{}, fmt.Errorf("%w: no participant", ErrBadMetadata)
	}
	return md, nil
}

// body is an INVITE's SDP and metadata.
type body struct {
	sdp, metadata []byte
}

// splitBody separates a multipart/mixed INVITE body (RFC 7866, 9.1) into
// its SDP and metadata; a plain application/sdp body (a re-INVITE that
// changes only media) has no metadata.
func splitBody(contentType string, b []byte) (body, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return body{}, fmt.Errorf("%w: Content-Type %q", ErrBadSDP, contentType)
	}
	switch {
	case mt == "application/sdp":
		return body{sdp: b}, nil
	case mt != "multipart/mixed":
		return body{}, fmt.Errorf("%w: Content-Type %s, want multipart/mixed", ErrBadSDP, mt)
	}
	var out body
	r := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return body{}, fmt.Errorf("%w: multipart body: %w", ErrBadSDP, err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return body{}, fmt.Errorf("%w: multipart body: %w", ErrBadSDP, err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch pt {
		case "application/sdp":
			out.sdp = data
		case "application/rs-metadata+xml":
			out.metadata = data
		}
	}
	if out.sdp == nil {
		return body{}, fmt.Errorf("%w: no application/sdp part", ErrBadSDP)
	}
	return out, nil
}
