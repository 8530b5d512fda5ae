package engines

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Defaults applied when neither the model nor config.yaml says otherwise.
type Defaults struct {
	Backend       string
	MaxBatchSize  int
	InstanceCount int
	// ForceBackend, when set, runs every model on this backend whatever
	// its config.yaml says (--backend; used to benchmark on the simulated
	// accelerator).
	ForceBackend string
}

// Repository finds models in one or more folders laid out as
// <root>/<name>/<version>/model.onnx (Triton-like, optional
// <root>/<name>/config.yaml) or <root>/<dataset>/<version>/weights.onnx
// (Roboflow's model cache; yolov5s_weights.onnx for its YOLOv5 models).
type Repository struct {
	Roots    []string
	Defaults Defaults
}

// Entry is a model version found on disk, before it is resolved.
type Entry struct {
	Name, Version, Dir, File, Source string
}

// ID is "name/version".
func (e Entry) ID() string { return e.Name + "/" + e.Version }

// ConfigPath is the model's config.yaml, shared by its versions.
func (e Entry) ConfigPath() string { return filepath.Join(filepath.Dir(e.Dir), "config.yaml") }

// Fingerprint changes when a file of the version folder or the model's
// config.yaml is added, removed, resized or touched: the repository poller
// reloads a model when it does.
func (e Entry) Fingerprint() string {
	var b strings.Builder
	stamp := func(p string) {
		if st, err := os.Stat(p); err == nil { // follows symlinks: a relinked file counts
			fmt.Fprintf(&b, "%s:%d:%d;", p, st.Size(), st.ModTime().UnixNano())
		}
	}
	stamp(e.ConfigPath())
	files, _ := os.ReadDir(e.Dir)
	for _, f := range files {
		stamp(filepath.Join(e.Dir, f.Name()))
	}
	return b.String()
}

