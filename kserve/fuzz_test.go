package kserve

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/trtserve/trtserve/shm"
)

// FuzzSharedMemoryWindows: any shared_memory_offset / _byte_size on an
// input and an output is either refused before anything is read, or lies
// inside its region; an accepted request writes exactly its output window
// and nothing else of the output file.
func FuzzSharedMemoryWindows(f *testing.F) {
	_, m := testManager(f)
	dir := f.TempDir()
	reg := shm.NewRegistry(shm.Options{Dir: dir})
	f.Cleanup(func() { reg.Close() })
	const outFile = outBytes + 8192
	input := ramp(1)
	// The in region starts 4096 bytes into its file and holds the image
	// and 4096 more bytes; out covers [100, outFile-100) of its file.
	if err := os.WriteFile(filepath.Join(dir, "in"), append(make([]byte, 4096), append(input, make([]byte, 4096)...)...), 0o600); err != nil {
		f.Fatal(err)
	}
	if err := reg.RegisterSystem("in", "/in", 4096, itemBytes+4096); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "out"), make([]byte, outFile), 0o600); err != nil {
		f.Fatal(err)
	}
	if err := reg.RegisterSystem("out", "/out", 100, outFile-200); err != nil {
		f.Fatal(err)
	}
	const inRegion, outRegion = itemBytes + 4096, outFile - 200
	f.Add(int64(0), int64(itemBytes), int64(0), int64(outBytes))
	f.Add(int64(4096), int64(itemBytes), int64(8000), int64(outBytes))
	f.Add(int64(4097), int64(itemBytes), int64(7992), int64(outBytes+1))
	f.Add(int64(inRegion), int64(itemBytes), int64(outRegion), int64(outBytes))
	f.Add(int64(math.MaxInt64), int64(itemBytes), int64(math.MaxInt64-outBytes+1), int64(outBytes))
	f.Add(int64(-1), int64(-1), int64(0), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, inOff, inSize, outOff, outSize int64) {
		req := &Request{
			Inputs:  []Input{{Name: "images", Shape: []int64{1, 3, 320, 320}, Datatype: "FP32", Params: shmParams("in", inOff, inSize)}},
			Outputs: []RequestedOutput{{Name: "output0", Params: shmParams("out", outOff, outSize)}},
		}
		if inOff < 0 {
			req.Inputs[0].Params[ParamSHMOffset] = IntParam(inOff) // shmParams drops negative offsets
		}
		if outOff < 0 {
			req.Outputs[0].Params[ParamSHMOffset] = IntParam(outOff)
		}
		inFits := inOff >= 0 && inSize == itemBytes && inOff <= inRegion-itemBytes
		outFits := outOff >= 0 && outSize >= outBytes && outSize <= outRegion && outOff <= outRegion-outSize
		before, err := os.ReadFile(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Prepare(m, req, reg)
		if err != nil {
			if inFits && outFits {
				t.Fatalf("in [%d,+%d) out [%d,+%d) refused: %v", inOff, inSize, outOff, outSize, err)
			}
			return
		}
		defer p.Release()
		if !inFits || !outFits {
			t.Fatalf("in [%d,+%d) out [%d,+%d) outside its region was accepted", inOff, inSize, outOff, outSize)
		}
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		after, err := os.ReadFile(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		w := 100 + int(outOff)
		if !bytes.Equal(before[:w], after[:w]) || !bytes.Equal(before[w+outBytes:], after[w+outBytes:]) {
			t.Fatalf("bytes outside the output window [%d,+%d) of the file changed", w, outBytes)
		}
	})
}
