package grpcserver

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor: clients may send and ask for gzip
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/trtserve/trtserve/config"
	pb "github.com/trtserve/trtserve/grpcapi/inference"
	"github.com/trtserve/trtserve/pipeline"
	"github.com/trtserve/trtserve/shm"
)

// Keepalive are the connection keepalive settings (config's
// --grpc-keepalive-*): the server pings a client idle for Time and closes
// the connection when the ping is not answered within Timeout; a client
// pinging more often than MinPingInterval, or with no call in progress
// unless PermitWithoutCalls, is disconnected (GOAWAY "too_many_pings").
type Keepalive struct {
	Time, Timeout      time.Duration
	MinPingInterval    time.Duration
	PermitWithoutCalls bool
}

// Options configure a Server. Zero fields take config's defaults.
type Options struct {
	// Regions holds the shared-memory regions clients registered (shared
	// with the HTTP server); nil answers the shared-memory RPCs
	// UNIMPLEMENTED and refuses tensors in shared memory.
	Regions *shm.Registry
	// Version and Extensions are ServerMetadata's answer.
	Version    string
	Extensions []string
	// APIKey, when set, is required on every RPC but ServerLive,
	// ServerReady and the health service (the admin key is accepted there
	// too). RepositoryModelLoad and RepositoryModelUnload need the control
	// key instead (config.ControlKey's rule): AdminAPIKey when set, else
	// APIKey; a valid inference key there is PERMISSION_DENIED.
	APIKey, AdminAPIKey string
	// ModelControl is --model-control-mode: load and unload are refused
	// unless it is explicit ("" counts as explicit).
	ModelControl string
	// RequestTimeout bounds an inference and a model load, as it does
	// HTTP's (the client's deadline, when earlier, wins).
	RequestTimeout time.Duration
	// MaxMessageBytes bounds a received message after decompression.
	MaxMessageBytes int
	Keepalive       Keepalive
	// WindowBytes, when positive, fixes the HTTP/2 flow-control window of
	// each stream (the connection's is 4×); 0 keeps grpc-go's dynamic
	// windows, sized from measured round trips.
	WindowBytes int
	// InflightBytes bounds the bytes admitted requests hold, across the
	// server (shared with the HTTP routes; kserve.Request.Budget): a
	// request that does not fit now is RESOURCE_EXHAUSTED, as is one that
	// never can (its message names the bound). nil: no bound.
	InflightBytes *pipeline.ByteBudget
	// StreamInflight bounds the requests of one ModelStreamInfer stream
	// served at once.
	StreamInflight int
	// TLS, when set, serves TLS (the config may reload its certificates).
	// TLSHandshakeFailed, when set, hears of every handshake that fails
	// (grpc-go drops them silently).
	TLS                *tls.Config
	TLSHandshakeFailed func(remote net.Addr, err error)
	// AccessLog logs one line per call.
	AccessLog bool
}

// Server is the gRPC server. Serve it on a listener; Shutdown drains it.
type Server struct {
	pb.UnimplementedGRPCInferenceServiceServer

	models  *pipeline.Manager
	opts    Options
	log     *slog.Logger
	isReady func() bool

	grpc     *grpc.Server
	health   *health.Server
	apiKey   [32]byte // SHA-256 of opts.APIKey
	adminKey [32]byte // SHA-256 of opts.AdminAPIKey
	ctlKey   [32]byte // SHA-256 of config.ControlKey(AdminAPIKey, APIKey)
	drain    chan struct{}
	closing  atomic.Bool
	once     sync.Once
	stopped  chan struct{} // closed when the health watcher ends
}

// healthServices are the names the health service answers for.
var healthServices = []string{"", pb.GRPCInferenceService_ServiceDesc.ServiceName}