// Scan lists every model version in the repository, sorted by ID. Folders
// that hold no weights are ignored; unreadable roots are errors.
func (r *Repository) Scan() ([]Entry, error) {
	var out []Entry
	seen := map[string]bool{}
	for _, root := range r.Roots {
		names, err := os.ReadDir(root)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("scan model repository: %w", err)
		}
		for _, n := range names {
			if !n.IsDir() || strings.HasPrefix(n.Name(), ".") {
				continue
			}
			versions, err := os.ReadDir(filepath.Join(root, n.Name()))
			if err != nil {
				continue
			}
			for _, v := range versions {
				if !v.IsDir() {
					continue
				}
				dir := filepath.Join(root, n.Name(), v.Name())
				e := Entry{Name: n.Name(), Version: v.Name(), Dir: dir}
				switch {
				case fileExists(filepath.Join(dir, "model.onnx")):
					e.File, e.Source = filepath.Join(dir, "model.onnx"), "repository"
				case fileExists(filepath.Join(dir, "weights.onnx")):
					e.File, e.Source = filepath.Join(dir, "weights.onnx"), "roboflow"
				case fileExists(filepath.Join(dir, "yolov5s_weights.onnx")): // what inference-core's YOLOv5 classes read
					e.File, e.Source = filepath.Join(dir, "yolov5s_weights.onnx"), "roboflow"
				case EngineFile(dir) != "":
					e.File, e.Source = EngineFile(dir), "engine"
				default:
					continue
				}
				if !seen[e.ID()] { // the first root wins
					seen[e.ID()] = true
					out = append(out, e)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID() < out[j].ID() })
	return out, nil
}

// Find returns the entry for "name/version" (or the highest version of a
// bare name).
func (r *Repository) Find(id string) (Entry, error) {
	name, version := SplitID(id)
	entries, err := r.Scan()
	if err != nil {
		return Entry{}, err
	}
	var best *Entry
	for i, e := range entries {
		if e.Name != name {
			continue
		}
		if version == "" {
			if best == nil || VersionLess(best.Version, e.Version) {
				best = &entries[i]
			}
		} else if e.Version == version {
			return e, nil
		}
	}
	if best != nil {
		return *best, nil
	}
	return Entry{}, fmt.Errorf("%w: %s", ErrUnknownModel, id)
}

// VersionLess orders versions numerically when both are numbers (Triton's
// versions are), else as strings.
func VersionLess(a, b string) bool {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// FileConfig is models/<name>/config.yaml. Every field is optional and
// overrides what was read from the model's own files.
type FileConfig struct {
	Backend       string   `yaml:"backend"`
	Task          string   `yaml:"task"`
	ClassNames    []string `yaml:"class_names"`
	InputWidth    int      `yaml:"input_width"`
	InputHeight   int      `yaml:"input_height"`
	Preprocessing struct {
		Resize     string      `yaml:"resize"`
		AutoOrient *bool       `yaml:"auto_orient"`
		Mean       *[3]float32 `yaml:"mean"`
		Std        *[3]float32 `yaml:"std"`
	} `yaml:"preprocessing"`
	NMS             string           `yaml:"nms"`
	OutputLayout    string           `yaml:"output_layout"`
	MaxBatchSize    int              `yaml:"max_batch_size"`
	InstanceCount   int              `yaml:"instance_count"`
	DynamicBatching *DynamicBatching `yaml:"dynamic_batching"`
	Simulated       *SimulatedTiming `yaml:"simulated"`
	// Precision is what the TensorRT backend builds the engine with:
	// fp32 (default), fp16, bf16, int8 or strongly-typed.
	Precision string `yaml:"precision"`
	// TF32 false makes the TensorRT build keep TF32 kernels out of fp32
	// layers; absent or true is TensorRT's default (TF32 allowed). A
	// pointer, because absent and true mean the same but false is a choice.
	TF32 *bool `yaml:"tf32"`
}

// ParseFileConfig decodes config.yaml strictly: unknown keys are errors, so
// a typo never silently falls back to a default.
func ParseFileConfig(data []byte) (*FileConfig, error) {
	var c FileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: config.yaml: %v", ErrBadModel, err)
	}
	if c.NMS != "" && c.NMS != "roboflow" && c.NMS != "ultralytics" {
		return nil, fmt.Errorf("%w: config.yaml: nms must be roboflow or ultralytics, got %q", ErrBadModel, c.NMS)
	}
	if c.OutputLayout != "" && c.OutputLayout != "yolov8" && c.OutputLayout != "yolov5" {
		return nil, fmt.Errorf("%w: config.yaml: output_layout must be yolov8 or yolov5, got %q", ErrBadModel, c.OutputLayout)
	}
	if c.MaxBatchSize < 0 || c.InstanceCount < 0 {
		return nil, fmt.Errorf("%w: config.yaml: max_batch_size and instance_count must not be negative", ErrBadModel)
	}
	return &c, nil
}

// Resolve reads a model's files and config into a Model.
func (r *Repository) Resolve(e Entry) (*Model, error) { return r.ResolveWith(e, nil) }

// ResolveWith is Resolve with override, when not nil, read in place of the
// model's config.yaml: the same keys, as YAML or JSON (KServe's load
// request carries the config as a JSON string).
func (r *Repository) ResolveWith(e Entry, override []byte) (*Model, error) {
	if e.Source == "engine" {
		return r.resolveEngine(e, override)
	}
	info, err := ReadONNXInfoFile(e.File)
	if err != nil {
		return nil, err
	}
	m := &Model{
		Name: e.Name, Version: e.Version, Dir: e.Dir, File: e.File, Source: e.Source,
		Backend: r.Defaults.Backend, NMS: "roboflow", OutputLayout: "yolov8",
		InstanceCount: r.Defaults.InstanceCount, ONNX: info,
	}
	if len(info.Inputs[0].Shape) != 4 {
		return nil, fmt.Errorf("%w: %s: input %s must be NCHW, got %v", ErrBadModel, e.ID(), info.Inputs[0].Name, info.Inputs[0].Shape)
	}
	if h, w := info.Inputs[0].Shape[2], info.Inputs[0].Shape[3]; h > 0 && w > 0 {
		m.InputHeight, m.InputWidth = int(h), int(w)
	}
	switch e.Source {
	case "roboflow":
		err = applyRoboflow(m)
	default:
		err = applyUltralytics(m, info)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.ID(), err)
	}
	cfgPath := e.ConfigPath()
	data, err := os.ReadFile(cfgPath)
	if override != nil {
		data, err = override, nil
	}
	if err == nil {
		fc, err := ParseFileConfig(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.ID(), err)
		}
		if err := applyFileConfig(m, fc); err != nil {
			return nil, fmt.Errorf("%s: %w", e.ID(), err)
		}
	}
	if m.Task == "" {
		return nil, fmt.Errorf("%w: %s: cannot tell the task (no Ultralytics metadata, no model_type.json): set task in %s", ErrBadModel, e.ID(), cfgPath)
	}
	if m.InputWidth <= 0 || m.InputHeight <= 0 {
		return nil, fmt.Errorf("%w: %s: input size is dynamic and no imgsz metadata or config says what it is: set input_width/input_height in %s", ErrBadModel, e.ID(), cfgPath)
	}
	if m.Pre.Std == ([3]float32{}) {
		m.Pre.Std = [3]float32{1, 1, 1}
	}
	if b := info.Inputs[0].Shape[0]; b > 0 {
		m.MaxBatchSize = int(b) // fixed-batch model: the file decides
	} else if m.MaxBatchSize == 0 {
		m.MaxBatchSize = r.Defaults.MaxBatchSize
	}
	if m.MaxBatchSize <= 0 {
		m.MaxBatchSize = 1
	}
	if m.InstanceCount <= 0 {
		m.InstanceCount = 1
	}
	if m.Backend == "" {
		m.Backend = "onnxruntime"
	}
	if r.Defaults.ForceBackend != "" {
		m.Backend = r.Defaults.ForceBackend
	}
	return m, nil
}

