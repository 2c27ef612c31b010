package xreg

import (
	"bufio"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
	"github.com/xreg-onnx/xreg-onnx/internal/optim"
)

// checkpointVersion changes whenever the checkpoint layout does.
const checkpointVersion = 2

// checkpointMagic starts every checkpoint file.
const checkpointMagic = "XREGCKPT"

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

// ckHeader is the checkpoint file's header (gob), followed by the arrays it lists, in its order,
// as raw little-endian float32.
type ckHeader struct {
	Version                                      int
	Model, Fingerprint                           string
	Seed                                         int64
	Step, Epoch, EpochStart, TrainSize, LogLines int
	ParamsKind, RegsKind                         string
	ParamsSteps, RegsSteps                       int64
	Arrays                                       []ckArray
}

// ckArray names one array of the file: Section 'v' (Values), 'p' (Params slots) or 'r' (Regs
// slots), its name in that map and its length.
type ckArray struct {
	Section byte
	Name    string
	Len     int
}

// ckSections lists the checkpoint's maps in file order.
func (c *Checkpoint) ckSections() []struct {
	id byte
	m  map[string][]float32
} {
	return []struct {
		id byte
		m  map[string][]float32
	}{{'v', c.Values}, {'p', c.Params.Slots}, {'r', c.Regs.Slots}}
}

// SaveCheckpoint writes c to path atomically. The arrays are streamed from c's slices through a
// small buffer, never copied whole, so writing the checkpoint of a large model costs no memory of
// the model's size (the trainer passes its live values and optimiser state).
func SaveCheckpoint(path string, c *Checkpoint) error {
	c.Version = checkpointVersion
	h := ckHeader{Version: c.Version, Model: c.Model, Fingerprint: c.Fingerprint, Seed: c.Seed, Step: c.Step,
		Epoch: c.Epoch, EpochStart: c.EpochStart, TrainSize: c.TrainSize, LogLines: c.LogLines,
		ParamsKind: c.Params.Kind, ParamsSteps: c.Params.Steps, RegsKind: c.Regs.Kind, RegsSteps: c.Regs.Steps}
	var data [][]float32
	for _, sec := range c.ckSections() {
		names := make([]string, 0, len(sec.m))
		for k := range sec.m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			h.Arrays = append(h.Arrays, ckArray{Section: sec.id, Name: k, Len: len(sec.m[k])})
			data = append(data, sec.m[k])
		}
	}
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		bw := bufio.NewWriterSize(w, 1<<16)
		if _, err := bw.WriteString(checkpointMagic); err != nil {
			return err
		}
		if err := gob.NewEncoder(bw).Encode(&h); err != nil {
			return err
		}
		var buf [1 << 14]byte
		for _, a := range data {
			for len(a) > 0 {
				n := min(len(a), len(buf)/4)
				for i, v := range a[:n] {
					binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
				}
				if _, err := bw.Write(buf[:4*n]); err != nil {
					return err
				}
				a = a[n:]
			}
		}
		return bw.Flush()
	})
	if err != nil {
		return fmt.Errorf("xreg: checkpoint: %w", err)
	}
	return nil
}

// ErrNoCheckpoint is returned by LoadCheckpoint when the file does not exist.
var ErrNoCheckpoint = errors.New("no checkpoint")

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint, streaming the arrays into their
// slices.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("xreg: checkpoint %s: %w", path, ErrNoCheckpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("xreg: checkpoint: %w", err)
	}
	defer f.Close()
	c, err := readCheckpoint(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("xreg: checkpoint %s is not a readable checkpoint: %v", path, err)
	}
	if c.Version != checkpointVersion {
		return nil, fmt.Errorf("xreg: checkpoint %s has layout version %d, this build reads %d", path, c.Version, checkpointVersion)
	}
	return c, nil
}

func readCheckpoint(r *bufio.Reader) (*Checkpoint, error) {
	magic := make([]byte, len(checkpointMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != checkpointMagic {
		return nil, fmt.Errorf("no %s header (a layout older than version %d, or another file)", checkpointMagic, checkpointVersion)
	}
	var h ckHeader
	if err := gob.NewDecoder(r).Decode(&h); err != nil {
		return nil, err
	}
	c := &Checkpoint{Version: h.Version, Model: h.Model, Fingerprint: h.Fingerprint, Seed: h.Seed, Step: h.Step,
		Epoch: h.Epoch, EpochStart: h.EpochStart, TrainSize: h.TrainSize, LogLines: h.LogLines,
		Values: map[string][]float32{},
		Params: optim.State{Kind: h.ParamsKind, Steps: h.ParamsSteps, Slots: map[string][]float32{}},
		Regs:   optim.State{Kind: h.RegsKind, Steps: h.RegsSteps, Slots: map[string][]float32{}}}
	maps := map[byte]map[string][]float32{'v': c.Values, 'p': c.Params.Slots, 'r': c.Regs.Slots}
	var buf [1 << 14]byte
	for _, a := range h.Arrays {
		m, ok := maps[a.Section]
		if !ok || a.Len < 0 {
			return nil, fmt.Errorf("array %q: bad header entry", a.Name)
		}
		out := make([]float32, a.Len)
		for done := 0; done < a.Len; {
			n := min(a.Len-done, len(buf)/4)
			if _, err := io.ReadFull(r, buf[:4*n]); err != nil {
				return nil, fmt.Errorf("array %q: %v (truncated?)", a.Name, err)
			}
			for i := range n {
				out[done+i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
			}
			done += n
		}
		m[a.Name] = out
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, errors.New("trailing data after the last array")
	}
	return c, nil
}
