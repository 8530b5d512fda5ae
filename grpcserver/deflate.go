package grpcserver

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zlib"
	"google.golang.org/grpc/encoding"
)

// deflate is gRPC's "deflate" message encoding: zlib-wrapped deflate, as
// gRPC's C core writes it. grpc-go ships only gzip; Triton (gRPC C++)
// takes both, and tritonclient offers both (compression_algorithm), so
// trtserve registers this one too. It is registered process-wide, for
// requests and (when a client asks) responses; the size of a decompressed
// message is bounded by --grpc-max-message-bytes like any other.
type deflate struct {
	writers sync.Pool // *zlib.Writer
	readers sync.Pool // *deflateReader
}

func init() { encoding.RegisterCompressor(&deflate{}) }

func (*deflate) Name() string { return "deflate" }

// Compress writes with zlib's fastest level: answers are tensors, and the
// server's CPU is for inference.
func (d *deflate) Compress(w io.Writer) (io.WriteCloser, error) {
	if zw, ok := d.writers.Get().(*zlib.Writer); ok {
		zw.Reset(w)
		return &deflateWriter{Writer: zw, pool: &d.writers}, nil
	}
	zw, err := zlib.NewWriterLevel(w, zlib.BestSpeed)
	if err != nil {
		return nil, err
	}
	return &deflateWriter{Writer: zw, pool: &d.writers}, nil
}

type deflateWriter struct {
	*zlib.Writer
	pool *sync.Pool
}

func (w *deflateWriter) Close() error {
	defer w.pool.Put(w.Writer)
	return w.Writer.Close()
}

func (d *deflate) Decompress(r io.Reader) (io.Reader, error) {
	if dr, ok := d.readers.Get().(*deflateReader); ok {
		if err := dr.r.(zlib.Resetter).Reset(r, nil); err != nil {
			d.readers.Put(dr)
			return nil, err
		}
		return dr, nil
	}
	zr, err := zlib.NewReader(r)
	if err != nil {
		return nil, err
	}
	return &deflateReader{r: zr, pool: &d.readers}, nil
}

// deflateReader goes back to the pool once it has read its message to
// the end.
type deflateReader struct {
	r    io.ReadCloser
	pool *sync.Pool
}

func (z *deflateReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err == io.EOF {
		z.r.Close()
		z.pool.Put(z)
	}
	return n, err
}
