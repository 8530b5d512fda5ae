package grpcserver

import (
	"context"
	"math"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/trtserve/trtserve/grpcapi/inference"
	"github.com/trtserve/trtserve/kserve"
	"github.com/trtserve/trtserve/shm"
)

// fail is an RPC's error as a status; an Internal error's cause is
// logged (the client sees only the message).
func (s *Server) fail(rpc string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	ke := kserve.CodeOf(err)
	if ke.Code == kserve.Internal && ke.Err != nil {
		s.log.Error("gRPC call failed", "rpc", rpc, "err", ke.Err)
	}
	return status.Error(grpcCode(ke.Code), ke.Msg)
}

func (s *Server) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

func (s *Server) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: s.ready()}, nil
}

// ModelReady is whether a model (version) is loaded and ready: false, with
// no error, for one that is unknown, not loaded or failed; UNAVAILABLE
// while the server itself is not ready (starting, draining), as Triton's
// InferenceServer::ModelIsReady answers ("Server not ready"). (Triton's
// core since June 2026 also fails an unknown model; tritonclient 2.73's
// servers answer false.)
func (s *Server) ModelReady(_ context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	if !s.ready() {
		return nil, status.Error(codes.Unavailable, "Server not ready")
	}
	_, err := kserve.FindModel(s.models, req.Name, req.Version)
	return &pb.ModelReadyResponse{Ready: err == nil}, nil
}

func (s *Server) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{Name: "trtserve", Version: s.opts.Version, Extensions: s.opts.Extensions}, nil
}

func (s *Server) ModelMetadata(_ context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	m, err := kserve.FindModel(s.models, req.Name, req.Version)
	if err != nil {
		return nil, s.fail("ModelMetadata", err)
	}
	md := kserve.Metadata(s.models, m)
	tensors := func(ts []kserve.TensorMetadata) []*pb.ModelMetadataResponse_TensorMetadata {
		out := make([]*pb.ModelMetadataResponse_TensorMetadata, len(ts))
		for i, t := range ts {
			out[i] = &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape}
		}
		return out
	}
	return &pb.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform,
		Inputs: tensors(md.Inputs), Outputs: tensors(md.Outputs)}, nil
}

func (s *Server) ModelConfig(_ context.Context, req *pb.ModelConfigRequest) (*pb.ModelConfigResponse, error) {
	m, err := kserve.FindModel(s.models, req.Name, req.Version)
	if err != nil {
		return nil, s.fail("ModelConfig", err)
	}
	return &pb.ModelConfigResponse{Config: modelConfig(kserve.Config(m))}, nil
}

// modelConfig is kserve's model configuration in Triton's ModelConfig
// message.
func modelConfig(c kserve.ModelConfig) *pb.ModelConfig {
	out := &pb.ModelConfig{
		Name: c.Name, Platform: c.Platform, Backend: c.Backend,
		VersionPolicy: &pb.ModelVersionPolicy{PolicyChoice: &pb.ModelVersionPolicy_Latest_{Latest: &pb.ModelVersionPolicy_Latest{NumVersions: 1}}},
		MaxBatchSize:  clampInt32(c.MaxBatchSize),
		InstanceGroup: []*pb.ModelInstanceGroup{{Name: c.Name, Kind: pb.ModelInstanceGroup_Kind(pb.ModelInstanceGroup_Kind_value[c.InstanceKind]), Count: clampInt32(c.InstanceCount)}},
		Parameters:    map[string]*pb.ModelParameter{},
	}
	for _, t := range c.Inputs {
		out.Input = append(out.Input, &pb.ModelInput{Name: t.Name, DataType: pb.DataType(pb.DataType_value[t.DataType]),
			Format: pb.ModelInput_Format(pb.ModelInput_Format_value[t.Format]), Dims: t.Dims})
	}
	for _, t := range c.Outputs {
		out.Output = append(out.Output, &pb.ModelOutput{Name: t.Name, DataType: pb.DataType(pb.DataType_value[t.DataType]), Dims: t.Dims})
	}
	db := &pb.ModelDynamicBatching{
		MaxQueueDelayMicroseconds: uint64(max(c.MaxQueueDelayMicros, 0)),
		DefaultQueuePolicy:        &pb.ModelQueuePolicy{MaxQueueSize: uint32(min(max(c.MaxQueueSize, 0), math.MaxUint32))},
	}
	for _, b := range c.PreferredBatchSizes {
		db.PreferredBatchSize = append(db.PreferredBatchSize, clampInt32(b))
	}
	out.SchedulingChoice = &pb.ModelConfig_DynamicBatching{DynamicBatching: db}
	for k, v := range c.Parameters {
		out.Parameters[k] = &pb.ModelParameter{StringValue: v}
	}
	return out
}

func clampInt32(v int) int32 { return int32(min(max(v, math.MinInt32), math.MaxInt32)) }

