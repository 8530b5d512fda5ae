package repository

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/trtserve/trtserve/model"
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
// (Roboflow's model cache; yolov5s_weights.onnx for its YOLOv5 models,
// best.onnx for its ResNet and ViT classifiers).
type Repository struct {
	Roots    []string
	Defaults Defaults
}

// Entry is a model version found on disk, before it is resolved.
type Entry struct {
	Name, Version, Dir, File string
	Source                   model.Source
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
					e.File, e.Source = filepath.Join(dir, "model.onnx"), model.SourceRepository
				case fileExists(filepath.Join(dir, "weights.onnx")):
					e.File, e.Source = filepath.Join(dir, "weights.onnx"), model.SourceRoboflow
				case fileExists(filepath.Join(dir, "yolov5s_weights.onnx")): // what inference-core's YOLOv5 classes read
					e.File, e.Source = filepath.Join(dir, "yolov5s_weights.onnx"), model.SourceRoboflow
				case fileExists(filepath.Join(dir, "best.onnx")): // what inference-core's ResNet and ViT classes read
					e.File, e.Source = filepath.Join(dir, "best.onnx"), model.SourceRoboflow
				case EngineFile(dir) != "":
					e.File, e.Source = EngineFile(dir), model.SourceEngine
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
	name, version := model.SplitID(id)
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
	return Entry{}, fmt.Errorf("%w: %s", model.ErrUnknownModel, id)
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
