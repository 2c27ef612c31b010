package finetune

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/inject"
	"github.com/xreg-onnx/xreg-onnx/internal/ort"
)

// contextInfo is what Run learned along the way, for the report's context.
type contextInfo struct {
	hash        string
	size        int
	shape       []int
	classes     int
	injected    *inject.Report
	train, reg  *dataset.Set
	test        *dataset.Set
	runs        []*run
	evalSeconds float64
	start       time.Time
	pre         preprocessing
}

// context returns the report's context: model, data, settings, time and machine.
func (cfg *Config) context(ci contextInfo) []calib.Section {
	f := func(k, format string, a ...any) calib.Field {
		return calib.Field{Key: k, Value: fmt.Sprintf(format, a...)}
	}
	var points []string
	for _, r := range ci.injected.Regs {
		points = append(points, r.Point)
	}
	model := calib.Section{Title: "Model", Fields: []calib.Field{
		f("file", "%s", cfg.Model),
		f("sha256", "%s", ci.hash),
		f("size", "%d bytes", ci.size),
		f("input", "%v per example", ci.shape),
		f("classes", "%d", ci.classes),
		f("noise points", "%d: %s", len(points), strings.Join(points, ", ")),
	}}
	regFrom := cfg.RegData.Path
	if regFrom == "" {
		regFrom = fmt.Sprintf("%.3g of the training data, carved with seed %d", cfg.RegFraction, cfg.Training.Seed)
	}
	data := calib.Section{Title: "Data", Fields: []calib.Field{
		f("training set (θ)", "%d examples: %s%s", ci.train.Len(), cfg.TrainData.Path, limitText(cfg.TrainData.Limit)),
		f("regularization set (φ, T, choice)", "%d examples: %s%s", ci.reg.Len(), regFrom, limitText(cfg.RegData.Limit)),
		f("test set (measurement only)", "%d examples: %s%s", ci.test.Len(), cfg.TestData.Path, limitText(cfg.TestData.Limit)),
		f("classes", "%d", ci.classes),
	}}
	if s := ci.pre.spec; s != nil {
		from := "recorded in the input model"
		if ci.pre.given {
			from = "given"
		}
		data.Fields = append(data.Fields, f("image preprocessing (every set, recorded in every model written)", "%s (%s)", s, from))
	}
	t := cfg.Training
	io := cfg.Inject
	sigma0 := io.Sigma0
	if sigma0 == 0 {
		sigma0 = inject.DefaultSigma0
	}
	mode, gran := io.Mode, io.Granularity
	if mode == "" {
		mode = inject.Additive
	}
	if gran == "" {
		gran = inject.Layer
	}
	settings := calib.Section{Title: "Settings", Fields: []calib.Field{
		f("epochs (every run)", "%d", t.Epochs),
		f("batch size", "%d", t.BatchSize),
		f("θ optimizer", "Adam lr %g, β1 %g, β2 %g, weight decay %g, clip norm %g, label smoothing %g", t.LR, t.Beta1, t.Beta2, t.WeightDecay, t.ClipNorm, t.LabelSmoothing),
		f("noise", "%s, one σ per %s, σ0 = %.4g, %s", mode, gran, sigma0, placement(io.Placement, io.At)),
		f("K (Monte-Carlo passes per φ step)", "%d", t.MC),
		f("r (θ steps per φ step)", "%d", t.RegEvery),
		f("φ optimizer", "%s lr %g, regularization batch %d, BatchNorm %s", t.RegOptimizer, t.RegLR, t.RegBatch, t.RegBatchNorm),
		f("freeze", "%s (also trainable: %s)", orNone(t.Freeze), orNone(t.Trainable)),
		f("seed", "%d", t.Seed),
		f("baseline", "%s", cfg.Baseline),
		f("Monte-Carlo export", "%s", mcText(cfg.ExportMC)),
		f("recommendation tolerance", "%g NLL", cfg.Tolerance),
		f("ECE bins", "%d", cfg.Bins),
	}}
	if len(io.Augment) > 0 {
		settings.Fields = append(settings.Fields, f("augmentation", "%s", strings.Join(io.Augment, ", ")))
	}
	times := calib.Section{Title: "Time"}
	for _, r := range ci.runs {
		extra := ""
		if r.regs != "off" {
			extra = fmt.Sprintf(", of which %.1f s on φ updates", r.res.RegSeconds)
		}
		times.Fields = append(times.Fields, f(r.name+" training", "%.1f s (%d steps%s)", r.seconds, r.res.Steps, extra))
	}
	times.Fields = append(times.Fields,
		f("exports and measurement", "%.1f s", ci.evalSeconds),
		f("total", "%.1f s", time.Since(ci.start).Seconds()),
		f("started", "%s", ci.start.UTC().Format("2006-01-02 15:04:05 UTC")))
	return []calib.Section{model, data, settings, times, cfg.machine()}
}

// machine describes where the run happened.
func (cfg *Config) machine() calib.Section {
	f := func(k, format string, a ...any) calib.Field {
		return calib.Field{Key: k, Value: fmt.Sprintf(format, a...)}
	}
	host, _ := os.Hostname()
	fields := []calib.Field{
		f("CPU", "%s", cpuModel()),
		f("cores", "%d (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0)),
		f("system", "%s/%s, host %s", runtime.GOOS, runtime.GOARCH, orNone(host)),
		f("Go", "%s", runtime.Version()),
		f("onnxruntime", "%s (%s)", orNone(ort.Version()), orNone(ort.LibraryPath())),
	}
	if cfg.Version != "" {
		fields = append(fields, f("xreg-onnx", "%s", cfg.Version))
	}
	if cfg.Build != "" {
		fields = append(fields, f("build", "%s", cfg.Build))
	}
	return calib.Section{Title: "Machine", Fields: fields}
}

// cpuModel returns the CPU's model name from /proc/cpuinfo, or "unknown".
func cpuModel() string {
	fh, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func limitText(n int) string {
	if n > 0 {
		return fmt.Sprintf(" (first %d)", n)
	}
	return ""
}

func mcText(k int) string {
	if k <= 0 {
		return "none"
	}
	return fmt.Sprintf("%d frozen draws", k)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// placement says where the noise goes.
func placement(p, at string) string {
	if at != "" {
		return "after the nodes matching " + at
	}
	if p == "" {
		p = inject.DefaultPlacement
	}
	return p + " of every normalization node"
}
