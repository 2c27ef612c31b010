package inject_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestDryRunGolden compares the table of injection points of cnn-bn (what `xreg-onnx inject
// --dry-run` prints) with testdata/*.golden; regenerate them with -update. It also checks that Plan
// changes nothing and reports exactly what Apply then does.
func TestDryRunGolden(t *testing.T) {
	for _, tc := range []struct {
		golden string
		opt    inject.Options
	}{
		{"cnn-bn.dryrun.golden", inject.Options{}},
		{"cnn-bn.channel-augment.dryrun.golden", inject.Options{Granularity: inject.Channel, Mode: inject.Multiplicative,
			Augment: []string{"translate", "rotate"}}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			m, err := onnximport.Load("../testdata/models/cnn-bn.onnx")
			if err != nil {
				t.Fatal(err)
			}
			before, _ := m.Marshal()
			plan, err := inject.Plan(m, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := m.Marshal(); !bytes.Equal(before, after) {
				t.Error("Plan changed the model")
			}
			var buf bytes.Buffer
			if err := plan.WriteTable(&buf); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("table differs from %s:\n--- got\n%s--- want\n%s", path, buf.Bytes(), want)
			}
			applied, err := inject.Apply(m, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(plan, applied) {
				t.Errorf("Plan reported\n%+v\nApply\n%+v", plan, applied)
			}
		})
	}
}
