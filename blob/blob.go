// Package blob keeps named objects (recordings, uploaded calls) where
// every node of a cluster can read them: a shared directory (Dir) or an
// S3-compatible object store (S3). Keys are slash-separated relative
// names such as "recordings/<session>/rep.wav".
package blob

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// Store is what both engines provide. Every method is safe for
// concurrent use and blocks until the object store answers.
type Store interface {
	// Put stores all of r under key, replacing any object there, and
	// returns once it is durable; size is r's length or -1 when unknown.
	// A reader is never given a partial object.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Open returns the object for reading; the caller closes it. It
	// returns an error wrapping ErrNotFound when there is none.
	Open(ctx context.Context, key string) (Object, error)
	// Stat returns the object's size and time, or ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object; a missing one is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the objects whose key starts with prefix (a plain
	// string prefix, not only a directory), sorted by key.
	List(ctx context.Context, prefix string) ([]Info, error)
}

// Object is an open object. Seek and ReadAt make it fit for
// http.ServeContent (Range requests) and for seal.NewReader.
type Object interface {
	io.ReadSeekCloser
	io.ReaderAt
	// Info returns the object's key, size and time as of Open.
	Info() Info
}

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// CheckKey returns an error wrapping ErrInvalidKey unless key is a
// relative slash-separated name without empty, "." or ".." segments.
func CheckKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: %q", ErrInvalidKey, key)
		}
	}
	return nil
}

// Parse builds a store from its flag form: "dir:/path" for a (shared)
// directory, or "s3://bucket?endpoint=host:port&region=r&insecure=1"
// (path-style unless virtual=1; keys from AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY). It does not contact the store.
func Parse(spec string) (Store, error) {
	if p, ok := strings.CutPrefix(spec, "dir:"); ok {
		return NewDir(p)
	}
	u, err := url.Parse(spec)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("%w: %q: want dir:/path or s3://bucket?endpoint=host:port", ErrConfig, spec)
	}
	q := u.Query()
	cfg := S3Config{
		Endpoint:  q.Get("endpoint"),
		Bucket:    u.Host,
		Region:    q.Get("region"),
		Insecure:  q.Get("insecure") == "1" || q.Get("insecure") == "true",
		PathStyle: q.Get("virtual") != "1",
		Prefix:    strings.Trim(u.Path, "/"),
	}
	return NewS3(cfg)
}