func applyFileConfig(m *Model, c *FileConfig) error {
	if c.Backend != "" {
		m.Backend = c.Backend
	}
	if c.Precision != "" {
		switch c.Precision {
		case "fp32", "fp16", "bf16", "int8", "strongly-typed":
			m.Precision = c.Precision
		default:
			return fmt.Errorf("%w: config.yaml: precision must be fp32, fp16, bf16, int8 or strongly-typed, got %q", ErrBadModel, c.Precision)
		}
	}
	if c.TF32 != nil {
		m.DisableTF32 = !*c.TF32
	}
	if c.Task != "" {
		t, err := ParseTask(c.Task)
		if err != nil {
			return err
		}
		m.Task = t
		m.Pre.Mean, m.Pre.Std = taskNormalization(t)
	}
	if len(c.ClassNames) > 0 {
		m.ClassNames = c.ClassNames
	}
	if c.InputWidth > 0 {
		m.InputWidth = c.InputWidth
	}
	if c.InputHeight > 0 {
		m.InputHeight = c.InputHeight
	}
	if c.Preprocessing.Resize != "" {
		m.Pre.Resize = ParseResizeMode(c.Preprocessing.Resize)
	}
	if c.Preprocessing.AutoOrient != nil {
		m.Pre.AutoOrient = *c.Preprocessing.AutoOrient
	}
	if c.Preprocessing.Mean != nil {
		m.Pre.Mean = *c.Preprocessing.Mean
	}
	if c.Preprocessing.Std != nil {
		for _, s := range c.Preprocessing.Std {
			if s == 0 {
				return fmt.Errorf("%w: config.yaml: preprocessing.std must not be 0", ErrBadModel)
			}
		}
		m.Pre.Std = *c.Preprocessing.Std
	}
	if c.NMS != "" {
		m.NMS = c.NMS
	}
	if c.OutputLayout != "" {
		m.OutputLayout = c.OutputLayout
	}
	if c.MaxBatchSize > 0 {
		m.MaxBatchSize = c.MaxBatchSize
	}
	if c.InstanceCount > 0 {
		m.InstanceCount = c.InstanceCount
	}
	if c.DynamicBatching != nil {
		m.Batching = *c.DynamicBatching
	}
	if c.Simulated != nil {
		if c.Simulated.BaseMicros < 0 || c.Simulated.PerItemMicros < 0 {
			return fmt.Errorf("%w: config.yaml: simulated times must not be negative", ErrBadModel)
		}
		m.Simulated = *c.Simulated
	}
	return nil
}

