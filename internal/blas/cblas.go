//go:build !purego && cgo

package blas

/*
#cgo LDFLAGS: -lopenblas
void openblas_set_num_threads(int);
*/
import "C"

import (
	"os"

	"gonum.org/v1/netlib/blas/netlib"
	"gorgonia.org/gorgonia"
)

// Name is the BLAS in use: "openblas" in a default (cgo) build.
const Name = "openblas"

func init() {
	if os.Getenv("OPENBLAS_NUM_THREADS") == "" {
		C.openblas_set_num_threads(1)
	}
	gorgonia.Use(netlib.Implementation{})
}
