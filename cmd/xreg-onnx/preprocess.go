package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/xreg-onnx/xreg-onnx/onnximport"
	"github.com/xreg-onnx/xreg-onnx/preprocess"
)

// maxImageSide bounds --resize and --crop.
const maxImageSide = 1 << 14

// preprocessFlags are the image preprocessing flags of train, finetune, report, predict and serve.
func preprocessFlags(recorded string) []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "resize", Usage: "images: scale the shorter side to `N` pixels (aspect kept) before the crop; 0: scale straight to the model's size" + recorded},
		&cli.IntFlag{Name: "crop", Usage: "images: center-crop `N`×N after --resize (0: to the model's height × width)" + recorded},
		&cli.StringFlag{Name: "mean", Usage: "images: subtract these per-channel `VALUES` (comma-separated, e.g. 0.485,0.456,0.406) after scaling to [0, 1]" + recorded},
		&cli.StringFlag{Name: "std", Usage: "images: divide by these per-channel `VALUES` (e.g. 0.229,0.224,0.225) after --mean" + recorded},
		&cli.StringFlag{Name: "channel-order", Usage: "images: `ORDER` of the colour channels, rgb or bgr" + recorded},
		&cli.StringFlag{Name: "layout", Usage: "images: `LAYOUT` of the model input, nchw or nhwc" + recorded},
	}
}

// preprocessFlagNames are the preprocessing flags, in preprocessFlags' order.
var preprocessFlagNames = []string{"resize", "crop", "mean", "std", "channel-order", "layout"}

// preprocessSet reports whether any preprocessing flag is given.
func preprocessSet(c *cli.Context) bool {
	for _, f := range preprocessFlagNames {
		if c.IsSet(f) {
			return true
		}
	}
	return false
}

// preprocessSpec returns the preprocessing of images for model: the spec recorded in the model's
// metadata (preprocess.MetadataKey) with the fields whose flags are given replaced by the flags
// (a flag that changes a recorded value is reported on the command's error writer: nothing is
// replaced silently), the flags' spec alone when the model records none, or nil when there is
// neither (images scaled straight to the model's size, [0, 1], RGB, NCHW). loaded, when not nil, is
// the model already read from that file: its metadata is used instead of reading the file again
// (537 MB for vgg16-bn).
func preprocessSpec(c *cli.Context, cmd, model string, loaded *onnximport.Model) (*preprocess.Spec, error) {
	recorded, err := recordedPreprocess(cmd, model, loaded)
	if err != nil {
		return nil, err
	}
	if !preprocessSet(c) {
		return recorded, nil
	}
	return preprocessFlagSpec(c, cmd, model, recorded)
}

// recordedPreprocess returns the spec model records, nil when it records none (or cannot be read:
// the command's own open of the model reports that).
func recordedPreprocess(cmd, model string, loaded *onnximport.Model) (*preprocess.Spec, error) {
	if loaded != nil {
		v, ok := loaded.Metadata(preprocess.MetadataKey)
		if !ok {
			return nil, nil
		}
		s, err := preprocess.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("%s: --model: %s: %w", cmd, model, err) // as FromModelFile's
		}
		return &s, nil
	}
	if _, err := os.Stat(model); err != nil {
		return nil, nil
	}
	s, ok, err := preprocess.FromModelFile(model)
	if err != nil {
		return nil, fmt.Errorf("%s: --model: %w", cmd, err)
	}
	if !ok {
		return nil, nil
	}
	return &s, nil
}

// preprocessFlagSpec returns recorded (the spec the model records, nil: none) with the fields whose
// flags are given replaced, validated; nil when no flag is given. An error names the flag. Each
// flag that changes a recorded value is reported on the error writer, naming model.
func preprocessFlagSpec(c *cli.Context, cmd, model string, recorded *preprocess.Spec) (*preprocess.Spec, error) {
	if !preprocessSet(c) {
		return nil, nil
	}
	var s preprocess.Spec
	if recorded != nil {
		s = *recorded
	}
	var err error
	set := func(flag string, apply func()) {
		if c.IsSet(flag) {
			apply()
		}
	}
	set("resize", func() { s.Resize = c.Int("resize") })
	set("crop", func() { s.Crop = c.Int("crop") })
	set("channel-order", func() { s.ChannelOrder = c.String("channel-order") })
	set("layout", func() { s.Layout = c.String("layout") })
	if c.IsSet("mean") {
		if s.Mean, err = preprocess.ParseList("--mean", c.String("mean")); err != nil {
			return nil, fmt.Errorf("%s: %w", cmd, err)
		}
	}
	if c.IsSet("std") {
		if s.Std, err = preprocess.ParseList("--std", c.String("std")); err != nil {
			return nil, fmt.Errorf("%s: %w", cmd, err)
		}
	}
	if err := s.Validate(); err != nil {
		return nil, preprocessError(cmd, err)
	}
	if recorded != nil && s.Marshal() != recorded.Marshal() {
		// The flags whose step differs from the record (a flag repeating a recorded value is not named).
		changedFlag := map[string]bool{}
		got, rec := reflect.ValueOf(s), reflect.ValueOf(*recorded)
		for field, flag := range preprocessFieldFlags {
			changedFlag[flag] = !reflect.DeepEqual(got.FieldByName(field).Interface(), rec.FieldByName(field).Interface())
		}
		var changed []string
		for _, f := range preprocessFlagNames {
			if changedFlag[f] {
				changed = append(changed, "--"+f)
			}
		}
		verb := "replaces"
		if len(changed) > 1 {
			verb = "replace"
		}
		fmt.Fprintf(c.App.ErrWriter, "%s: %s %s part of the preprocessing %s records (%s); using: %s\n",
			cmd, strings.Join(changed, ", "), verb, model, recorded, s)
	}
	return &s, nil
}

// preprocessFieldFlags maps preprocess.Spec fields to their flags.
var preprocessFieldFlags = map[string]string{
	"Resize": "resize", "Crop": "crop", "ChannelOrder": "channel-order", "Layout": "layout", "Mean": "mean", "Std": "std",
}

// preprocessError maps a *preprocess.SpecError to the flag that set the field, after cmd; other
// errors get cmd as their prefix.
func preprocessError(cmd string, err error) error {
	var se *preprocess.SpecError
	if !errors.As(err, &se) {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	flag, ok := preprocessFieldFlags[se.Field]
	if !ok {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	switch v := se.Value.(type) {
	case string:
		return fmt.Errorf("%s: --%s %q: %w", cmd, flag, v, se.Err)
	case []float64: // as given: comma-separated
		vals := make([]string, len(v))
		for i, x := range v {
			vals[i] = strconv.FormatFloat(x, 'g', -1, 64)
		}
		return fmt.Errorf("%s: --%s %s: %w", cmd, flag, strings.Join(vals, ","), se.Err)
	}
	return fmt.Errorf("%s: --%s %v: %w", cmd, flag, se.Value, se.Err)
}