// taskNormalization is Roboflow's: detection-like tasks divide by 255;
// classification also maps [0,1] to [-1,1] ((x-0.5)/0.5).
func taskNormalization(t Task) (mean, std [3]float32) {
	if t == Classification {
		return [3]float32{0.5, 0.5, 0.5}, [3]float32{0.5, 0.5, 0.5}
	}
	return [3]float32{}, [3]float32{1, 1, 1}
}

// applyUltralytics reads an Ultralytics export's metadata_props. Without
// environment.json there is no Roboflow preprocessing to follow, so such
// models get Ultralytics' own: letterbox with grey (114) edges, EXIF
// auto-orientation on. YOLOv5 exports (ultralytics/yolov5's export.py)
// carry names and stride but no task: a single output [batch, anchors,
// 5+classes] makes them YOLOv5-layout detectors (YOLOv8's is [batch,
// 4+classes, anchors]), with a task in the metadata or without.
func applyUltralytics(m *Model, info *ONNXInfo) error {
	meta := info.Metadata
	m.Pre.Resize = FitGrey
	m.Pre.AutoOrient = true
	if task, ok := meta["task"]; ok {
		t, err := ParseTask(task)
		if err != nil {
			return err
		}
		m.Task = t
		m.ModelType = "yolov8"
	}
	if names, ok := meta["names"]; ok {
		list, err := ParsePythonNames(names)
		if err != nil {
			return fmt.Errorf("%w: metadata names: %v", ErrBadModel, err)
		}
		m.ClassNames = list
	}
	if n := int64(len(m.ClassNames)); n > 0 && (m.Task == "" || m.Task == ObjectDetection) &&
		len(info.Outputs) == 1 && len(info.Outputs[0].Shape) == 3 {
		if s := info.Outputs[0].Shape; s[2] == 5+n && s[1] != 4+n {
			m.Task, m.ModelType, m.OutputLayout = ObjectDetection, "yolov5", "yolov5"
		}
	}
	h, w, err := MetadataImageSize(meta)
	if err != nil {
		return err
	}
	if h > 0 && m.InputHeight == 0 {
		m.InputHeight, m.InputWidth = h, w
	}
	if kpt, ok := meta["kpt_shape"]; ok {
		dims, err := parseIntList(kpt)
		if err != nil || len(dims) != 2 {
			return fmt.Errorf("%w: metadata kpt_shape %q", ErrBadModel, kpt)
		}
		m.KeypointNames = make([]string, dims[0])
		for i := range m.KeypointNames {
			m.KeypointNames[i] = strconv.Itoa(i)
		}
	}
	m.Pre.Mean, m.Pre.Std = taskNormalization(m.Task)
	return nil
}

// MetadataImageSize is the input size in an Ultralytics export's imgsz
// metadata ("[h, w]" or "n"), or 0, 0 when there is none.
func MetadataImageSize(meta map[string]string) (h, w int, err error) {
	imgsz, ok := meta["imgsz"]
	if !ok {
		return 0, 0, nil
	}
	dims, err := parseIntList(imgsz)
	if err != nil || len(dims) == 0 {
		return 0, 0, fmt.Errorf("%w: metadata imgsz %q", ErrBadModel, imgsz)
	}
	h, w = dims[0], dims[0]
	if len(dims) > 1 {
		w = dims[1]
	}
	return h, w, nil
}

