package calib

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadTrajectory(t *testing.T) {
	got, err := ReadTrajectory(filepath.Join("testdata", "train.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// train/eval lines and the reg line without sigma (step 120) are skipped.
	want := Trajectory{
		{Step: 0, Epoch: 0, Sigma: map[string]float64{"/conv1/BatchNorm:noise": 0.1, "/layer1/bn1/BatchNorm:noise": 0.1}},
		{Step: 50, Epoch: 0, Sigma: map[string]float64{"/conv1/BatchNorm:noise": 0.131, "/layer1/bn1/BatchNorm:noise": 0.092}},
		{Step: 100, Epoch: 1, Sigma: map[string]float64{"/conv1/BatchNorm:noise": 0.164, "/layer1/bn1/BatchNorm:noise": 0.085}},
		{Step: 150, Epoch: 2, Sigma: map[string]float64{"/conv1/BatchNorm:noise": 0.18}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if names := got.Names(); !reflect.DeepEqual(names, []string{"/conv1/BatchNorm:noise", "/layer1/bn1/BatchNorm:noise"}) {
		t.Errorf("names %q", names)
	}
}

func TestReadTrajectoryErrors(t *testing.T) {
	dir := t.TempDir()
	for _, test := range []struct {
		name, content, contains string
	}{
		{"syntax", "{\"step\": 1, \"kind\": \"reg\", \"sigma\": {\"a\": 1}}\n{\"step\": 2,\n", "line 2"},
		{"array", "[1, 2]\n", "line 1"},
		{"no step", "{\"kind\": \"reg\", \"sigma\": {\"a\": 0.1}}\n", "line 1: reg entry without step"},
		{"sigma type", "{\"step\": 3, \"kind\": \"reg\", \"sigma\": {\"a\": \"x\"}}\n", "line 1"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(test.name, " ", "_")+".jsonl")
		if err := os.WriteFile(path, []byte(test.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := ReadTrajectory(path)
		if err == nil || !strings.HasPrefix(err.Error(), "calib: ") || !strings.Contains(err.Error(), test.contains) {
			t.Errorf("%s: error %v, want one containing %q", test.name, err, test.contains)
		}
	}
	if _, err := ReadTrajectory(filepath.Join(dir, "missing.jsonl")); err == nil {
		t.Error("missing file: no error")
	}
}

func TestShortNames(t *testing.T) {
	for _, tc := range []struct {
		names []string
		want  []string
	}{
		{[]string{"xreg.noise.bn1.BatchNormalization.log_sigma", "xreg.noise.bn2.BatchNormalization.log_sigma"}, []string{"bn1", "bn2"}},
		{[]string{"xreg.noise.layer1.0.bn1.BatchNormalization.log_sigma"}, []string{"layer1.0.bn1"}},
		{[]string{"xreg.noise.bn1.BatchNormalization.sigma", "xreg.noise.bn2.BatchNormalization.sigma"}, []string{"bn1", "bn2"}},
		{[]string{"xreg.augment.rotate.magnitude"}, []string{"rotate"}},
		{[]string{"/bn1:noise"}, []string{"bn1:noise"}},
		// Two names that would shorten alike keep their full form.
		{[]string{"xreg.noise.a.Add.log_sigma", "xreg.noise.a.Mul.log_sigma"}, []string{"xreg.noise.a.Add.log_sigma", "xreg.noise.a.Mul.log_sigma"}},
		// A lower-case last segment is part of the point's name, not an op type.
		{[]string{"xreg.noise.enc.norm.log_sigma"}, []string{"enc.norm"}},
	} {
		got := ShortNames(tc.names)
		for i, n := range tc.names {
			if got[n] != tc.want[i] {
				t.Errorf("ShortNames(%q)[%q] = %q, want %q", tc.names, n, got[n], tc.want[i])
			}
		}
	}
}
