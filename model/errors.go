package model

import "errors"

// Sentinel errors about models themselves, whoever finds them: the
// repository resolving a folder, a backend loading weights, a task checking
// outputs. Callers map them to user-facing statuses (404, 400).
var (
	ErrUnknownModel = errors.New("unknown model")
	ErrBadModel     = errors.New("invalid model")
)