func parseIntList(s string) ([]int, error) {
	s = strings.Trim(strings.TrimSpace(s), "[]()")
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// ParsePythonNames parses the Python literal Ultralytics writes for class
// names into a slice indexed by id: a dict, e.g. {0: 'person', 1: "it's"},
// or, in YOLOv5 exports made from list-style dataset files, a list.
func ParsePythonNames(s string) ([]string, error) {
	p := pyLexer{s: strings.TrimSpace(s)}
	if p.eat('[') {
		return p.list()
	}
	if !p.eat('{') {
		return nil, fmt.Errorf("names: expected '{' or '['")
	}
	byID := map[int]string{}
	maxID := -1
	for {
		p.skipSpace()
		if p.eat('}') {
			break
		}
		id, err := p.int()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if !p.eat(':') {
			return nil, fmt.Errorf("names: expected ':' after %d", id)
		}
		p.skipSpace()
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		if id < 0 || id > 1<<16 {
			return nil, fmt.Errorf("names: class id %d out of range", id)
		}
		byID[id] = name
		if id > maxID {
			maxID = id
		}
		p.skipSpace()
		if p.eat(',') {
			continue
		}
		p.skipSpace()
		if !p.eat('}') {
			return nil, fmt.Errorf("names: expected ',' or '}' at offset %d", p.i)
		}
		break
	}
	out := make([]string, maxID+1)
	for i := range out {
		if n, ok := byID[i]; ok {
			out[i] = n
		} else {
			out[i] = strconv.Itoa(i)
		}
	}
	return out, nil
}

type pyLexer struct {
	s string
	i int
}

// list reads the strings of a list literal whose '[' is already eaten.
func (p *pyLexer) list() ([]string, error) {
	out := []string{}
	for {
		p.skipSpace()
		if p.eat(']') {
			return out, nil
		}
		if len(out) > 1<<16 {
			return nil, fmt.Errorf("names: more than %d classes", 1<<16)
		}
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		out = append(out, name)
		p.skipSpace()
		if p.eat(',') {
			continue
		}
		if !p.eat(']') {
			return nil, fmt.Errorf("names: expected ',' or ']' at offset %d", p.i)
		}
		return out, nil
	}
}

func (p *pyLexer) skipSpace() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
}

func (p *pyLexer) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *pyLexer) int() (int, error) {
	start := p.i
	if p.i < len(p.s) && p.s[p.i] == '-' {
		p.i++
	}
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i-start > 7 {
		return 0, fmt.Errorf("names: class id too long at offset %d", start)
	}
	n, err := strconv.Atoi(p.s[start:p.i])
	if err != nil {
		return 0, fmt.Errorf("names: expected a class id at offset %d", start)
	}
	return n, nil
}

func (p *pyLexer) str() (string, error) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", fmt.Errorf("names: expected a quoted string at offset %d", p.i)
	}
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case q:
			return b.String(), nil
		case '\\':
			if p.i >= len(p.s) {
				return "", fmt.Errorf("names: unterminated string")
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("names: unterminated string")
}

// roboflowEnv is the part of environment.json trtserve uses.
type roboflowEnv struct {
	Preprocessing json.RawMessage   `json:"PREPROCESSING"`
	ClassMap      map[string]string `json:"CLASS_MAP"`
	Colors        map[string]string `json:"COLORS"`
	Multiclass    bool              `json:"MULTICLASS"`
}

