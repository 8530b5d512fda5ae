package grpcserver

import (
	"context"
	"log/slog"
	"math"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/trtserve/trtserve/grpcapi/inference"
)

// BenchmarkModelInferTCP: ModelInfer over a loopback TCP connection with
// batch-4 requests of 4.9 MB (raw) and 2.8 MB answers on the simulated
// engine, at concurrency 1 and 4: the transport's share of a request
// (copies, flow control), not the model's. ns/op is per request.
func BenchmarkModelInferTCP(b *testing.B) {
	mg := testManager(b)
	srv := New(mg, Options{}, slog.New(slog.DiscardHandler), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewGRPCInferenceServiceClient(conn)
	req := rawRequest(4)
	for _, conc := range []int{1, 4} {
		b.Run("c="+string(rune('0'+conc)), func(b *testing.B) {
			b.SetBytes(int64(len(req.RawInputContents[0])))
			var wg sync.WaitGroup
			per := (b.N + conc - 1) / conc
			b.ResetTimer()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						if _, err := c.ModelInfer(context.Background(), req); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
