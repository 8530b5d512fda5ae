package server

import (
	"math"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/trtserve/trtserve/model"
)

// kpRequest is KeypointsDetectionInferenceRequest: detection's fields plus
// keypoint_confidence.
type kpRequest struct {
	odRequest
	KeypointConfidence *float64 `json:"keypoint_confidence"`
}

type kpPoint struct {
	X          float64 `json:"x"`
	Y          float64 `json:"y"`
	Confidence float64 `json:"confidence"`
	ClassID    int     `json:"class_id"`
	Class      string  `json:"class"`
}

// kpPrediction is KeypointsPrediction.
type kpPrediction struct {
	odPrediction
	Keypoints []kpPoint `json:"keypoints"`
}

type kpResponse struct {
	InferenceID   string         `json:"inference_id,omitempty"`
	Time          float64        `json:"time"`
	Image         imageDims      `json:"image"`
	Predictions   []kpPrediction `json:"predictions"`
	Visualization string         `json:"visualization,omitempty"`
}

func keypointName(m *model.Spec, id int) string {
	if id >= 0 && id < len(m.KeypointNames) {
		return m.KeypointNames[id]
	}
	return strconv.Itoa(id)
}

// keypointConfidence validates keypoint_confidence (default 0).
func keypointConfidence(v *float64) (float64, error) {
	if v == nil {
		return 0, nil
	}
	if math.IsNaN(*v) || *v < 0 || *v > 1 {
		return 0, badRequest("keypoint_confidence must be between 0 and 1, got %v", *v)
	}
	return *v, nil
}

func (s *Server) inferKeypoints(c *fiber.Ctx) error {
	start := time.Now()
	var req kpRequest
	images, list, err := s.parseJSONRequest(c, &req, &req.Image)
	if err != nil {
		return err
	}
	if string(req.Confidence) == `"best"` {
		// Roboflow's keypoints request refuses it too: no per-model optimum
		// exists for keypoints.
		return badRequest(`confidence "best" is not supported for keypoints models`)
	}
	kpConf, err := keypointConfidence(req.KeypointConfidence)
	if err != nil {
		return err
	}
	return s.detectTask(c, start, &req.odRequest, images, list, model.KeypointDetection, kpConf)
}
