package finetune

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/xreg-onnx/xreg-onnx/calib"
	"github.com/xreg-onnx/xreg-onnx/internal/atomicfile"
)

// checkOut refuses an output folder that exists (unless force), is not a folder, or holds one of
// the inputs (replacing it would delete them).
// OutputExistsError is an output folder that exists while Config.Force is off. The CLI names its
// flags.
type OutputExistsError struct{ Out string }

func (e *OutputExistsError) Error() string {
	return fmt.Sprintf("output folder %s exists; set Config.Force to replace it or choose another Config.Out", e.Out)
}

func checkOut(out string, force bool, inputs ...string) error {
	st, err := os.Stat(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("output folder: %w", err)
	case !st.IsDir():
		return fmt.Errorf("output %s exists and is not a folder", out)
	case !force:
		return &OutputExistsError{Out: out}
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	for _, in := range inputs {
		if in == "" {
			continue
		}
		abs, err := filepath.Abs(in)
		if err != nil {
			return fmt.Errorf("output folder: %w", err)
		}
		if abs == absOut || strings.HasPrefix(abs, absOut+string(filepath.Separator)) {
			return fmt.Errorf("output folder %s holds the input %s; replacing it would delete the input, choose another folder with -o", out, in)
		}
	}
	return nil
}

// write builds the output folder beside cfg.Out and renames it into place; an existing folder
// (allowed by Force) is replaced only once the new one is complete.
func (cfg *Config) write(rep *calib.Report, cands []*candidate, runs []*run) (err error) {
	parent := filepath.Dir(filepath.Clean(cfg.Out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(cfg.Out)+".tmp-")
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	for _, dir := range []string{"models", "logs"} {
		if err := os.Mkdir(filepath.Join(tmp, dir), 0o755); err != nil {
			return fmt.Errorf("finetune: %w", err)
		}
	}
	for _, c := range cands {
		if c.file == "" {
			continue
		}
		if err := atomicfile.WriteFile(filepath.Join(tmp, c.file), c.data, 0o644); err != nil {
			return fmt.Errorf("finetune: %w", err)
		}
	}
	for _, r := range runs {
		base := strings.NewReplacer("σ=", "sigma-", " ", "-").Replace(r.name)
		if err := atomicfile.WriteFile(filepath.Join(tmp, "logs", base+".log.jsonl"), r.log.Bytes(), 0o644); err != nil {
			return fmt.Errorf("finetune: %w", err)
		}
		if r.name == "xreg" {
			if err := r.model.Save(filepath.Join(tmp, "models", "xreg.trained.onnx")); err != nil {
				return fmt.Errorf("finetune: %w", err)
			}
		}
	}
	if err := calib.WriteReport(tmp, rep); err != nil {
		return err
	}
	old := ""
	if _, err := os.Stat(cfg.Out); err == nil {
		old = tmp + ".old"
		if err := os.Rename(cfg.Out, old); err != nil {
			return fmt.Errorf("finetune: replacing %s: %w", cfg.Out, err)
		}
	}
	if err := os.Rename(tmp, cfg.Out); err != nil {
		if old != "" {
			_ = os.Rename(old, cfg.Out)
		}
		return fmt.Errorf("finetune: %w", err)
	}
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("finetune: removing the replaced %s: %w", old, err)
		}
	}
	return nil
}
