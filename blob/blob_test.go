package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/cuecard/cuecard/blob"
)

// engines returns a fresh store of each engine. S3 runs against
// gofakes3, a real S3 protocol server on loopback.
func engines() map[string]func(testing.TB) blob.Store {
	return map[string]func(testing.TB) blob.Store{
		"dir": func(tb testing.TB) blob.Store {
			tb.Helper()
			d, err := blob.NewDir(filepath.Join(tb.TempDir(), "objects"))
			if err != nil {
				tb.Fatal(err)
			}
			return d
		},
		"s3": newS3,
	}
}

func newS3(tb testing.TB) blob.Store {
	tb.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("calls"); err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	tb.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	tb.Setenv("AWS_ACCESS_KEY_ID", "test")
	tb.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	st, err := blob.Parse("s3://calls/deploy-a?endpoint=" + u.Host + "&region=us-east-1&insecure=1")
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	for name, mk := range engines() {
		t.Run(name, func(t *testing.T) {
			t.Run("PutOpenRange", func(t *testing.T) { testPutOpen(t, mk(t)) })
			t.Run("Missing", func(t *testing.T) { testMissing(t, mk(t)) })
			t.Run("ReplaceAndDelete", func(t *testing.T) { testReplace(t, mk(t)) })
			t.Run("ListPrefix", func(t *testing.T) { testList(t, mk(t)) })
			t.Run("InvalidKeys", func(t *testing.T) { testInvalid(t, mk(t)) })
			t.Run("ServeRange", func(t *testing.T) { testServeRange(t, mk(t)) })
			t.Run("ConcurrentPut", func(t *testing.T) { testConcurrent(t, mk(t)) })
		})
	}
}

func put(tb testing.TB, st blob.Store, key string, data []byte, size int64) {
	tb.Helper()
	if err := st.Put(context.Background(), key, bytes.NewReader(data), size); err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}

func testPutOpen(t *testing.T, st blob.Store) {
	ctx := context.Background()
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	put(t, st, "recordings/s1/rep.wav", data, int64(len(data)))
	// Unknown size: a stream (a recording being sealed).
	put(t, st, "recordings/s1/prospect.wav", data[:1000], -1)
	o, err := st.Open(ctx, "recordings/s1/rep.wav")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Info().Size != int64(len(data)) || o.Info().Key != "recordings/s1/rep.wav" {
		t.Fatalf("info %+v", o.Info())
	}
	got, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read all: %d bytes, err %v", len(got), err)
	}
	buf := make([]byte, 4096)
	if n, err := o.ReadAt(buf, 1<<20); err != nil || n != len(buf) || !bytes.Equal(buf, data[1<<20:1<<20+4096]) {
		t.Fatalf("read at: %d %v", n, err)
	}
	if _, err := o.Seek(int64(len(data))-10, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(o)
	if !bytes.Equal(tail, data[len(data)-10:]) {
		t.Fatalf("tail after seek: %x", tail)
	}
	info, err := st.Stat(ctx, "recordings/s1/prospect.wav")
	if err != nil || info.Size != 1000 {
		t.Fatalf("stat: %+v %v", info, err)
	}
}

func testMissing(t *testing.T, st blob.Store) {
	ctx := context.Background()
	if _, err := st.Open(ctx, "nope/x"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("open missing: %v", err)
	}
	if _, err := st.Stat(ctx, "nope/x"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stat missing: %v", err)
	}
	if err := st.Delete(ctx, "nope/x"); err != nil {
		t.Fatalf("delete missing: %v", err)
	}
	if l, err := st.List(ctx, "nope/"); err != nil || len(l) != 0 {
		t.Fatalf("list missing: %v %v", l, err)
	}
}

func testReplace(t *testing.T, st blob.Store) {
	ctx := context.Background()
	put(t, st, "a/b", []byte("first"), 5)
	put(t, st, "a/b", []byte("second!"), 7)
	o, err := st.Open(ctx, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(o)
	o.Close()
	if string(got) != "second!" {
		t.Fatalf("after replace: %q", got)
	}
	if err := st.Delete(ctx, "a/b"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, "a/b"); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stat after delete: %v", err)
	}
}

func testList(t *testing.T, st blob.Store) {
	ctx := context.Background()
	keys := []string{
		"recordings/s1/rep/seg-000000020000-n2.pcm",
		"recordings/s1/rep/seg-000000000000-n1.pcm",
		"recordings/s1/rep/seg-000000010000-n1.pcm",
		"recordings/s1/prospect/seg-000000000000-n1.pcm",
		"recordings/s10/rep/seg-000000000000-n1.pcm",
		"uploads/u1",
	}
	for i, k := range keys {
		put(t, st, k, []byte(strings.Repeat("x", i+1)), int64(i+1))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"recordings/s1/rep/seg-", []string{keys[1], keys[2], keys[0]}},
		{"recordings/s1/", []string{keys[3], keys[1], keys[2], keys[0]}},
		{"recordings/s1", []string{keys[3], keys[1], keys[2], keys[0], keys[4]}},
		{"uploads/", []string{"uploads/u1"}},
		{"", append([]string{keys[3], keys[1], keys[2], keys[0], keys[4]}, "uploads/u1")},
	}
	for _, tc := range tests {
		l, err := st.List(ctx, tc.prefix)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, i := range l {
			got = append(got, i.Key)
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("list %q:\n got %v\nwant %v", tc.prefix, got, tc.want)
		}
	}
	l, _ := st.List(ctx, "uploads/")
	if len(l) != 1 || l[0].Size != 6 {
		t.Errorf("list sizes: %+v", l)
	}
}