func (s *Server) ModelStatistics(_ context.Context, req *pb.ModelStatisticsRequest) (*pb.ModelStatisticsResponse, error) {
	stats, err := kserve.Statistics(s.models, req.Name, req.Version)
	if err != nil {
		return nil, s.fail("ModelStatistics", err)
	}
	d := func(v kserve.DurationStat) *pb.StatisticDuration {
		return &pb.StatisticDuration{Count: v.Count, Ns: v.Ns}
	}
	out := &pb.ModelStatisticsResponse{ModelStats: make([]*pb.ModelStatistics, len(stats))}
	for i, st := range stats {
		is := st.InferenceStats
		ms := &pb.ModelStatistics{
			Name: st.Name, Version: st.Version, LastInference: uint64(max(st.LastInference, 0)),
			InferenceCount: st.InferenceCount, ExecutionCount: st.ExecutionCount,
			InferenceStats: &pb.InferStatistics{
				Success: d(is.Success), Fail: d(is.Fail), Queue: d(is.Queue),
				ComputeInput: d(is.ComputeInput), ComputeInfer: d(is.ComputeInfer), ComputeOutput: d(is.ComputeOutput),
				CacheHit: d(is.CacheHit), CacheMiss: d(is.CacheMiss),
			},
		}
		for _, b := range st.BatchStats {
			ms.BatchStats = append(ms.BatchStats, &pb.InferBatchStatistics{BatchSize: uint64(max(b.BatchSize, 0)),
				ComputeInput: d(b.ComputeInput), ComputeInfer: d(b.ComputeInfer), ComputeOutput: d(b.ComputeOutput)})
		}
		out.ModelStats[i] = ms
	}
	return out, nil
}

// errRepositoryName: trtserve has one model repository (its roots act as
// one), so a named repository is refused as Triton refuses it.
var errRepositoryName = status.Error(codes.Unimplemented, "'repository_name' specification is not supported")

func (s *Server) RepositoryIndex(_ context.Context, req *pb.RepositoryIndexRequest) (*pb.RepositoryIndexResponse, error) {
	if req.RepositoryName != "" {
		return nil, errRepositoryName
	}
	entries, err := kserve.Index(s.models, req.Ready)
	if err != nil {
		return nil, s.fail("RepositoryIndex", err)
	}
	out := &pb.RepositoryIndexResponse{Models: make([]*pb.RepositoryIndexResponse_ModelIndex, len(entries))}
	for i, e := range entries {
		out.Models[i] = &pb.RepositoryIndexResponse_ModelIndex{Name: e.Name, Version: e.Version, State: e.State, Reason: e.Reason}
	}
	return out, nil
}

// repositoryParams are load parameters as kserve's; bytes parameters
// (file uploads) carry no value kserve reads (LoadParams refuses "file:"
// keys by name).
func repositoryParams(params map[string]*pb.ModelRepositoryParameter) map[string]kserve.Param {
	out := make(map[string]kserve.Param, len(params))
	for k, p := range params {
		switch v := p.GetParameterChoice().(type) {
		case *pb.ModelRepositoryParameter_BoolParam:
			out[k] = kserve.BoolParam(v.BoolParam)
		case *pb.ModelRepositoryParameter_Int64Param:
			out[k] = kserve.IntParam(v.Int64Param)
		case *pb.ModelRepositoryParameter_StringParam:
			out[k] = kserve.StringParam(v.StringParam)
		default:
			out[k] = kserve.Param{}
		}
	}
	return out
}

// controlAllowed is kserve's rule with Triton's gRPC code: load and unload
// in a model control mode other than explicit are UNAVAILABLE (Triton's
// model repository manager answers so).
func controlAllowed(mode string) error {
	if err := kserve.ControlAllowed(mode); err != nil {
		return status.Error(codes.Unavailable, kserve.CodeOf(err).Msg)
	}
	return nil
}

func (s *Server) RepositoryModelLoad(ctx context.Context, req *pb.RepositoryModelLoadRequest) (*pb.RepositoryModelLoadResponse, error) {
	if req.RepositoryName != "" {
		return nil, errRepositoryName
	}
	if err := controlAllowed(s.opts.ModelControl); err != nil {
		return nil, err
	}
	override, err := kserve.LoadParams(repositoryParams(req.Parameters))
	if err != nil {
		return nil, s.fail("RepositoryModelLoad", err)
	}
	// A load goes on when its client goes away (as Triton's does), within
	// the request timeout.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.RequestTimeout)
	defer cancel()
	id, err := kserve.Load(lctx, s.models, req.ModelName, override)
	if err != nil {
		return nil, s.fail("RepositoryModelLoad", err)
	}
	s.log.Info("model loaded", "model", id, "by", "grpc RepositoryModelLoad")
	return &pb.RepositoryModelLoadResponse{}, nil
}

