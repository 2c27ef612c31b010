package xreg

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/xreg-onnx/xreg-onnx/dataset"
	"github.com/xreg-onnx/xreg-onnx/onnximport"
)

// MetadataTrainPrefix starts every provenance key WriteResult records.
const MetadataTrainPrefix = "xreg.train."

// provenance returns the metadata that describes a finished run.
func provenance(m *onnximport.Model, train, reg *dataset.Set, cfg TrainConfig, res *TrainResult) map[string]string {
	p := MetadataTrainPrefix
	prov := map[string]string{
		p + "model":       filepath.Base(m.Path),
		p + "data":        train.Source,
		p + "train_size":  strconv.Itoa(train.Len()),
		p + "reg_data":    reg.Source,
		p + "reg_size":    strconv.Itoa(reg.Len()),
		p + "epochs":      strconv.Itoa(res.Epochs),
		p + "steps":       strconv.Itoa(res.Steps),
		p + "regs":        string(cfg.Regs),
		p + "mc":          strconv.Itoa(cfg.MC),
		p + "reg_every":   strconv.Itoa(cfg.RegEvery),
		p + "lr":          fmt.Sprint(cfg.LR),
		p + "reg_lr":      fmt.Sprint(cfg.RegLR),
		p + "batch_size":  strconv.Itoa(cfg.BatchSize),
		p + "seed":        strconv.FormatInt(cfg.Seed, 10),
		p + "finished_at": time.Now().UTC().Format(time.RFC3339),
	}
	if cfg.Version != "" {
		prov[p+"version"] = cfg.Version
	}
	if len(res.History) > 0 {
		for name, s := range res.History[len(res.History)-1].Sigma {
			prov[p+strings.TrimPrefix(name, "xreg.")] = strconv.FormatFloat(s, 'g', 6, 64) // xreg.train.noise.<point>.sigma
		}
	}
	return prov
}

// WriteResult writes a finished run into m: the trained values (WriteBack) and the run's
// provenance metadata, in key order.
func WriteResult(m *onnximport.Model, res *TrainResult) error {
	if err := WriteBack(m, res.Values); err != nil {
		return err
	}
	keys := make([]string, 0, len(res.Provenance))
	for k := range res.Provenance {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		m.SetMetadata(k, res.Provenance[k])
	}
	return nil
}
