package server

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	gojson "github.com/goccy/go-json"
	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/kserve"
	"github.com/trtserve/trtserve/shm"
)

// Triton's system and CUDA shared-memory extensions over HTTP, as
// tritonclient.http calls them:
//
//	GET  /v2/{systemsharedmemory|cudasharedmemory}[/region/{name}]/status
//	POST /v2/systemsharedmemory/region/{name}/register  {"key", "offset", "byte_size"}
//	POST /v2/cudasharedmemory/region/{name}/register    {"raw_handle": {"b64"}, "device_id", "byte_size"}
//	POST /v2/{systemsharedmemory|cudasharedmemory}[/region/{name}]/unregister
//
// Statuses as Triton's HTTP server answers them: a bad request, a name
// already registered or a window out of bounds 400; the status of an
// unknown region 404; unregistering an unknown name succeeds; a server
// without a registry 501. Inference tensors name regions through the
// shared_memory_* parameters (package kserve).

// shmExtensions are the protocol extensions a server with a registry adds.
var shmExtensions = []string{"system_shared_memory", "cuda_shared_memory"}

func (s *Server) shmRoutes() {
	a := s.app
	for _, kind := range []shm.Kind{shm.System, shm.CUDA} {
		base := "/v2/systemsharedmemory"
		if kind == shm.CUDA {
			base = "/v2/cudasharedmemory"
		}
		a.Get(base+"/status", s.shmStatus(kind))
		a.Get(base+"/region/:name/status", s.shmStatus(kind))
		a.Post(base+"/region/:name/register", s.shmRegister(kind))
		a.Post(base+"/unregister", s.shmUnregister(kind))
		a.Post(base+"/region/:name/unregister", s.shmUnregister(kind))
	}
}

// shmRegion is the registry and the region a route names, or the error a
// server without a registry answers. The region's name is the :name path parameter, which clients
// percent-encode, copied: Fiber's parameters point into a buffer fasthttp
// reuses, and the registry keeps the name.
func (s *Server) shmRegion(c *fiber.Ctx) (*shm.Registry, string, error) {
	if s.opts.SharedMemory == nil {
		return nil, "", &kserve.Error{Code: kserve.Unimplemented, Msg: "shared memory support is not enabled on this server"}
	}
	raw := c.Params("name")
	name, err := url.PathUnescape(raw)
	if err != nil {
		return nil, "", badRequest("region name %q is not a valid percent-encoded path segment", raw)
	}
	return s.opts.SharedMemory, strings.Clone(name), nil
}

// shmRegionStatus is one region as Triton's status answers show it.
type shmRegionStatus struct {
	Name     string  `json:"name"`
	Key      *string `json:"key,omitempty"`
	Offset   *uint64 `json:"offset,omitempty"`
	DeviceID *int    `json:"device_id,omitempty"`
	ByteSize uint64  `json:"byte_size"`
}

func (s *Server) shmStatus(kind shm.Kind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		reg, name, err := s.shmRegion(c)
		if err != nil {
			return err
		}
		regions, err := reg.Status(kind, name)
		if err != nil {
			return kserve.RegionError(err)
		}
		out := make([]shmRegionStatus, len(regions))
		for i, r := range regions {
			out[i] = shmRegionStatus{Name: r.Name, ByteSize: r.ByteSize}
			if kind == shm.System {
				out[i].Key, out[i].Offset = &r.Key, &r.Offset
			} else {
				out[i].DeviceID = &r.DeviceID
			}
		}
		return c.JSON(out)
	}
}

// shmRegisterRequest is either register body; pointers tell absent fields.
type shmRegisterRequest struct {
	Key       *string `json:"key"`
	Offset    *uint64 `json:"offset"`
	ByteSize  *uint64 `json:"byte_size"`
	DeviceID  *int64  `json:"device_id"`
	RawHandle *struct {
		B64 *string `json:"b64"`
	} `json:"raw_handle"`
}

func (s *Server) shmRegister(kind shm.Kind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		reg, name, err := s.shmRegion(c)
		if err != nil {
			return err
		}
		var req shmRegisterRequest
		if err := gojson.Unmarshal(c.Body(), &req); err != nil {
			return badRequest("malformed JSON shared memory register request: %v", err)
		}
		if req.ByteSize == nil {
			return badRequest("Shared memory register request has no 'byte_size' field")
		}
		if kind == shm.System {
			if req.Key == nil {
				return badRequest("Shared memory register request has no 'key' field")
			}
			var offset uint64
			if req.Offset != nil {
				offset = *req.Offset
			}
			err = reg.RegisterSystem(name, strings.Clone(*req.Key), offset, *req.ByteSize)
		} else {
			if req.RawHandle == nil || req.RawHandle.B64 == nil {
				return badRequest("Shared memory register request has no 'raw_handle' field with 'b64'")
			}
			if req.DeviceID == nil {
				return badRequest("Shared memory register request has no 'device_id' field")
			}
			if *req.DeviceID < 0 || *req.DeviceID > 1<<20 {
				return badRequest("device_id %d is not a device number", *req.DeviceID)
			}
			handle, derr := base64.StdEncoding.DecodeString(*req.RawHandle.B64)
			if derr != nil || len(handle) != shm.CUDAHandleSize {
				return badRequest("'raw_handle' must be a valid base64 encoded cudaIpcMemHandle_t")
			}
			err = reg.RegisterCUDA(name, handle, int(*req.DeviceID), *req.ByteSize)
		}
		if err != nil {
			return kserve.RegionError(err)
		}
		s.log.Info("shared memory region registered", "kind", kind.String(), "region", kserve.Clip(name), "bytes", *req.ByteSize)
		return empty(c, http.StatusOK)
	}
}

func (s *Server) shmUnregister(kind shm.Kind) fiber.Handler {
	return func(c *fiber.Ctx) error {
		reg, name, err := s.shmRegion(c)
		if err != nil {
			return err
		}
		if err := reg.Unregister(kind, name); err != nil {
			return kserve.RegionError(err)
		}
		return empty(c, http.StatusOK)
	}
}