// New makes the server. isReady says whether the server takes inference
// requests (models loaded, no GPU fault); it is read per call.
func New(models *pipeline.Manager, opts Options, log *slog.Logger, isReady func() bool) *Server {
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = config.DefaultRequestTimeout
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = config.DefaultGRPCMaxMessageBytes
	}
	if opts.StreamInflight <= 0 {
		opts.StreamInflight = config.DefaultGRPCStreamInflight
	}
	ka := &opts.Keepalive
	if ka.Time <= 0 {
		ka.Time = config.DefaultGRPCKeepaliveTime
	}
	if ka.Timeout <= 0 {
		ka.Timeout = config.DefaultGRPCKeepaliveTimeout
	}
	if ka.MinPingInterval <= 0 {
		ka.MinPingInterval = config.DefaultGRPCKeepaliveMinPingInterval
	}
	if opts.Extensions == nil {
		// The server-wide list, as Triton reports on both protocols.
		opts.Extensions = []string{"binary_tensor_data", "model_repository", "model_configuration", "statistics"}
		if opts.Regions != nil {
			opts.Extensions = append(opts.Extensions, "system_shared_memory", "cuda_shared_memory")
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if isReady == nil {
		isReady = func() bool { return true }
	}
	s := &Server{models: models, opts: opts, log: log, isReady: isReady,
		health: health.NewServer(), drain: make(chan struct{}), stopped: make(chan struct{})}
	if opts.APIKey != "" {
		s.apiKey = sha256.Sum256([]byte(opts.APIKey))
	}
	if opts.AdminAPIKey != "" {
		s.adminKey = sha256.Sum256([]byte(opts.AdminAPIKey))
	}
	s.ctlKey = sha256.Sum256([]byte(config.ControlKey(opts.AdminAPIKey, opts.APIKey)))
	so := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(opts.MaxMessageBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: ka.Time, Timeout: ka.Timeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: ka.MinPingInterval, PermitWithoutStream: ka.PermitWithoutCalls}),
		// Tensor bytes are not copied by the codec (codec.go).
		grpc.ForceServerCodecV2(newCodec()),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	}
	if opts.TLS != nil {
		creds := credentials.NewTLS(opts.TLS)
		if opts.TLSHandshakeFailed != nil {
			creds = reportingCreds{creds, opts.TLSHandshakeFailed}
		}
		so = append(so, grpc.Creds(creds))
	}
	if w := opts.WindowBytes; w > 0 {
		so = append(so, grpc.InitialWindowSize(int32(min(w, math.MaxInt32/4))), grpc.InitialConnWindowSize(int32(min(4*w, math.MaxInt32))))
	}
	s.grpc = grpc.NewServer(so...)
	pb.RegisterGRPCInferenceServiceServer(s.grpc, s)
	healthpb.RegisterHealthServer(s.grpc, liveHealth{s.health, s})
	s.setHealth()
	go s.watchHealth()
	return s
}

// Serve serves gRPC on ln until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.grpc.Serve(ln)
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

// ready is ServerReady's answer: ready and not draining.
func (s *Server) ready() bool { return !s.closing.Load() && s.isReady() }

func (s *Server) setHealth() {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if s.ready() {
		st = healthpb.HealthCheckResponse_SERVING
	}
	for _, name := range healthServices {
		s.health.SetServingStatus(name, st)
	}
}

// watchHealth follows readiness into the health service (it turns ready
// once the start-up loads finish, and never again after a GPU fault).
func (s *Server) watchHealth() {
	defer close(s.stopped)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := s.ready()
	for {
		select {
		case <-s.drain:
			return
		case <-t.C:
			if r := s.ready(); r != last {
				last = r
				s.setHealth()
			}
		}
	}
}

// liveHealth answers Check from readiness at the instant of the call (the
// watcher updates Watch and List within a quarter second), so a probe
// right after /v2/health/ready turned 200 already sees SERVING.
type liveHealth struct {
	*health.Server
	s *Server
}

func (h liveHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	for _, name := range healthServices {
		if req.Service == name {
			st := healthpb.HealthCheckResponse_NOT_SERVING
			if h.s.ready() {
				st = healthpb.HealthCheckResponse_SERVING
			}
			return &healthpb.HealthCheckResponse{Status: st}, nil
		}
	}
	return h.Server.Check(ctx, req)
}

// Shutdown drains the server: health turns NOT_SERVING, no new calls are
// taken, streams end once their requests in flight are answered, and
// calls still running when ctx ends are cut off.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(func() {
		s.closing.Store(true)
		close(s.drain)
		<-s.stopped
		s.health.Shutdown() // every service NOT_SERVING, for good
	})
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		return fmt.Errorf("gRPC: calls still running at the shutdown deadline were cut off: %w", ctx.Err())
	}
}

