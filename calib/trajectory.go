package calib

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

// TrajectoryPoint is the value of every noise scale σ at one training step.
type TrajectoryPoint struct {
	Step  int                `json:"step"`
	Epoch int                `json:"epoch"`
	Sigma map[string]float64 `json:"sigma"` // σ by name
}

// Trajectory is a series of TrajectoryPoints in training order.
type Trajectory []TrajectoryPoint

// Names returns the sorted names of every σ that appears in t.
func (t Trajectory) Names() []string {
	seen := map[string]bool{}
	for _, p := range t {
		for name := range p.Sigma {
			seen[name] = true
		}
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ReadTrajectory reads the σ trajectory from a JSON Lines training log.
// Each line is an object; lines whose "kind" is "reg" and which carry a
// non-empty "sigma" object become points, for example
//
//	{"step": 120, "epoch": 2, "kind": "reg", "sigma": {"/conv1/BatchNorm:noise": 0.131}, "reg_nll": 0.52}
//
// Lines of other kinds, blank lines and unknown fields are ignored. A line
// that is not a JSON object, or a reg line without "step", is an error
// naming the line.
func ReadTrajectory(path string) (Trajectory, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("calib: trajectory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	var t Trajectory
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec struct {
			Step  *int               `json:"step"`
			Epoch int                `json:"epoch"`
			Kind  string             `json:"kind"`
			Sigma map[string]float64 `json:"sigma"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("calib: trajectory %s line %d: %w", path, line, err)
		}
		if rec.Kind != "reg" || len(rec.Sigma) == 0 {
			continue
		}
		if rec.Step == nil {
			return nil, fmt.Errorf("calib: trajectory %s line %d: reg entry without step", path, line)
		}
		t = append(t, TrajectoryPoint{Step: *rec.Step, Epoch: rec.Epoch, Sigma: rec.Sigma})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("calib: trajectory %s: %w", path, err)
	}
	return t, nil
}
