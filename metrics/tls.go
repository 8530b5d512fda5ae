package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterTLSHandshakeFailures counts the TLS handshakes that failed on
// the server's ports (clients without the CA or a client certificate,
// plain-text clients, old TLS versions); TCP probes that leave before a
// handshake are not counted. A rising count after a certificate rotation
// is clients that do not trust the new one.
func (r *Registry) RegisterTLSHandshakeFailures(total func() int64) error {
	if total == nil {
		return errors.New("metrics: nil TLS handshake failure counter")
	}
	return r.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "trtserve_tls_handshake_failures_total",
		Help: "TLS handshakes that failed on the HTTP and gRPC ports (TCP probes that leave before one are not counted)",
	}, func() float64 { return float64(total()) }))
}
