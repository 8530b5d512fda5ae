package cuda

import (
	"errors"
	"reflect"
	"testing"
)

func TestStickyCodes(t *testing.T) {
	for _, tc := range []struct {
		code   int
		sticky bool
	}{
		{700, true}, // cudaErrorIllegalAddress
		{702, true}, // cudaErrorLaunchTimeout
		{710, true}, // cudaErrorAssert
		{714, true}, {715, true}, {716, true}, {717, true}, {718, true},
		{719, true}, // cudaErrorLaunchFailure
		{721, true}, // cudaErrorTensorMemoryLeak
		{226, true}, // cudaErrorContained
		{810, true}, // cudaErrorMpsClientTerminated
		{911, true}, // cudaErrorExternalDevice
		{0, false},
		{2, false},   // cudaErrorMemoryAllocation: one call failed
		{35, false},  // cudaErrorInsufficientDriver: no device, not a lost one
		{214, false}, // cudaErrorECCUncorrectable: not documented as sticky
		{701, false}, // cudaErrorLaunchOutOfResources
		{709, false}, // cudaErrorContextIsDestroyed
		{720, false}, // cudaErrorCooperativeLaunchTooLarge
		{999, false}, // cudaErrorUnknown
	} {
		e := &APIError{Op: "cudaStreamSynchronize", Code: tc.code, kind: ErrCUDA}
		if got := IsDeviceFault(e); got != tc.sticky {
			t.Errorf("code %d: IsDeviceFault %v, want %v", tc.code, got, tc.sticky)
		}
		if !errors.Is(e, ErrCUDA) {
			t.Errorf("code %d: no longer an ErrCUDA", tc.code)
		}
	}
}

func TestCandidatesFor(t *testing.T) {
	for _, tc := range []struct {
		major int
		want  []string
	}{
		{0, []string{"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"}},
		{13, []string{"libcudart.so.13", "libcudart.so", "libcudart.so.12", "libcudart.so.11.0"}},
		{12, []string{"libcudart.so.12", "libcudart.so", "libcudart.so.13", "libcudart.so.11.0"}},
		{11, []string{"libcudart.so.11.0", "libcudart.so", "libcudart.so.13", "libcudart.so.12"}},
		// A major we do not list still goes first: the shim knows best.
		{14, []string{"libcudart.so.14", "libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"}},
	} {
		if got := CandidatesFor(tc.major); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("CandidatesFor(%d) = %v, want %v", tc.major, got, tc.want)
		}
	}
	// The default list is not changed by a call.
	CandidatesFor(0)[0] = "x"
	if cudartCandidates[0] != "libcudart.so" {
		t.Fatal("CandidatesFor returned the package's own slice")
	}
}
