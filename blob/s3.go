package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says where an S3-compatible store is.
type S3Config struct {
	// Endpoint is host:port of the S3 API (e.g. "s3.amazonaws.com",
	// "minio:9000").
	Endpoint string
	// Bucket must exist; S3 does not create it.
	Bucket string
	// Region; empty lets the client ask the server.
	Region string
	// PathStyle addresses the bucket in the path (MinIO, SeaweedFS,
	// most self-hosted stores) rather than in the host name.
	PathStyle bool
	// Insecure speaks plain HTTP (a store on a private network).
	Insecure bool
	// Prefix, if set, starts every key ("cuecard/..."), so several
	// deployments can share a bucket.
	Prefix string
	// AccessKey and SecretKey; empty takes AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY from the environment.
	AccessKey, SecretKey string
	// Transport, if set, carries the requests (tests, proxies).
	Transport http.RoundTripper
}

// partSize is the part of a multipart upload of unknown size: what one
// Put of a stream holds in memory.
const partSize = 16 << 20

// S3 keeps objects in a bucket of an S3-compatible object store.
type S3 struct {
	c      *minio.Client
	bucket string
	prefix string
}

var _ Store = (*S3)(nil)

// NewS3 returns a store on cfg's bucket. It does not contact the server:
// a wrong endpoint or key shows at the first call.
func NewS3(cfg S3Config) (*S3, error) {
	if cfg.Endpoint == "" || cfg.Bucket == "" {
		return nil, fmt.Errorf("%w: s3 needs an endpoint and a bucket", ErrConfig)
	}
	if cfg.AccessKey == "" {
		cfg.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
	}
	if cfg.SecretKey == "" {
		cfg.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       !cfg.Insecure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: s3: %w", ErrConfig, err)
	}
	p := strings.Trim(cfg.Prefix, "/")
	if p != "" {
		p += "/"
	}
	return &S3{c: c, bucket: cfg.Bucket, prefix: p}, nil
}

// s3Err maps a missing object to ErrNotFound.
func s3Err(op, key string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, "NotFound":
		return fmt.Errorf("blob %s %s: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("blob %s %s: %w", op, key, err)
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if size < 0 {
		f, n, err := spool(r)
		if err != nil {
			return fmt.Errorf("blob put %s: %w", key, err)
		}
		defer f.Close()
		r, size = f, n
	}
	_, err := s.c.PutObject(ctx, s.bucket, s.prefix+key, r, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    partSize,
	})
	if err != nil {
		return s3Err("put", key, err)
	}
	return nil
}

// spool copies r to an unlinked temporary file and returns it rewound
// with its length: a stream of unknown size goes up as one PUT of known
// length (retryable, and understood by every S3-compatible server)
// without being held in memory.
func spool(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "cuecard-blob-*")
	if err != nil {
		return nil, 0, err
	}
	os.Remove(f.Name())
	n, err := io.Copy(f, r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

// Open implements Store. It asks the size first, so a missing object is
// ErrNotFound here rather than at the first read.
func (s *S3) Open(ctx context.Context, key string) (Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Err("open", key, err)
	}
	st, err := o.Stat()
	if err != nil {
		o.Close()
		return nil, s3Err("open", key, err)
	}
	return &s3Object{Object: o, info: Info{Key: key, Size: st.Size, ModTime: st.LastModified}}, nil
}

type s3Object struct {
	*minio.Object
	info Info
}

func (o *s3Object) Info() Info { return o.info }

// ReadAt reads len(p) bytes at off. A read that fills p ends without
// error even at the object's end, as os.File does (minio returns io.EOF
// there, which readers expecting a file take for truncation).
func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.Object.ReadAt(p, off)
	if n == len(p) && errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	st, err := s.c.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s3Err("stat", key, err)
	}
	return Info{Key: key, Size: st.Size, ModTime: st.LastModified}, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	err := s.c.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && !errors.Is(s3Err("", key, err), ErrNotFound) {
		return fmt.Errorf("blob delete %s: %w", key, err)
	}
	return nil
}

// List implements Store. S3 lists keys in UTF-8 binary order, which is
// the order of Go's string comparison.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	// Cancelled on return, so that the lister's goroutine ends even
	// when an error stops the loop early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out []Info
	for o := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("blob list %s: %w", prefix, o.Err)
		}
		out = append(out, Info{Key: strings.TrimPrefix(o.Key, s.prefix), Size: o.Size, ModTime: o.LastModified})
	}
	return out, nil
}
