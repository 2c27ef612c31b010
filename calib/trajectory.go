package calib

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
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
	return readTrajectory(f, path)
}

// ReadTrajectoryFrom is ReadTrajectory on a log held in memory (or any reader).
func ReadTrajectoryFrom(r io.Reader) (Trajectory, error) {
	return readTrajectory(r, "log")
}

func readTrajectory(f io.Reader, path string) (Trajectory, error) {
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

// ShortNames maps each σ name to a short label for legends and tables: the injection point of an
// inject parameter or σ key, e.g. "bn1" for "xreg.noise.bn1.BatchNormalization.log_sigma" or
// "….sigma" (the package prefix, the ".log_sigma", ".sigma" or ".magnitude" suffix and a trailing
// op-type segment are dropped). A name whose short form would collide with another's keeps its full form.
func ShortNames(names []string) map[string]string {
	out := make(map[string]string, len(names))
	count := map[string]int{}
	for _, n := range names {
		s := shortName(n)
		out[n] = s
		count[s]++
	}
	for _, n := range names {
		if count[out[n]] > 1 {
			out[n] = n
		}
	}
	return out
}

func shortName(n string) string {
	s := n
	for _, p := range []string{"xreg.noise.", "xreg.augment.", "xreg.norm."} {
		s = strings.TrimPrefix(s, p)
	}
	for _, p := range []string{".log_sigma", ".sigma", ".magnitude", ".log_rho"} {
		s = strings.TrimSuffix(s, p)
	}
	// "bn1.BatchNormalization" → "bn1": exporters name nodes "/bn1/BatchNormalization", which
	// inject turns into dotted segments; the op type adds nothing to the point's name.
	if i := strings.LastIndexByte(s, '.'); i > 0 && isOpType(s[i+1:]) {
		s = s[:i]
	}
	s = strings.Trim(s, "./_")
	if s == "" {
		return n
	}
	if strings.HasPrefix(n, "xreg.norm.") { // a learned weight norm ρ
		return "ρ " + s
	}
	return s
}

// isOpType reports whether s looks like an ONNX op type: a capitalised identifier.
func isOpType(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
