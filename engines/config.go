package engines

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"

	"github.com/trtserve/trtserve/model"
)

// OtherKeys, embedded with `yaml:",inline"` in a backend's settings struct,
// takes the config.yaml keys that are not that backend's: the repository
// has already decoded and checked them, so DecodeConfig lets them pass.
type OtherKeys map[string]yaml.Node

// DecodeConfig decodes a backend's own keys of spec.Config (config.yaml, or
// a load request's override) into v, a pointer to a struct whose fields
// are those keys and which embeds OtherKeys. Inside the backend's keys
// decoding is strict, as the repository's is for its own: a misspelt
// sub-key is an error, never a silent default. A model without a config
// leaves v as it is.
func DecodeConfig(spec *model.Spec, v any) error {
	if len(spec.Config) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(spec.Config))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: config.yaml: %v", model.ErrBadModel, err)
	}
	return nil
}
