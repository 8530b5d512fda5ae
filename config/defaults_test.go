package config

import (
	"reflect"
	"testing"

	"github.com/caarlos0/env/v10"
)

// The envDefault tags must spell the constants of defaults.go: parsing an
// empty environment gives every default, and each field with a tag must
// be in this table, so a new default cannot live in a tag alone.
func TestEnvDefaultsMatchConstants(t *testing.T) {
	want := map[string]any{
		"Host": DefaultHost, "Port": DefaultPort, "ModelRepository": DefaultModelRepository, "LoadModels": DefaultLoadModels,
		"MaxBatchSize": DefaultMaxBatchSize, "InstanceCount": DefaultInstanceCount,
		"MaxBodyBytes": DefaultMaxBodyBytes, "MaxImagePixels": DefaultMaxImagePixels,
		"RequestTimeout": DefaultRequestTimeout, "ShutdownTimeout": DefaultShutdownTimeout,
		"ReadTimeout": DefaultReadTimeout, "WriteTimeout": DefaultWriteTimeout, "MaxConnections": DefaultMaxConnections,
		"Pipeline": DefaultPipeline, "MaxQueueSize": DefaultMaxQueueSize,
		"MaxImagesPerRequest": DefaultMaxImagesPerRequest, "MaxInflightBytes": 0, // 0: derived from the memory limit
		"TensorRT": DefaultTensorRT, "AllowEngineHostCode": DefaultAllowEngineHostCode, "GPU": DefaultGPU,
		"CUDAMockDevices": DefaultCUDAMockDevices, "ModelControl": DefaultModelControl, "PollInterval": DefaultPollInterval,
		"LogLevel": DefaultLogLevel, "LogFormat": DefaultLogFormat,
		// Zero, with a meaning of its own: one thread or worker per core,
		// no delay, no cap, off.
		"IntraOpThreads": 0, "MaxQueueDelay": 0, "DecodeWorkers": 0, "PostWorkers": 0, "MaxActiveModels": 0,
		"PinnedPoolBytes": 0, "AllowURLInput": false, "JPEGDCTScaling": false, "ExitOnGPUFault": false,
		"CUDAMock": false, "AccessLog": false, "SharedMemory": DefaultSharedMemory,
		"GRPCPort": DefaultGRPCPort, "GRPCMaxMessageBytes": DefaultGRPCMaxMessageBytes,
		"GRPCKeepaliveTime": DefaultGRPCKeepaliveTime, "GRPCKeepaliveTimeout": DefaultGRPCKeepaliveTimeout,
		"GRPCKeepaliveMinPingInterval": DefaultGRPCKeepaliveMinPingInterval, "GRPCKeepalivePermitWithoutCalls": DefaultGRPCKeepalivePermitWithoutCalls,
		"GRPCWindowBytes":   0, // 0: grpc-go's dynamic windows
		"TLSReloadInterval": DefaultTLSReloadInterval,
		"HealthPort":        0, // 0: off
	}
	check := func(t *testing.T, v any, want map[string]any) {
		var c = reflect.New(reflect.TypeOf(v)).Interface()
		if err := env.ParseWithOptions(c, env.Options{Environment: map[string]string{}}); err != nil {
			t.Fatal(err)
		}
		rv, rt := reflect.ValueOf(c).Elem(), reflect.TypeOf(v)
		for i := range rt.NumField() {
			f := rt.Field(i)
			if _, tagged := f.Tag.Lookup("envDefault"); !tagged {
				continue
			}
			w, ok := want[f.Name]
			if !ok {
				t.Errorf("%s.%s has envDefault %q but no constant in defaults.go (add it, and to this table)", rt.Name(), f.Name, f.Tag.Get("envDefault"))
				continue
			}
			got := rv.Field(i)
			wv := reflect.ValueOf(w)
			if !wv.Type().ConvertibleTo(got.Type()) || !reflect.DeepEqual(got.Interface(), wv.Convert(got.Type()).Interface()) {
				t.Errorf("%s.%s: envDefault %q gives %v, the constant is %v", rt.Name(), f.Name, f.Tag.Get("envDefault"), got.Interface(), w)
			}
		}
	}
	t.Run("Config", func(t *testing.T) { check(t, Config{}, want) })
	t.Run("Doctor", func(t *testing.T) { check(t, Doctor{}, map[string]any{"GPU": DefaultGPU, "CUDAMock": false}) })
}
