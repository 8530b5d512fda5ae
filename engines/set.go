package engines

import (
	"errors"
	"fmt"
	"sync"
)

// BackendSet is the backends of this process by name. Backends register
// when they are available on this machine; a model naming a missing one
// fails to load with ErrBackendMissing and the reason recorded when it was
// marked missing. (Not a "registry": metrics.Registry is the Prometheus
// one.)
type BackendSet struct {
	mu        sync.Mutex // guards backends, missing and fallbacks
	backends  map[string]Backend
	missing   map[string]error
	fallbacks map[string]string
}

// NewBackendSet makes an empty set.
func NewBackendSet() *BackendSet {
	return &BackendSet{backends: map[string]Backend{}, missing: map[string]error{}, fallbacks: map[string]string{}}
}

// SetFallback makes models that ask for the missing backend from run on
// to instead (tensorrt → onnxruntime on a machine without a GPU).
func (s *BackendSet) SetFallback(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fallbacks[from] = to
}

// Fallback is the backend that stands in for a missing one: its name and
// why the asked-for one is missing. ok is false when name is available or
// has no fallback.
func (s *BackendSet) Fallback(name string) (to string, why error, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, here := s.backends[name]; here {
		return "", nil, false
	}
	to, ok = s.fallbacks[name]
	if _, avail := s.backends[to]; !ok || !avail {
		return "", nil, false
	}
	return to, s.missing[name], true
}

// Alternative is the available backend that stands in for name when name
// cannot run a particular model (ErrBackendCannotRun): the fallback set
// with SetFallback, if it is registered.
func (s *BackendSet) Alternative(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	to, ok := s.fallbacks[name]
	if !ok {
		return "", false
	}
	_, avail := s.backends[to]
	return to, avail
}

// Register adds an available backend.
func (s *BackendSet) Register(b Backend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.backends[b.Name()] = b
	delete(s.missing, b.Name())
}

// MarkMissing records why a backend could not start here.
func (s *BackendSet) MarkMissing(name string, why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.missing[name] = why
}

// Get returns the named backend.
func (s *BackendSet) Get(name string) (Backend, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.backends[name]; ok {
		return b, nil
	}
	if why, ok := s.missing[name]; ok {
		return nil, fmt.Errorf("%w: %s: %v", ErrBackendMissing, name, why)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownBackend, name)
}

// Close closes every backend.
func (s *BackendSet) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, b := range s.backends {
		errs = append(errs, b.Close())
	}
	s.backends = map[string]Backend{}
	return errors.Join(errs...)
}
