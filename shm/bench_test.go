package shm

import (
	"strconv"
	"testing"
)

// BenchmarkLeaseRead: Acquire, Read (the one copy from a region into a
// batch slot) and Release of a system region's window, at tensor sizes
// (a 320 px and a 640 px FP32 image, a batch of 8 at 640 px).
//
//	go test -run '^$' -bench LeaseRead ./shm/
func BenchmarkLeaseRead(b *testing.B) {
	for _, n := range []int{3 * 320 * 320 * 4, 3 * 640 * 640 * 4, 8 * 3 * 640 * 640 * 4} {
		b.Run(strconv.Itoa(n>>10)+"KiB", func(b *testing.B) {
			dir := b.TempDir()
			shmFile(b, dir, "f", n)
			r := NewRegistry(Options{Dir: dir})
			defer r.Close()
			if err := r.RegisterSystem("r", "/f", 0, uint64(n)); err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, n)
			b.SetBytes(int64(n))
			b.ResetTimer()
			for range b.N {
				l, err := r.Acquire("r", 0, uint64(n))
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Read(dst); err != nil {
					b.Fatal(err)
				}
				l.Release()
			}
		})
	}
}