// openMethods need no API key: orchestrators probe them.
var openMethods = map[string]bool{
	pb.GRPCInferenceService_ServerLive_FullMethodName:  true,
	pb.GRPCInferenceService_ServerReady_FullMethodName: true,
	healthpb.Health_Check_FullMethodName:               true,
	healthpb.Health_Watch_FullMethodName:               true,
	healthpb.Health_List_FullMethodName:                true,
}

// controlMethods change which models are loaded: they need the control key.
var controlMethods = map[string]bool{
	pb.GRPCInferenceService_RepositoryModelLoad_FullMethodName:   true,
	pb.GRPCInferenceService_RepositoryModelUnload_FullMethodName: true,
}

// errUnauthenticated is the answer to a call without the right key.
var errUnauthenticated = status.Error(codes.Unauthenticated, "missing or invalid API key: send it as metadata 'authorization: Bearer <key>'")

// errPermissionDenied is the answer to a control call with the inference
// key when an admin key is set.
var errPermissionDenied = status.Error(codes.PermissionDenied, "model control needs the admin API key (--admin-api-key), not the inference key")

// authorize checks the key a call's metadata carries against the ones its
// method takes. Digests are compared in constant time, so neither the
// key's bytes nor its length leak through timing.
func (s *Server) authorize(ctx context.Context, method string) error {
	if openMethods[method] {
		return nil
	}
	hasAPI, hasAdmin := s.opts.APIKey != "", s.opts.AdminAPIKey != ""
	if controlMethods[method] {
		if config.ControlKey(s.opts.AdminAPIKey, s.opts.APIKey) == "" {
			return nil // no key at all: open, as Triton's explicit mode is
		}
		sum, ok := s.keyDigest(ctx)
		switch {
		case ok && subtle.ConstantTimeCompare(sum[:], s.ctlKey[:]) == 1:
			return nil
		case ok && hasAPI && subtle.ConstantTimeCompare(sum[:], s.apiKey[:]) == 1:
			return errPermissionDenied // the inference key, where the admin key is needed
		}
		return errUnauthenticated
	}
	if !hasAPI {
		return nil // the admin key guards model control only
	}
	sum, ok := s.keyDigest(ctx)
	if ok && (subtle.ConstantTimeCompare(sum[:], s.apiKey[:]) == 1 || hasAdmin && subtle.ConstantTimeCompare(sum[:], s.adminKey[:]) == 1) {
		return nil
	}
	return errUnauthenticated
}

// keyDigest is the SHA-256 of the key the call carries; false when it
// carries none.
func (s *Server) keyDigest(ctx context.Context) ([32]byte, bool) {
	key := requestKey(ctx)
	if key == "" {
		return [32]byte{}, false
	}
	return sha256.Sum256([]byte(key)), true
}

// requestKey is the key in "authorization: Bearer <key>" or "x-api-key".
func requestKey(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return v[7:]
		}
	}
	if v := md.Get("x-api-key"); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = s.recovered(info.FullMethod, p)
		}
		s.accessLog(ctx, info.FullMethod, start, err)
	}()
	if err := s.authorize(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			err = s.recovered(info.FullMethod, p)
		}
		s.accessLog(ss.Context(), info.FullMethod, start, err)
	}()
	if err := s.authorize(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

// recovered turns a handler's panic into INTERNAL for its call only; the
// stack goes to the log, never to the client.
func (s *Server) recovered(method string, p any) error {
	s.log.Error("panic serving a gRPC call", "method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return status.Error(codes.Internal, "internal error")
}

func (s *Server) accessLog(ctx context.Context, method string, start time.Time, err error) {
	if !s.opts.AccessLog {
		return
	}
	addr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
	}
	s.log.Info("grpc", "method", method, "code", status.Code(err).String(), "duration", time.Since(start), "peer", addr)
}

// reportingCreds are TLS credentials that report the server handshakes
// that fail.
type reportingCreds struct {
	credentials.TransportCredentials
	failed func(net.Addr, error)
}

func (r reportingCreds) ServerHandshake(raw net.Conn) (net.Conn, credentials.AuthInfo, error) {
	conn, info, err := r.TransportCredentials.ServerHandshake(raw)
	if err != nil {
		r.failed(raw.RemoteAddr(), err)
	}
	return conn, info, err
}

func (r reportingCreds) Clone() credentials.TransportCredentials {
	return reportingCreds{r.TransportCredentials.Clone(), r.failed}
}