func (s *Server) RepositoryModelUnload(_ context.Context, req *pb.RepositoryModelUnloadRequest) (*pb.RepositoryModelUnloadResponse, error) {
	if req.RepositoryName != "" {
		return nil, errRepositoryName
	}
	if err := controlAllowed(s.opts.ModelControl); err != nil {
		return nil, err
	}
	if err := kserve.Unload(s.models, req.ModelName); err != nil {
		return nil, s.fail("RepositoryModelUnload", err)
	}
	s.log.Info("model unloaded", "model", req.ModelName, "by", "grpc RepositoryModelUnload")
	return &pb.RepositoryModelUnloadResponse{}, nil
}

// errNoSHM answers the shared-memory RPCs of a server built without a
// registry.
var errNoSHM = status.Error(codes.Unimplemented, "shared memory is not enabled on this server")

func (s *Server) SystemSharedMemoryStatus(_ context.Context, req *pb.SystemSharedMemoryStatusRequest) (*pb.SystemSharedMemoryStatusResponse, error) {
	if s.opts.Regions == nil {
		return nil, errNoSHM
	}
	sts, err := s.opts.Regions.Status(shm.System, req.Name)
	if err != nil {
		return nil, shmStatus(err)
	}
	out := &pb.SystemSharedMemoryStatusResponse{Regions: make(map[string]*pb.SystemSharedMemoryStatusResponse_RegionStatus, len(sts))}
	for _, st := range sts {
		out.Regions[st.Name] = &pb.SystemSharedMemoryStatusResponse_RegionStatus{Name: st.Name, Key: st.Key, Offset: st.Offset, ByteSize: st.ByteSize}
	}
	return out, nil
}

func (s *Server) SystemSharedMemoryRegister(_ context.Context, req *pb.SystemSharedMemoryRegisterRequest) (*pb.SystemSharedMemoryRegisterResponse, error) {
	if s.opts.Regions == nil {
		return nil, errNoSHM
	}
	if err := s.opts.Regions.RegisterSystem(req.Name, req.Key, req.Offset, req.ByteSize); err != nil {
		return nil, shmStatus(err)
	}
	return &pb.SystemSharedMemoryRegisterResponse{}, nil
}

func (s *Server) SystemSharedMemoryUnregister(_ context.Context, req *pb.SystemSharedMemoryUnregisterRequest) (*pb.SystemSharedMemoryUnregisterResponse, error) {
	if s.opts.Regions == nil {
		return nil, errNoSHM
	}
	if err := s.opts.Regions.Unregister(shm.System, req.Name); err != nil {
		return nil, shmStatus(err)
	}
	return &pb.SystemSharedMemoryUnregisterResponse{}, nil
}

func (s *Server) CudaSharedMemoryStatus(_ context.Context, req *pb.CudaSharedMemoryStatusRequest) (*pb.CudaSharedMemoryStatusResponse, error) {
	if s.opts.Regions == nil {
		return nil, errNoSHM
	}
	sts, err := s.opts.Regions.Status(shm.CUDA, req.Name)
	if err != nil {
		return nil, shmStatus(err)
	}
	out := &pb.CudaSharedMemoryStatusResponse{Regions: make(map[string]*pb.CudaSharedMemoryStatusResponse_RegionStatus, len(sts))}
	for _, st := range sts {
		out.Regions[st.Name] = &pb.CudaSharedMemoryStatusResponse_RegionStatus{Name: st.Name, DeviceId: uint64(max(st.DeviceID, 0)), ByteSize: st.ByteSize}
	}
	return out, nil
}

func (s *Server) CudaSharedMemoryRegister(_ context.Context, req *pb.CudaSharedMemoryRegisterRequest) (*pb.CudaSharedMemoryRegisterResponse, error) {
	if s.opts.Regions == nil {
		return nil, errNoSHM
	}
	if req.DeviceId < 0 || req.DeviceId > math.MaxInt32 {
		return nil, invalidf("device_id %d out of range", req.DeviceId)
	}
	if err := s.opts.Regions.RegisterCUDA(req.Name, req.RawHandle, int(req.DeviceId), req.ByteSize); err != nil {
		return nil, shmStatus(err)
	}
	return &pb.CudaSharedMemoryRegisterResponse{}, nil
}

func (s *Server) CudaSharedMemoryUnregister(_ context.Context, req *pb.CudaSharedMemoryUnregisterRequest) (*pb.CudaSharedMemoryUnregisterResponse, error) {
	if s.opts.Regions == nil {
		return nil, errNoSHM
	}
	if err := s.opts.Regions.Unregister(shm.CUDA, req.Name); err != nil {
		return nil, shmStatus(err)
	}
	return &pb.CudaSharedMemoryUnregisterResponse{}, nil
}

func (s *Server) TraceSetting(context.Context, *pb.TraceSettingRequest) (*pb.TraceSettingResponse, error) {
	return nil, status.Error(codes.Unimplemented, "TraceSetting is not supported: trtserve has no request tracing (use --access-log and /metrics)")
}

func (s *Server) LogSettings(context.Context, *pb.LogSettingsRequest) (*pb.LogSettingsResponse, error) {
	return nil, status.Error(codes.Unimplemented, "LogSettings is not supported: set --log-level and --access-log at start")
}
