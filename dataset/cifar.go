package dataset

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// A CIFAR-10 binary record is one label byte followed by a 3×32×32 image, channel by channel,
// each channel row by row.
const (
	cifarPixels  = 3 * 32 * 32
	cifarRecord  = 1 + cifarPixels
	cifarClasses = 10
)

// cifarBatches returns the data_batch_N.bin files of dir in numeric order, or nil when it has
// none.
func cifarBatches(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "data_batch_*.bin"))
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", dir, err)
	}
	num := func(f string) int {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "data_batch_"), ".bin"))
		if err != nil {
			return -1
		}
		return n
	}
	slices.SortFunc(files, func(a, b string) int {
		if c := num(a) - num(b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return files, nil
}

// loadCIFAR reads and concatenates CIFAR-10 binary batch files.
func loadCIFAR(name string, files []string) (*raw, error) {
	r := &raw{shape: []int{3, 32, 32}, xName: name, yName: name, classes: cifarClasses}
	for _, f := range files {
		b, err := readAll(f)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 || len(b)%cifarRecord != 0 {
			return nil, fmt.Errorf("dataset: %s: %d bytes is not a whole number of CIFAR-10 records (%d bytes each: 1 label + 3×32×32 pixels); truncated?",
				f, len(b), cifarRecord)
		}
		n := len(b) / cifarRecord
		r.x = slices.Grow(r.x, n*cifarPixels)
		for i := range n {
			rec := b[i*cifarRecord : (i+1)*cifarRecord]
			if rec[0] >= cifarClasses {
				return nil, fmt.Errorf("dataset: %s: label %d at row %d out of range [0,%d)", f, rec[0], i, cifarClasses)
			}
			r.y = append(r.y, int(rec[0]))
			for _, v := range rec[1:] {
				r.x = append(r.x, unitBytes[v])
			}
		}
	}
	return r, nil
}

// readAll reads a whole (possibly gzipped) file.
func readAll(path string) ([]byte, error) {
	src, err := open(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	b, err := io.ReadAll(src.r)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", path, err)
	}
	return b, nil
}