func testInvalid(t *testing.T, st blob.Store) {
	ctx := context.Background()
	for _, k := range []string{"", "/abs", "a/../b", "a//b", "a/./b", "../x", "a/"} {
		if err := st.Put(ctx, k, strings.NewReader("x"), 1); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("put %q: %v, want ErrInvalidKey", k, err)
		}
		if _, err := st.Open(ctx, k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("open %q: %v, want ErrInvalidKey", k, err)
		}
	}
}

// testServeRange serves an object the way /audio does and asks ranges.
func testServeRange(t *testing.T, st blob.Store) {
	data := make([]byte, 100000)
	rand.Read(data)
	put(t, st, "r/x.wav", data, int64(len(data)))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o, err := st.Open(r.Context(), "r/x.wav")
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer o.Close()
		http.ServeContent(w, r, "x.wav", o.Info().ModTime, o)
	})
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Range", "bytes=50000-50099")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[50000:50100]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(body))
	}
}

func testConcurrent(t *testing.T, st blob.Store) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			data := bytes.Repeat([]byte{byte(i)}, 10000)
			if err := st.Put(ctx, "same/key", bytes.NewReader(data), int64(len(data))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	o, err := st.Open(ctx, "same/key")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(o)
	o.Close()
	if len(got) != 10000 || !bytes.Equal(got, bytes.Repeat(got[:1], 10000)) {
		t.Fatalf("torn object: %d bytes", len(got))
	}
}

// TestDirModes checks that objects and their directories are private and
// that no temporary file is left.
func TestDirModes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "objects")
	d, err := blob.NewDir(root)
	if err != nil {
		t.Fatal(err)
	}
	put(t, d, "recordings/s1/rep.wav", []byte("data"), 4)
	for p, want := range map[string]os.FileMode{
		root: 0o700, filepath.Join(root, "recordings", "s1"): 0o700,
		filepath.Join(root, "recordings", "s1", "rep.wav"): 0o600,
	} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, err %v; want %v", p, st.Mode().Perm(), err, want)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(root, "recordings", "s1"))
	if len(ents) != 1 {
		t.Errorf("leftover files: %v", ents)
	}
	if err := d.Delete(context.Background(), "recordings/s1/rep.wav"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "recordings")); !os.IsNotExist(err) {
		t.Errorf("empty directories left after delete: %v", err)
	}
}

func TestParse(t *testing.T) {
	for _, bad := range []string{"", "ftp://x", "s3://", "s3://b", "dir:"} {
		if _, err := blob.Parse(bad); !errors.Is(err, blob.ErrConfig) {
			t.Errorf("Parse(%q) = %v, want ErrConfig", bad, err)
		}
	}
}

// BenchmarkPut and BenchmarkOpen measure one 1 MiB object (about 30 s of
// a 16 kHz recording) per operation on each engine.
func BenchmarkPut(b *testing.B) {
	data := make([]byte, 1<<20)
	rand.Read(data)
	for name, mk := range engines() {
		b.Run(name, func(b *testing.B) {
			st := mk(b)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				put(b, st, fmt.Sprintf("bench/%d", i%16), data, int64(len(data)))
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	data := make([]byte, 1<<20)
	rand.Read(data)
	for name, mk := range engines() {
		b.Run(name, func(b *testing.B) {
			st := mk(b)
			put(b, st, "bench/x", data, int64(len(data)))
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				o, err := st.Open(context.Background(), "bench/x")
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, o); err != nil || n != int64(len(data)) {
					b.Fatal(n, err)
				}
				o.Close()
			}
		})
	}
}

// TestReadAtEnd: a ReadAt that fills its buffer up to the object's end
// returns no error, on every engine (seal.Reader relies on it).
func TestReadAtEnd(t *testing.T) {
	for name, mk := range engines() {
		t.Run(name, func(t *testing.T) {
			st := mk(t)
			put(t, st, "k", []byte("0123456789"), 10)
			o, err := st.Open(context.Background(), "k")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Close()
			buf := make([]byte, 4)
			if n, err := o.ReadAt(buf, 6); n != 4 || err != nil || string(buf) != "6789" {
				t.Fatalf("ReadAt to the end: %d %v %q", n, err, buf)
			}
			if n, err := o.ReadAt(buf, 8); n != 2 || !errors.Is(err, io.EOF) {
				t.Fatalf("ReadAt past the end: %d %v", n, err)
			}
		})
	}
}