type roboflowPre struct {
	AutoOrient *struct {
		Enabled bool `json:"enabled"`
	} `json:"auto-orient"`
	Resize *struct {
		Enabled bool   `json:"enabled"`
		Width   int    `json:"width"`
		Height  int    `json:"height"`
		Format  string `json:"format"`
	} `json:"resize"`
	StaticCrop *struct {
		Enabled bool    `json:"enabled"`
		XMin    float64 `json:"x_min"`
		YMin    float64 `json:"y_min"`
		XMax    float64 `json:"x_max"`
		YMax    float64 `json:"y_max"`
	} `json:"static-crop"`
	Grayscale *struct {
		Enabled bool `json:"enabled"`
	} `json:"grayscale"`
	Contrast *struct {
		Enabled bool   `json:"enabled"`
		Type    string `json:"type"`
	} `json:"contrast"`
}

// ParseRoboflowPreprocessing decodes environment.json's PREPROCESSING, which
// Roboflow stores either as an object or as a JSON string holding one.
func ParseRoboflowPreprocessing(raw json.RawMessage) (*roboflowPre, error) {
	var pre roboflowPre
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return &pre, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = json.RawMessage(s)
	}
	if err := json.Unmarshal(raw, &pre); err != nil {
		return nil, err
	}
	return &pre, nil
}

// applyRoboflow reads a Roboflow model-cache folder: model_type.json,
// environment.json, class_names.txt, keypoints_metadata.json.
func applyRoboflow(m *Model) error {
	var mt struct {
		TaskType  string `json:"project_task_type"`
		ModelType string `json:"model_type"`
	}
	if data, err := os.ReadFile(filepath.Join(m.Dir, "model_type.json")); err == nil {
		if err := json.Unmarshal(data, &mt); err != nil {
			return fmt.Errorf("%w: model_type.json: %v", ErrBadModel, err)
		}
		if mt.TaskType != "" {
			t, err := ParseTask(mt.TaskType)
			if err != nil {
				return err
			}
			m.Task = t
		}
		m.ModelType = mt.ModelType
		if strings.HasPrefix(strings.ToLower(mt.ModelType), "yolov5") {
			m.OutputLayout = "yolov5"
		}
	}
	var env roboflowEnv
	data, err := os.ReadFile(filepath.Join(m.Dir, "environment.json"))
	if err != nil {
		return fmt.Errorf("%w: Roboflow model folder without environment.json: %v", ErrBadModel, err)
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return fmt.Errorf("%w: environment.json: %v", ErrBadModel, err)
	}
	pre, err := ParseRoboflowPreprocessing(env.Preprocessing)
	if err != nil {
		return fmt.Errorf("%w: environment.json PREPROCESSING: %v", ErrBadModel, err)
	}
	m.Pre.Resize = Stretch
	if pre.Resize != nil {
		m.Pre.Resize = ParseResizeMode(pre.Resize.Format)
		if m.InputWidth == 0 && pre.Resize.Width > 0 && pre.Resize.Height > 0 {
			m.InputWidth, m.InputHeight = pre.Resize.Width, pre.Resize.Height
		}
	}
	if m.InputWidth == 0 { // Roboflow's fallback for a fully dynamic input
		m.InputWidth, m.InputHeight = 640, 640
	}
	m.Pre.AutoOrient = pre.AutoOrient != nil && pre.AutoOrient.Enabled
	if c := pre.StaticCrop; c != nil && c.Enabled {
		m.Pre.StaticCrop = &StaticCrop{XMin: c.XMin, YMin: c.YMin, XMax: c.XMax, YMax: c.YMax}
	}
	if c := pre.Contrast; c != nil && c.Enabled {
		m.Pre.Contrast = c.Type
		if c.Type != "Contrast Stretching" && c.Type != "Histogram Equalization" && c.Type != "Adaptive Equalization" {
			m.Warnings = append(m.Warnings, fmt.Sprintf("environment.json asks for contrast adjustment %q, which trtserve does not apply: predictions may differ from Roboflow's", c.Type))
		}
	}
	m.Pre.Grayscale = pre.Grayscale != nil && pre.Grayscale.Enabled
	m.Colors = env.Colors
	m.Multiclass = env.Multiclass
	if data, err := os.ReadFile(filepath.Join(m.Dir, "class_names.txt")); err == nil {
		for _, line := range strings.Split(strings.TrimRight(string(data), "\r\n"), "\n") {
			m.ClassNames = append(m.ClassNames, strings.TrimRight(line, "\r"))
		}
	} else if len(env.ClassMap) > 0 {
		m.ClassNames = make([]string, len(env.ClassMap))
		for k, v := range env.ClassMap {
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(env.ClassMap) {
				return fmt.Errorf("%w: environment.json CLASS_MAP key %q", ErrBadModel, k)
			}
			m.ClassNames[i] = v
		}
	}
	if data, err := os.ReadFile(filepath.Join(m.Dir, "keypoints_metadata.json")); err == nil {
		names, err := parseKeypointsMetadata(data)
		if err != nil {
			return err
		}
		m.KeypointNames = names
	}
	m.Pre.Mean, m.Pre.Std = taskNormalization(m.Task)
	return nil
}

