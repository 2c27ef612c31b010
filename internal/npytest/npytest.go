package npytest

import (
	"bufio"
	"fmt"
	"os"

	"github.com/sbinet/npyio"
)

// Read returns the elements (C order) and the shape of a float32 .npy file.
func Read(path string) (data []float32, shape []int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r, err := npyio.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Header.Descr.Fortran {
		return nil, nil, fmt.Errorf("%s: Fortran-ordered arrays are not supported", path)
	}
	if err := r.Read(&data); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, append([]int(nil), r.Header.Descr.Shape...), nil
}
