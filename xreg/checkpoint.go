package xreg

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
	"github.com/xreg-onnx/xreg-onnx/internal/optim"
)

// checkpointVersion changes whenever the checkpoint layout does.
const checkpointVersion = 1

// Checkpoint is everything a training run needs to continue exactly where it stopped: the values of
// every initializer the trainer touches (params, regs, running statistics), both optimisers' states
// and the position in the schedule. Randomness is derived from (seed, step), so no generator state is
// stored.
type Checkpoint struct {
	Version int
	// Model is the path of the model the run started from, for the error message on a mismatch.
	Model string
	// Fingerprint identifies the model's graph; resuming on another model is refused.
	Fingerprint string
	Seed        int64
	// Step counts θ updates; Epoch counts completed epochs.
	Step, Epoch int
	// EpochStart is the step at which the epoch in progress began.
	EpochStart int
	// TrainSize is the training-set size in use when the checkpoint was written (it may grow on
	// resume).
	TrainSize int
	Values    map[string][]float32
	Params    optim.State
	Regs      optim.State
	// LogLines is the number of lines the JSONL log had, so a resumed run appends after them.
	LogLines int
}

// SaveCheckpoint writes c to path atomically.
func SaveCheckpoint(path string, c *Checkpoint) error {
	c.Version = checkpointVersion
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return gob.NewEncoder(w).Encode(c)
	})
	if err != nil {
		return fmt.Errorf("xreg: checkpoint: %w", err)
	}
	return nil
}

// ErrNoCheckpoint is returned by LoadCheckpoint when the file does not exist.
var ErrNoCheckpoint = errors.New("no checkpoint")

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("xreg: checkpoint %s: %w", path, ErrNoCheckpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("xreg: checkpoint: %w", err)
	}
	var c Checkpoint
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&c); err != nil {
		return nil, fmt.Errorf("xreg: checkpoint %s is not a readable checkpoint: %v", path, err)
	}
	if c.Version != checkpointVersion {
		return nil, fmt.Errorf("xreg: checkpoint %s has layout version %d, this build reads %d", path, c.Version, checkpointVersion)
	}
	return &c, nil
}