// parseKeypointsMetadata reads Roboflow's keypoints_metadata.json: a list of
// {"object_class_id": n, "keypoints": {"0": "nose", ...}}; trtserve serves
// one keypoint skeleton per model, the first entry's.
func parseKeypointsMetadata(data []byte) ([]string, error) {
	var entries []struct {
		Keypoints map[string]string `json:"keypoints"`
	}
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("%w: keypoints_metadata.json: %v", ErrBadModel, err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	kp := entries[0].Keypoints
	out := make([]string, len(kp))
	for k, v := range kp {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(kp) {
			return nil, fmt.Errorf("%w: keypoints_metadata.json key %q", ErrBadModel, k)
		}
		out[i] = v
	}
	return out, nil
}

// EngineFile is the prebuilt TensorRT engine in a version folder
// (model.engine, or model.plan as Triton names it), or "".
func EngineFile(dir string) string {
	for _, n := range []string{"model.engine", "model.plan"} {
		if p := filepath.Join(dir, n); fileExists(p) {
			return p
		}
	}
	return ""
}

// resolveEngine resolves a version folder holding only a TensorRT engine:
// nothing in the file says what the model is, so config.yaml must give the
// task and input size, and only the tensorrt backend can run it.
func (r *Repository) resolveEngine(e Entry, override []byte) (*Model, error) {
	m := &Model{
		Name: e.Name, Version: e.Version, Dir: e.Dir, File: e.File, Source: e.Source,
		Backend: "tensorrt", NMS: "roboflow", OutputLayout: "yolov8",
		InstanceCount: r.Defaults.InstanceCount, MaxBatchSize: r.Defaults.MaxBatchSize,
	}
	cfgPath := e.ConfigPath()
	data, err := os.ReadFile(cfgPath)
	if override != nil {
		data, err = override, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %s holds only a TensorRT engine, so %s must say its task and input size", ErrBadModel, e.ID(), filepath.Base(e.File), cfgPath)
	}
	fc, err := ParseFileConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.ID(), err)
	}
	if err := applyFileConfig(m, fc); err != nil {
		return nil, fmt.Errorf("%s: %w", e.ID(), err)
	}
	if m.Backend != "tensorrt" {
		return nil, fmt.Errorf("%w: %s: %s is a TensorRT engine; backend %q cannot run it", ErrBadModel, e.ID(), filepath.Base(e.File), m.Backend)
	}
	if m.Task == "" || m.InputWidth <= 0 || m.InputHeight <= 0 {
		return nil, fmt.Errorf("%w: %s: set task, input_width and input_height in %s (an engine file carries no metadata)", ErrBadModel, e.ID(), cfgPath)
	}
	if m.Pre.Std == ([3]float32{}) {
		m.Pre.Std = [3]float32{1, 1, 1}
	}
	m.MaxBatchSize = max(m.MaxBatchSize, 1)
	m.InstanceCount = max(m.InstanceCount, 1)
	return m, nil
}
