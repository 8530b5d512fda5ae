//go:build !cudamock

package app

import (
	"strings"
	"testing"
)

// A binary built without the tag cannot be talked into the mock.
func TestOpenCUDAMockRefusedWithoutTag(t *testing.T) {
	m, err := OpenCUDAMock(1, "", nil)
	if m != nil || err == nil || !strings.Contains(err.Error(), "build tag cudamock") {
		t.Fatalf("OpenCUDAMock = %v, %v; want a refusal naming the build tag", m, err)
	}
}
